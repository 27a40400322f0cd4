// The config's sources (PACS the node pulls studies from) and retrieval keys: read as written,
// defaults documented in the README, every problem under its key path.
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

TEST(SourceConfig, SourcesAndRetrievalKeysAreReadWithTheirDefaults) {
  const auto defaults = parse_config("{}");
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->sources.empty());
  EXPECT_EQ(defaults->retrieval.per_minute, 30);
  EXPECT_EQ(defaults->retrieval.max_concurrent, 2);
  EXPECT_EQ(defaults->retrieval.connect_timeout_s, 10);
  EXPECT_EQ(defaults->retrieval.timeout_s, 600);
  EXPECT_EQ(defaults->retrieval.max_sweep_studies, 1000);

  const auto config = parse_config(R"({
    "sources": [{"name": "pacs", "ae_title": "PACS", "host": "10.0.0.1"},
                {"name": "archive", "ae_title": "ARCH", "host": "archive.example", "port": 11112, "retrieve": "c-get",
                 "tls": {"trusted_certificates": ["ca.pem"], "certificate": "me.pem", "private_key": "me.key"}}],
    "retrieval": {"per_minute": 120, "max_concurrent": 4, "connect_timeout_s": 5, "timeout_s": 90, "max_sweep_studies": 50}})");
  ASSERT_TRUE(config) << describe(config.error().front());
  ASSERT_EQ(config->sources.size(), 2u);
  EXPECT_EQ(config->sources[0].port, 104);
  EXPECT_EQ(config->sources[0].retrieve, "c-move");
  EXPECT_FALSE(config->sources[0].tls);
  EXPECT_EQ(config->sources[1].retrieve, "c-get");
  EXPECT_EQ(config->sources[1].port, 11112);
  ASSERT_TRUE(config->sources[1].tls);
  EXPECT_EQ(config->sources[1].tls->trusted_certificates, std::vector<std::string>{"ca.pem"});
  EXPECT_EQ(config->retrieval.per_minute, 120);
  EXPECT_EQ(config->retrieval.max_concurrent, 4);
  EXPECT_EQ(config->retrieval.max_sweep_studies, 50);
  // The effective config shows them, the private key redacted.
  const auto effective = nlohmann::json::parse(to_redacted_json(*config));
  EXPECT_EQ(effective["sources"][1]["retrieve"], "c-get");
  EXPECT_EQ(effective["sources"][1]["tls"]["private_key"], "<redacted>");
  EXPECT_EQ(effective["retrieval"]["timeout_s"], 90);
}

TEST(SourceConfig, EveryProblemIsReportedUnderItsKeyPath) {
  const auto errors = errors_of(R"({
    "sources": [{"name": "pacs", "ae_title": "PACS", "host": "10.0.0.1"},
                {"name": "pacs", "ae_title": "A\\B", "host": "", "port": 0, "retrieve": "c-fetch", "colour": 1},
                {"ae_title": "X", "host": "h", "tls": {"certificate": "me.pem"}}],
    "retrieval": {"per_minute": 0, "max_concurrent": 17, "timeout_s": "long", "max_sweep_studies": 0, "rate": 1}})");
  const std::vector<std::string> expected = {
      "sources[1].name: is used twice", "sources[1].ae_title: must be 1 to 16", "sources[1].host: is required",
      "sources[1].port: must be an integer from 1 to 65535", "sources[1].retrieve: must be one of c-move, c-get",
      "sources[1].colour: unknown key", "sources[2].name: is required",
      "sources[2].tls.trusted_certificates: is required to verify the source", "sources[2].tls.private_key: goes with certificate",
      "retrieval.per_minute: must be an integer from 1 to 6000", "retrieval.max_concurrent: must be an integer from 1 to 16",
      "retrieval.timeout_s: must be an integer", "retrieval.max_sweep_studies: must be an integer from 1 to 100000",
      "retrieval.rate: unknown key"};
  for (const auto& e : expected) {
    bool found = false;
    for (const auto& error : errors) found = found || error.find(e) != std::string::npos;
    EXPECT_TRUE(found) << "missing: " << e << "\n" << ::testing::PrintToString(errors);
  }
  EXPECT_EQ(errors.size(), expected.size()) << ::testing::PrintToString(errors);
}

}  // namespace
}  // namespace evax::config
