// destinations[].kind "dicomweb": the url, TLS and credentials a STOW-RS destination needs, each
// problem under its own key, and the secrets never shown.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "evax/config/node_config.h"

namespace evax::config {
namespace {

std::vector<std::string> errors_of(const std::string& json) {
  auto result = parse_config(json);
  std::vector<std::string> out;
  if (!result)
    for (const auto& e : result.error()) out.push_back(describe(e));
  return out;
}

bool mentions(const std::vector<std::string>& errors, const std::string& text) {
  for (const auto& e : errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

TEST(DicomwebDestinationConfig, UrlAndCredentialsAreReadAndTheSecretsNeverShown) {
  const auto token_file = std::filesystem::temp_directory_path() / ("stow-token-" + std::to_string(::getpid()));
  std::ofstream(token_file) << "token-from-file-1234\n";
  ::setenv("EVAX_STOW_TEST_PASSWORD", "password-from-env-5678", 1);
  const auto config = parse_config(R"({"destinations": [
    {"name": "web", "kind": "dicomweb", "url": "https://pacs.example:8443/dicom-web", "timeout_s": 30,
     "tls": {"verify_peer": false}, "auth": {"bearer_token_file": ")" + token_file.string() + R"("}},
    {"name": "basic", "kind": "dicomweb", "url": "http://10.0.0.5/dicom-web/", "outputs": ["sr"],
     "auth": {"username": "evax", "password_env": "EVAX_STOW_TEST_PASSWORD"}},
    {"name": "pacs", "ae_title": "PACS", "host": "10.0.0.1"}]})");
  std::filesystem::remove(token_file);
  ASSERT_TRUE(config) << describe(config.error().front());
  const auto& web = config->destinations[0];
  EXPECT_EQ(web.kind, "dicomweb");
  EXPECT_EQ(web.url, "https://pacs.example:8443/dicom-web");
  EXPECT_EQ(web.timeout_s, 30);
  ASSERT_TRUE(web.auth.has_value());
  EXPECT_EQ(web.auth->bearer_token, "token-from-file-1234");  // the first line, without its newline
  ASSERT_TRUE(config->destinations[1].auth.has_value());
  EXPECT_EQ(config->destinations[1].auth->username, "evax");
  EXPECT_EQ(config->destinations[1].auth->password, "password-from-env-5678");
  EXPECT_EQ(config->destinations[1].timeout_s, 60);
  EXPECT_EQ(config->destinations[2].kind, "dicom");  // the default

  const std::string shown = to_redacted_json(*config);
  EXPECT_EQ(shown.find("token-from-file"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("password-from-env"), std::string::npos) << shown;
  const auto effective = nlohmann::json::parse(shown);
  EXPECT_EQ(effective["destinations"][0]["kind"], "dicomweb");
  EXPECT_EQ(effective["destinations"][0]["url"], "https://pacs.example:8443/dicom-web");
  EXPECT_EQ(effective["destinations"][1]["auth"]["username"], "evax");
  EXPECT_EQ(effective["destinations"][2]["ae_title"], "PACS");
}

TEST(DicomwebDestinationConfig, EveryMistakeIsReportedUnderItsKey) {
  ::unsetenv("EVAX_STOW_TEST_UNSET");
  const auto errors = errors_of(R"({"destinations": [
    {"name": "a", "kind": "dicomweb"},
    {"name": "b", "kind": "dicomweb", "url": "ftp://pacs/dicom-web", "ae_title": "PACS"},
    {"name": "c", "kind": "dicomweb", "url": "https://user:pw@pacs/dicom-web"},
    {"name": "d", "kind": "dicomweb", "url": "http://pacs/dicom-web", "tls": {"verify_peer": false}},
    {"name": "e", "kind": "dicomweb", "url": "http://pacs/dicom-web", "auth": {"bearer_token": "x", "username": "u", "password": "p"}},
    {"name": "f", "kind": "dicomweb", "url": "http://pacs/dicom-web", "auth": {"bearer_token_env": "EVAX_STOW_TEST_UNSET"}},
    {"name": "g", "kind": "dicomweb", "url": "http://pacs/dicom-web", "auth": {"bearer_token_file": "/nonexistent/token"}},
    {"name": "h", "kind": "dicomweb", "url": "http://pacs/dicom-web", "auth": {"username": "u"}},
    {"name": "i", "kind": "dicomweb", "url": "http://pacs/dicom-web", "auth": {"bearer_token": "x", "bearer_token_env": "Y"}},
    {"name": "j", "kind": "dicomweb", "url": "http://pacs/dicom-web?x=1", "timeout_s": 0},
    {"name": "k", "kind": "stow"},
    {"name": "l", "ae_title": "L", "host": "10.0.0.1", "url": "http://pacs/dicom-web"}]})");
  for (const char* expected :
       {"destinations[0].url: is required for kind dicomweb", "destinations[1].url: must be an http:// or https:// URL",
        "destinations[1].ae_title: is for kind dicom", "destinations[2].url: must not carry credentials",
        "destinations[3].tls: needs an https:// url", "destinations[4].auth: is either a bearer token or a username and password",
        "destinations[5].auth.bearer_token_env: the environment variable EVAX_STOW_TEST_UNSET is not set",
        "destinations[6].auth.bearer_token_file: cannot read /nonexistent/token", "destinations[7].auth.password: is required",
        "destinations[8].auth.bearer_token: give one of", "destinations[9].url: must be an http", "destinations[9].timeout_s",
        "destinations[10].kind: must be one of dicom, dicomweb", "destinations[11].url: is for kind dicomweb"})
    EXPECT_TRUE(mentions(errors, expected)) << "missing: " << expected << "\n" << ::testing::PrintToString(errors);
}

}  // namespace
}  // namespace evax::config
