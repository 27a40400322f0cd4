// The admin API's HTTP handling over raw sockets on loopback, against the real node: the exact
// status line, headers and JSON error body of every refusal (protocol errors included), bodies
// that never arrive whole running nothing, strict query values, repeated parameters, the
// Bearer scheme's case, and what /readyz shows without a token.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "http_client.h"
#include "raw_http.h"
#include "service_test_support.h"

namespace evax::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAdminToken = "admin-token-http-4c2a";
constexpr int kTimeoutS = 2;  // http.timeout_s: short, so that waits for missing bytes stay short

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
  // How many audit records an admin action on a job left (any outcome: it ran).
  static int job_actions_audited() {
    std::ifstream in(node_->data_dir() / "audit.log");
    int count = 0;
    for (std::string line; std::getline(in, line);) count += line.find("\"retry job\"") != std::string::npos;
    return count;
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

// Item: a POST ran its action before its body arrived.
TEST_F(AdminHttp, ADeclaredBodyOverTheLimitIs413AtOnceAndRunsNothing) {
  const int before = job_actions_audited();
  for (const char* length : {"70000", "1000000000000", "99999999999999999999999"}) {
    const RawAnswer answer = raw_http(port(), head("POST", "/api/v1/jobs/8/retry", std::string("Content-Length: ") + length + "\r\n"));
    expect_json_error(answer, 413, "payload_too_large");
    EXPECT_LT(answer.elapsed, std::chrono::milliseconds(kTimeoutS * 1000)) << length << ": not at once";
    EXPECT_EQ(answer.header("connection"), "close") << length;
    EXPECT_TRUE(answer.closed) << length;
  }
  EXPECT_EQ(job_actions_audited(), before);
}

TEST_F(AdminHttp, ABodyCutShortRunsNothing) {
  const int before = job_actions_audited();
  const std::string cut = head("POST", "/api/v1/jobs/8/retry", "Content-Length: 100\r\n") + std::string(10, 'x');
  const RawAnswer waited = raw_http(port(), cut);  // the client keeps the connection open
  expect_json_error(waited, 408, "request_timeout");
  EXPECT_GE(waited.elapsed, std::chrono::milliseconds(kTimeoutS * 1000 - 200));
  EXPECT_TRUE(waited.closed);
  const RawAnswer ended = raw_http(port(), cut, {.shut_write = true});  // the client's EOF
  expect_json_error(ended, 400, "bad_request");
  EXPECT_TRUE(ended.closed);
  EXPECT_EQ(job_actions_audited(), before);
  // The same request whole does run (there is no job 8: 404, and the audit log has it).
  const RawAnswer whole = raw_http(port(), head("POST", "/api/v1/jobs/8/retry", "Content-Length: 10\r\nConnection: close\r\n") + std::string(10, 'x'));
  expect_json_error(whole, 404, "not_found");
  EXPECT_EQ(job_actions_audited(), before + 1);
}

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

// Item: protocol errors were bare 400s, no answer, or echoed the client's version.
TEST_F(AdminHttp, ProtocolErrorsGetTheJsonErrorAndAProperStatusLine) {
  const RawOptions once{.stop_after_first_answer = true};
  expect_json_error(raw_http(port(), "GET /healthz\r\n\r\n", once), 400, "bad_request");                       // HTTP/0.9
  expect_json_error(raw_http(port(), "GET /healthz garbage\r\nHost: x\r\n\r\n", once), 400, "bad_request");  // not echoed
  expect_json_error(raw_http(port(), "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", once), 505, "http_version_not_supported");
  expect_json_error(raw_http(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", once), 400, "bad_request");
  expect_json_error(raw_http(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", once), 400,
                    "bad_request");
  expect_json_error(raw_http(port(), "POST /api/v1/jobs/1/retry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", once), 411,
                    "length_required");
  expect_json_error(raw_http(port(), "GET /healthz HTTP/1.1\r\n\r\n", once), 400, "bad_request");  // no Host
  expect_json_error(raw_http(port(), "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", once), 414, "uri_too_long");
  expect_json_error(raw_http(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(9000, 't') + "\r\n\r\n", once),
                    431, "header_fields_too_large");
  std::string many;
  for (int i = 0; i < 150; ++i) many += "X-Field-" + std::to_string(i) + ": v\r\n";
  expect_json_error(raw_http(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", once), 431, "header_fields_too_large");
  expect_json_error(raw_http(port(), std::string(20000, 'z'), once), 400, "bad_request");
  // A 1.0 client gets a 1.0 status line; the connection then closes.
  const RawAnswer old = raw_http(port(), "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.status_line, "HTTP/1.0 200 OK");
  EXPECT_TRUE(old.closed);
  // Afterwards the node still answers.
  EXPECT_EQ(raw_http(port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", once).status_line, "HTTP/1.1 200 OK");
}

// Keep-alive still works: two requests on one connection, both answered.
TEST_F(AdminHttp, KeptAliveConnectionsServeSeveralRequests) {
  const std::string one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const RawAnswer answer = raw_http(port(), one + one + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = answer.bytes.find("HTTP/1.1 200 OK\r\n", at)) != std::string::npos; ++at) ++answers;
  EXPECT_EQ(answers, 3u) << answer.bytes;
  EXPECT_TRUE(answer.closed);
}

}  // namespace
}  // namespace evax::testing
