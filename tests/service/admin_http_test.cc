// The admin API's HTTP handling over raw sockets on loopback, against the real node: the exact
// status line, headers and JSON error body of each refusal; strict query values, repeated
// parameters, the Bearer scheme's case, and what /readyz shows without a token.
#include <gtest/gtest.h>

#include <regex>

#include "http_client.h"
#include "raw_http.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAdminToken = "admin-token-http-4c2a";
constexpr int kTimeoutS = 2;  // http.timeout_s

std::string sha256_of(const std::string& text) {
  return run_command("printf %s '" + text + "' | sha256sum").output.substr(0, 64);
}

class AdminHttp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    node_ = new NodeHarness;
    node_->config()["http"] = {{"port", free_tcp_port()},
                               {"listen_address", "127.0.0.1"},
                               {"timeout_s", kTimeoutS},
                               {"tokens", json::array({{{"sha256", sha256_of(kAdminToken)}, {"role", "admin"}, {"name", "ops"}}})}};
    node_->start();
  }
  static void TearDownTestSuite() { delete node_; }
  static int port() { return node_->config()["http"]["port"].get<int>(); }

  // A request's head with Host and the admin token; `extra` holds more header lines.
  static std::string head(const std::string& method, const std::string& target, const std::string& extra = "") {
    return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + kAdminToken + "\r\n" + extra + "\r\n";
  }

  // The documented error: "HTTP/1.x <code> <reason>", JSON type and {"error": {code, message}}.
  static void expect_json_error(const RawAnswer& answer, int status, const std::string& code, const std::string& version = "HTTP/1.1") {
    ASSERT_TRUE(answer.connected);
    EXPECT_TRUE(std::regex_match(answer.status_line, std::regex(version + " " + std::to_string(status) + " [A-Z][A-Za-z -]+")))
        << "status line: '" << answer.status_line << "'\n" << answer.bytes.substr(0, 300);
    EXPECT_EQ(answer.status, status) << answer.bytes.substr(0, 300);
    EXPECT_EQ(answer.header("content-type").rfind("application/json", 0), 0u) << answer.bytes.substr(0, 300);
    json body;
    try {
      body = json::parse(answer.body);
    } catch (const std::exception&) {
      ADD_FAILURE() << "not JSON: '" << answer.body << "'";
      return;
    }
    EXPECT_EQ(body["error"]["code"], code) << body.dump();
    EXPECT_TRUE(body["error"]["message"].is_string() && !body["error"]["message"].get<std::string>().empty()) << body.dump();
  }

  static inline NodeHarness* node_ = nullptr;
};

// Item: numeric query values wrapped at 32 bits; now digits only, in range, else 400 naming them.
TEST_F(AdminHttp, NumericQueryValuesAreStrictAndInRange) {
  for (const char* bad : {"offset=4294967297", "offset=2147483648", "offset=1000000001", "offset=-1", "offset=+1", "offset=1e3",
                          "offset=%201", "offset=", "limit=201", "limit=0", "limit=4294967297", "limit=1.0", "limit=0x10"}) {
    const RawAnswer answer = raw_http(port(), head("GET", std::string("/api/v1/jobs?") + bad), {.stop_after_first_answer = true});
    expect_json_error(answer, 400, "bad_request");
    const std::string name = std::string(bad).substr(0, std::string(bad).find('='));
    EXPECT_NE(answer.body.find(name), std::string::npos) << bad << ": " << answer.body;
  }
  const RawAnswer far = raw_http(port(), head("GET", "/api/v1/jobs?offset=1000000000&limit=200"), {.stop_after_first_answer = true});
  ASSERT_EQ(far.status, 200) << far.bytes;
  EXPECT_EQ(json::parse(far.body)["offset"], 1000000000);
}

// Item: a repeated query parameter took its last value; now 400 naming it.
TEST_F(AdminHttp, ARepeatedQueryParameterIsRefused) {
  const RawAnswer answer = raw_http(port(), head("GET", "/api/v1/jobs?limit=1&limit=2"), {.stop_after_first_answer = true});
  expect_json_error(answer, 400, "bad_request");
  EXPECT_NE(answer.body.find("'limit'"), std::string::npos) << answer.body;
}

// Item: the Bearer scheme is case-insensitive (RFC 9110); the token is not.
TEST_F(AdminHttp, TheBearerSchemeIsCaseInsensitiveAndTheTokenIsNot) {
  const std::string token = kAdminToken;
  for (const std::string scheme : {"Bearer", "bearer", "BEARER", "bEaReR"}) {
    const RawAnswer answer = raw_http(port(), "GET /api/v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: " + scheme + " " + token + "\r\n\r\n",
                                      {.stop_after_first_answer = true});
    EXPECT_EQ(answer.status, 200) << scheme << ": " << answer.bytes.substr(0, 300);
  }
  std::string upper = token;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& credentials : std::vector<std::string>{"Bearer " + upper, "Basic " + token, "Bearer", "Bearertoken" + token, token}) {
    const RawAnswer answer = raw_http(port(), "GET /api/v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: " + credentials + "\r\n\r\n",
                                      {.stop_after_first_answer = true});
    expect_json_error(answer, 401, "unauthorized");
  }
}

// Item: /readyz showed the model, device, free disk and port to anyone.
TEST_F(AdminHttp, ReadinessShowsDetailsOnlyWithAToken) {
  const HttpAnswer anonymous = http_call(port(), {"GET", "/readyz"});
  EXPECT_EQ(anonymous.status, 200) << anonymous.body;
  EXPECT_EQ(json::parse(anonymous.body), json({{"ready", true}}));
  const HttpAnswer wrong = http_call(port(), {"GET", "/readyz", "not-the-token"});
  EXPECT_EQ(json::parse(wrong.body), json({{"ready", true}}));
  const HttpAnswer detailed = http_call(port(), {"GET", "/readyz", kAdminToken});
  const json ready = json::parse(detailed.body);
  EXPECT_EQ(ready["ready"], true);
  ASSERT_EQ(ready["checks"].size(), 4u) << ready.dump();
  EXPECT_NE(detailed.body.find("MB free"), std::string::npos);
}

// Item: 405 lacked the Allow header.
TEST_F(AdminHttp, AWrongMethodIs405WithAllow) {
  const RawOptions once{.stop_after_first_answer = true};
  const RawAnswer method = raw_http(port(), head("DELETE", "/api/v1/jobs/1"), once);
  expect_json_error(method, 405, "method_not_allowed");
  EXPECT_EQ(method.header("allow"), "GET, HEAD");
  EXPECT_EQ(raw_http(port(), head("GET", "/api/v1/jobs/1/retry"), once).header("allow"), "POST");
  EXPECT_EQ(raw_http(port(), "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", once).header("allow"), "GET, HEAD");
}

}  // namespace
}  // namespace evax::testing
