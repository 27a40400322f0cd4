// notifications[]: the RIS targets, each key validated with its path, the token never shown.
#include <gtest/gtest.h>

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

TEST(NotificationsConfig, Hl7AndFhirTargetsAreReadWithTheirDefaultsAndTheTokenIsRedacted) {
  const auto config = parse_config(R"({"notifications": [
      {"name": "ris", "kind": "hl7", "host": "ris.example", "receiving_application": "RIS",
       "urgent_findings": ["Pneumothorax", "Effusion"]},
      {"name": "fhir", "kind": "fhir", "url": "https://fhir.example/r4", "bearer_token": "s3cret-token",
       "mode": "resources", "timeout_s": 5}]})");
  ASSERT_TRUE(config) << describe(config.error().front());
  ASSERT_EQ(config->notifications.size(), 2u);
  const auto& hl7 = config->notifications[0];
  EXPECT_EQ(hl7.kind, "hl7");
  EXPECT_EQ(hl7.port, 2575);
  EXPECT_EQ(hl7.sending_application, "EVAX");
  EXPECT_EQ(hl7.ack_timeout_s, 30);
  EXPECT_EQ(hl7.urgent_findings, (std::vector<std::string>{"Pneumothorax", "Effusion"}));
  const auto& fhir = config->notifications[1];
  EXPECT_EQ(fhir.mode, "resources");
  EXPECT_EQ(fhir.timeout_s, 5);
  const std::string shown = to_redacted_json(*config);
  EXPECT_EQ(shown.find("s3cret-token"), std::string::npos);
  const auto effective = nlohmann::json::parse(shown);
  EXPECT_EQ(effective["notifications"][0]["host"], "ris.example");
  EXPECT_EQ(effective["notifications"][1]["bearer_token"], "<redacted>");
}

TEST(NotificationsConfig, EveryMistakeIsReportedWithItsKeyPath) {
  const auto errors = errors_of(R"({"destinations": [{"name": "pacs", "ae_title": "PACS", "host": "10.0.0.1"}],
    "notifications": [
      {"kind": "hl7", "port": 0, "ack_timeout_s": 0},
      {"name": "x", "kind": "smtp"},
      {"name": "x", "kind": "fhir", "url": "ftp://fhir", "mode": "batch", "bearer_token": "two words"},
      {"name": "pacs", "kind": "hl7", "host": "h", "url": "http://misplaced", "urgent_findings": [3]}]})");
  const std::vector<std::string> expected{
      "notifications[0].name: is required",
      "notifications[0].port: must be an integer from 1 to 65535",
      "notifications[0].ack_timeout_s: must be an integer from 1 to 3600",
      "notifications[0].host: is required for kind hl7",
      "notifications[1].kind: must be one of hl7, fhir",
      "notifications[2].name: is used twice",
      "notifications[2].url: must be the FHIR server's base URL, http:// or https://",
      "notifications[2].mode: must be one of transaction, resources",
      "notifications[2].bearer_token: must be printable ASCII without spaces",
      "notifications[3].urgent_findings: must be a list of finding labels",
      "notifications[3].url: unknown key",
      "notifications[3].name: must differ from every destination's name"};
  for (const auto& e : expected)
    EXPECT_NE(std::find(errors.begin(), errors.end(), e), errors.end()) << "missing: " << e << "\ngot:\n"
                                                                        << ::testing::PrintToString(errors);
}

}  // namespace
}  // namespace evax::config
