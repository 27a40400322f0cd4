#include "evax/config/node_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

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

TEST(NodeConfig, APostgresqlDatabaseNeedsItsDsnWhichIsNeverShown) {
  const auto config = parse_config(R"({"storage": {"database": {"kind": "postgresql",
    "dsn": "host=db.example port=5432 dbname=evax user=evax password=hunter2 sslmode=verify-full", "pool_size": 8}},
    "cluster": {"node_id": "node-a", "heartbeat_s": 2, "lease_s": 10}})");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_EQ(config->storage.database.kind, "postgresql");
  EXPECT_EQ(config->storage.database.pool_size, 8);
  EXPECT_EQ(config->cluster.node_id, "node-a");
  EXPECT_EQ(config->cluster.lease_s, 10);
  const std::string shown = to_redacted_json(*config);
  EXPECT_EQ(shown.find("hunter2"), std::string::npos);
  EXPECT_EQ(shown.find("db.example"), std::string::npos);  // the whole DSN: it may hide a password anywhere
  EXPECT_NE(shown.find("\"node_id\": \"node-a\""), std::string::npos) << shown;

  const auto errors = errors_of(R"({"storage": {"database": {"kind": "postgres", "pool_size": 0}},
    "cluster": {"node_id": "a b", "heartbeat_s": 5, "lease_s": 10}})");
  EXPECT_TRUE(mentions(errors, "storage.database.kind: must be one of"));
  EXPECT_TRUE(mentions(errors, "storage.database.pool_size: must be an integer from 1"));
  EXPECT_TRUE(mentions(errors, "cluster.node_id: must be printable ASCII without spaces"));
  EXPECT_TRUE(mentions(errors, "cluster.lease_s: must be at least 3 heartbeats"));
  EXPECT_TRUE(mentions(errors_of(R"({"storage": {"database": {"kind": "postgresql"}}})"),
                       "storage.database.dsn: is required for postgresql"));
  EXPECT_TRUE(mentions(errors_of(R"({"storage": {"database": {"dsn": "host=x"}}})"),
                       "storage.database.dsn: applies to postgresql only"));
}

TEST(NodeConfig, TheShippedExampleIsValidAndReadAsWritten) {
  auto config = load_config_file(std::string(EVAX_SOURCE_DIR) + "/packaging/evax-node.example.json");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_EQ(config->dicom.ae_title, "EVAX");
  EXPECT_EQ(config->dicom.port, 11112);
  EXPECT_EQ(config->model.classifier_checkpoint, "demo:tiny");
  EXPECT_EQ(config->study.quiet_period_s, 10);
  EXPECT_TRUE(config->destinations.empty());
}

TEST(NodeConfig, AnEmptyObjectGivesTheDocumentedDefaults) {
  auto config = parse_config("{}");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->dicom.max_associations, 16);
  EXPECT_EQ(config->storage.min_free_mb, 1024);
  EXPECT_EQ(config->workers.max_attempts, 5);
  EXPECT_EQ(config->logging.level, "info");
}

TEST(NodeConfig, EveryErrorIsReportedWithItsKeyPath) {
  const auto errors = errors_of(R"({
    "dicom": {"ae_title": "A\\B", "port": 70000, "prot": 1,
              "allowed_peers": [{"host": "not-an-ip"}, {}]},
    "storage": {"data_dir": ""},
    "model": {"device": "tpu", "classifier": {"checkpoint": ""}},
    "workers": {"count": "two"},
    "destinations": [{"name": "pacs", "ae_title": "PACS", "host": "10.0.0.1", "port": 104},
                     {"name": "pacs", "ae_title": "", "host": ""}],
    "colour": true
  })");
  for (const char* expected :
       {"dicom.ae_title: must be 1 to 16", "dicom.port: must be an integer from 1 to 65535", "dicom.prot: unknown key",
        "dicom.allowed_peers[0].host: must be an IP address", "dicom.allowed_peers[1]: needs an ae_title, a host or both",
        "storage.data_dir: must not be empty", "model.device: must be one of cpu, cuda, auto",
        "model.classifier.checkpoint: must name a file", "workers.count: must be an integer",
        "destinations[1].name: is used twice", "destinations[1].ae_title", "destinations[1].host: is required",
        "colour: unknown key"})
    EXPECT_TRUE(mentions(errors, expected)) << "missing: " << expected;
}

TEST(NodeConfig, EachDestinationChoosesItsOutputKindsFromTheKnownOnes) {
  const auto config = parse_config(R"({"destinations": [
    {"name": "pacs", "ae_title": "PACS", "host": "10.0.0.1"},
    {"name": "archive", "ae_title": "ARCHIVE", "host": "10.0.0.2", "outputs": ["sr", "sc"]}]})");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_TRUE(config->destinations[0].outputs.empty());  // every kind
  EXPECT_EQ(config->destinations[1].outputs, (std::vector<std::string>{"sr", "sc"}));
  const auto effective = nlohmann::json::parse(to_redacted_json(*config));
  EXPECT_EQ(effective["destinations"][0]["outputs"], nlohmann::json::parse(R"(["sr", "sc", "seg", "pmap", "kos"])"));
  EXPECT_EQ(effective["destinations"][1]["outputs"], nlohmann::json::parse(R"(["sr", "sc"])"));

  const auto errors = errors_of(R"({"destinations": [
    {"name": "a", "ae_title": "A", "host": "10.0.0.1", "outputs": ["sr", "heatmap", 3]},
    {"name": "b", "ae_title": "B", "host": "10.0.0.2", "outputs": []},
    {"name": "c", "ae_title": "C", "host": "10.0.0.3", "outputs": ["sc", "sc"]},
    {"name": "d", "ae_title": "D", "host": "10.0.0.4", "outputs": "sr"}]})");
  for (const char* expected :
       {"destinations[0].outputs: \"heatmap\" is not one of sr, sc, seg, pmap, kos", "destinations[0].outputs: \"3\" is not one of",
        "destinations[1].outputs: must name at least one of sr, sc, seg, pmap, kos", "destinations[2].outputs: names \"sc\" twice",
        "destinations[3].outputs: must be a list"})
    EXPECT_TRUE(mentions(errors, expected)) << "missing: " << expected << "\n" << ::testing::PrintToString(errors);
}

TEST(NodeConfig, TlsNeedsItsFiles) {
  const auto errors = errors_of(R"({"dicom": {"tls": {"require_peer_certificate": true}}})");
  EXPECT_TRUE(mentions(errors, "dicom.tls.certificate: is required"));
  EXPECT_TRUE(mentions(errors, "dicom.tls.private_key: is required"));
  EXPECT_TRUE(mentions(errors, "dicom.tls.trusted_certificates: is required"));
}

TEST(NodeConfig, BrokenJsonAndMissingFilesAreClearErrors) {
  EXPECT_TRUE(mentions(errors_of("{\"dicom\": "), "not valid JSON"));
  auto missing = load_config_file("/nonexistent/evax.json");
  ASSERT_FALSE(missing);
  EXPECT_NE(describe(missing.error().front()).find("cannot open config file"), std::string::npos);
}

// nlohmann keeps the last of two equal keys; the node refuses the config and names each one.
TEST(NodeConfig, AKeyGivenTwiceInOneObjectIsRefusedWithItsPath) {
  const auto errors = errors_of(R"({
    "dicom": {"port": 11112, "ae_title": "EVAX", "port": 104},
    "destinations": [{"name": "a", "ae_title": "A", "host": "10.0.0.1"},
                     {"name": "b", "ae_title": "B", "host": "10.0.0.2", "host": "10.0.0.3"}],
    "http": {"tokens": [{"sha256": "x", "role": "read"}]},
    "logging": {"level": "info"}, "logging": {"level": "debug"}
  })");
  EXPECT_TRUE(mentions(errors, "dicom.port: is given twice in the same object")) << ::testing::PrintToString(errors);
  EXPECT_TRUE(mentions(errors, "destinations[1].host: is given twice")) << ::testing::PrintToString(errors);
  EXPECT_TRUE(mentions(errors, "logging: is given twice")) << ::testing::PrintToString(errors);
  EXPECT_FALSE(mentions(errors, "destinations[0]")) << ::testing::PrintToString(errors);
  EXPECT_FALSE(mentions(errors, "dicom.ae_title")) << ::testing::PrintToString(errors);
  // The same key in different objects is not a repetition.
  EXPECT_TRUE(parse_config(R"({"dicom": {"port": 11112}, "http": {"port": 8081},
                               "destinations": [{"name": "a", "ae_title": "A", "host": "10.0.0.1", "port": 104},
                                                {"name": "b", "ae_title": "B", "host": "10.0.0.2", "port": 104}]})"));
}

TEST(NodeConfig, CrossFieldRules) {
  EXPECT_TRUE(mentions(errors_of(R"({"dicom": {"port": 8080}, "http": {"port": 8080}})"), "http.port: must differ"));
  EXPECT_TRUE(mentions(errors_of(R"({"workers": {"retry_initial_s": 60, "retry_max_s": 10}})"), "workers.retry_max_s"));
}

TEST(NodeConfig, SegmenterKeysAreReadAndChecked) {
  auto config = parse_config(R"({"model": {"segmenter": {"checkpoint": "demo", "threshold": 0.9, "input_size": 768,
                                                        "min_lung_fraction": 0.05, "max_lungs_fraction": 0.7}}})");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_EQ(config->model.segmenter_checkpoint, "demo");
  EXPECT_DOUBLE_EQ(config->model.segmenter_threshold, 0.9);
  EXPECT_EQ(config->model.segmenter_input_size, 768);
  EXPECT_DOUBLE_EQ(config->model.lung_min_region_fraction, 0.05);
  EXPECT_DOUBLE_EQ(config->model.lung_max_total_fraction, 0.7);

  const auto defaults = parse_config("{}");
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->model.segmenter_checkpoint.empty());  // off unless configured
  EXPECT_DOUBLE_EQ(defaults->model.segmenter_threshold, 0.3);   // mmseg's default

  const auto errors = errors_of(R"({"model": {"segmenter": {"threshold": 0, "input_size": 500, "min_lung_fraction": 0.9,
                                                            "checkpont": "x.pth"}}})");
  EXPECT_TRUE(mentions(errors, "model.segmenter.threshold: must lie strictly between 0 and 1"));
  EXPECT_TRUE(mentions(errors, "model.segmenter.input_size: must be 0 (the checkpoint's size) or a multiple of 32"));
  EXPECT_TRUE(mentions(errors, "model.segmenter.min_lung_fraction: must be a number from 0 to 0.5"));
  EXPECT_TRUE(mentions(errors, "model.segmenter.checkpont: unknown key"));
}

TEST(NodeConfig, HttpKeysAreReadCheckedAndRedacted) {
  const std::string digest(64, 'A');
  auto config = parse_config(R"({"http": {"port": 9443, "listen_address": "127.0.0.1", "max_connections": 4, "max_queued": 16,
    "timeout_s": 5, "max_request_bytes": 4096, "tokens": [{"sha256": ")" + digest + R"(", "role": "admin", "name": "ops"}],
    "tls": {"certificate": "/etc/evax/http.crt", "key": "/etc/evax/http.key"}}, "logging": {"audit_file": "/var/log/evax-audit.log"}})");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_EQ(config->http.port, 9443);
  EXPECT_EQ(config->http.listen_address, "127.0.0.1");
  EXPECT_EQ(config->http.max_connections, 4);
  EXPECT_EQ(config->http.max_request_bytes, 4096);
  ASSERT_EQ(config->http.tokens.size(), 1u);
  EXPECT_EQ(config->http.tokens[0].sha256, std::string(64, 'a'));  // normalised to lower case
  EXPECT_EQ(config->http.tokens[0].role, "admin");
  ASSERT_TRUE(config->http.tls);
  EXPECT_EQ(config->logging.audit_file, "/var/log/evax-audit.log");
  const std::string shown = to_redacted_json(*config);
  EXPECT_EQ(shown.find(std::string(64, 'a')), std::string::npos);
  EXPECT_EQ(shown.find("http.key"), std::string::npos);
  EXPECT_NE(shown.find("<redacted>"), std::string::npos);
  EXPECT_NE(shown.find("http.crt"), std::string::npos);  // certificates are not secret

  const auto errors = errors_of(R"({"http": {"listen_address": "localhost", "max_connections": 0,
    "tokens": [{"sha256": "abc", "role": "root"}, {"role": "read"}], "tls": {"certificate": "c.pem"}}})");
  EXPECT_TRUE(mentions(errors, "http.listen_address: must be an IPv4 address"));
  EXPECT_TRUE(mentions(errors, "http.max_connections: must be an integer from 1"));
  EXPECT_TRUE(mentions(errors, "http.tokens[0].sha256: must be the 64 hex digits"));
  EXPECT_TRUE(mentions(errors, "http.tokens[0].role: must be one of read, review, admin"));
  EXPECT_TRUE(mentions(errors, "http.tokens[1].sha256: must be the 64 hex digits"));
  EXPECT_TRUE(mentions(errors, "http.tls.key: is required with TLS"));
}

TEST(NodeConfig, MonitoringKeysAreReadAndChecked) {
  const auto defaults = parse_config("{}");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->monitoring.window_days, 7);
  EXPECT_EQ(defaults->monitoring.psi_threshold, 0.2);
  EXPECT_EQ(defaults->monitoring.min_images, 30);
  EXPECT_FALSE(defaults->monitoring.has_baseline());

  auto config = parse_config(R"({"monitoring": {"window_days": 14, "baseline_from": "2026-11-01", "baseline_to": "2026-11-22",
    "psi_threshold": 0.25, "min_images": 100}, "http": {"tokens": [{"sha256": ")" + std::string(64, 'b') + R"(", "role": "review"}]}})");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_EQ(config->monitoring.window_days, 14);
  EXPECT_EQ(config->monitoring.baseline_from, "2026-11-01");
  EXPECT_EQ(config->monitoring.baseline_to, "2026-11-22");
  EXPECT_EQ(config->monitoring.psi_threshold, 0.25);
  EXPECT_EQ(config->monitoring.min_images, 100);
  EXPECT_TRUE(config->monitoring.has_baseline());
  EXPECT_EQ(config->http.tokens.at(0).role, "review");
  EXPECT_NE(to_redacted_json(*config).find("\"baseline_from\": \"2026-11-01\""), std::string::npos);

  EXPECT_TRUE(parse_config(R"({"monitoring": {"baseline_file": "/etc/evax/baseline.csv"}})"));
  auto errors = errors_of(R"({"monitoring": {"window_days": 0, "psi_threshold": 0, "min_images": 0, "baseline_from": "2026-02-30",
    "baseline_to": "2026-11-1", "windows": 3}})");
  EXPECT_TRUE(mentions(errors, "monitoring.window_days: must be an integer from 1 to 365"));
  EXPECT_TRUE(mentions(errors, "monitoring.psi_threshold: must be a number from 0.001 to 10"));
  EXPECT_TRUE(mentions(errors, "monitoring.min_images: must be an integer from 1 to 1000000"));
  EXPECT_TRUE(mentions(errors, "monitoring.baseline_from: must be a date, YYYY-MM-DD"));
  EXPECT_TRUE(mentions(errors, "monitoring.baseline_to: must be a date, YYYY-MM-DD"));
  EXPECT_TRUE(mentions(errors, "monitoring.windows: unknown key"));
  EXPECT_TRUE(mentions(errors_of(R"({"monitoring": {"baseline_from": "2026-11-01"}})"), "monitoring.baseline_to: must be given with baseline_from"));
  EXPECT_TRUE(mentions(errors_of(R"({"monitoring": {"baseline_to": "2026-11-01"}})"), "monitoring.baseline_from: must be given with baseline_to"));
  EXPECT_TRUE(mentions(errors_of(R"({"monitoring": {"baseline_from": "2026-11-01", "baseline_to": "2026-11-01"}})"),
                       "monitoring.baseline_to: must be after baseline_from"));
  EXPECT_TRUE(mentions(errors_of(R"({"monitoring": {"baseline_file": "b.csv", "baseline_from": "2026-11-01", "baseline_to": "2026-11-02"}})"),
                       "monitoring.baseline_file: give either baseline_file or baseline_from/baseline_to, not both"));
}

TEST(NodeConfig, StowKeysAndTheStoreRoleAreReadAndChecked) {
  const auto defaults = parse_config("{}");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->stow.max_body_bytes, 1LL << 30);
  EXPECT_EQ(defaults->stow.max_instances, 1000);
  EXPECT_EQ(defaults->stow.timeout_s, 300);
  auto config = parse_config(R"({"stow": {"max_body_bytes": 5000000000, "max_instances": 20, "timeout_s": 60},
    "http": {"tokens": [{"sha256": ")" + std::string(64, 'b') + R"(", "role": "store", "name": "pacs"}]}})");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_EQ(config->stow.max_body_bytes, 5000000000LL);  // beyond 32 bits
  EXPECT_EQ(config->stow.max_instances, 20);
  EXPECT_EQ(config->stow.timeout_s, 60);
  EXPECT_EQ(config->http.tokens[0].role, "store");
  EXPECT_NE(to_redacted_json(*config).find("\"max_instances\": 20"), std::string::npos);

  const auto errors = errors_of(R"({"stow": {"max_body_bytes": 10, "max_instances": 0, "timeout_s": 7200, "max_parts": 3}})");
  EXPECT_TRUE(mentions(errors, "stow.max_body_bytes: must be an integer from 1024 to 68719476736"));
  EXPECT_TRUE(mentions(errors, "stow.max_instances: must be an integer from 1 to 100000"));
  EXPECT_TRUE(mentions(errors, "stow.timeout_s: must be an integer from 1 to 3600"));
  EXPECT_TRUE(mentions(errors, "stow.max_parts: unknown key"));
}

// reporting.air picks the SR's type unless sr_document_type names one: an explicit type wins.
TEST(NodeConfig, AirPicksTheSrTypeUnlessOneIsNamed) {
  const auto air_off = parse_config(R"({"reporting": {"air": false}})");
  ASSERT_TRUE(air_off) << describe(air_off.error().front());
  EXPECT_FALSE(air_off->reporting.air);
  EXPECT_EQ(air_off->reporting.sr_document_type_in_force(), "comprehensive");
  const std::string shown = to_redacted_json(*air_off);  // the admin API shows the type in force
  EXPECT_NE(shown.find("\"air\": false"), std::string::npos) << shown;
  EXPECT_NE(shown.find("\"sr_document_type\": \"comprehensive\""), std::string::npos) << shown;
  const auto named = parse_config(R"({"reporting": {"air": true, "sr_document_type": "enhanced"}})");
  ASSERT_TRUE(named) << describe(named.error().front());
  EXPECT_EQ(named->reporting.sr_document_type_in_force(), "enhanced");
  EXPECT_TRUE(mentions(errors_of(R"({"reporting": {"air": "yes"}})"), "reporting.air"));
  EXPECT_TRUE(mentions(errors_of(R"({"reporting": {"sr_document_type": ""}})"),
                       "reporting.sr_document_type: must be one of comprehensive, enhanced, comprehensive-3d"));
}

TEST(NodeConfig, ReportingAndDeliveryKeysAreReadAndChecked) {
  auto config = parse_config(R"({
    "reporting": {"sr_document_type": "enhanced", "default_operating_point": 0.4,
                  "operating_points": {"Effusion": 0.3, "Cardiomegaly": 0.6}, "secondary_capture": false, "sc_max_side": 1024,
                  "outputs": ["sr", "seg"]},
    "delivery": {"max_attempts": 7, "max_age_h": 12, "retry_initial_s": 2, "retry_max_s": 60,
                 "connect_timeout_s": 4, "dimse_timeout_s": 30},
    "destinations": [{"name": "pacs", "ae_title": "PACS", "host": "10.0.0.5", "port": 4242}]
  })");
  ASSERT_TRUE(config) << describe(config.error().front());
  EXPECT_EQ(config->reporting.sr_document_type, "enhanced");
  EXPECT_DOUBLE_EQ(config->reporting.default_operating_point, 0.4);
  EXPECT_DOUBLE_EQ(config->reporting.operating_points.at("Effusion"), 0.3);
  EXPECT_DOUBLE_EQ(config->reporting.operating_points.at("Cardiomegaly"), 0.6);
  EXPECT_FALSE(config->reporting.secondary_capture);
  EXPECT_EQ(config->reporting.sc_max_side, 1024);
  EXPECT_EQ(config->reporting.outputs, (std::vector<std::string>{"sr", "seg"}));
  EXPECT_EQ(config->delivery.max_attempts, 7);
  EXPECT_EQ(config->delivery.max_age_h, 12);
  EXPECT_EQ(config->delivery.retry_max_s, 60);
  EXPECT_EQ(config->delivery.dimse_timeout_s, 30);
  ASSERT_EQ(config->destinations.size(), 1u);
  EXPECT_EQ(config->destinations[0].port, 4242);

  const auto defaults = parse_config("{}");
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->reporting.air);
  EXPECT_EQ(defaults->reporting.sr_document_type, "");
  EXPECT_EQ(defaults->reporting.sr_document_type_in_force(), "comprehensive-3d");  // AIR: Comprehensive 3D SR
  EXPECT_DOUBLE_EQ(defaults->reporting.default_operating_point, 0.5);
  EXPECT_TRUE(defaults->reporting.secondary_capture);
  EXPECT_EQ(defaults->reporting.outputs, (std::vector<std::string>{"seg", "sr", "sc", "pmap", "kos"}));
  EXPECT_EQ(defaults->delivery.max_attempts, 50);
  EXPECT_EQ(defaults->delivery.max_age_h, 72);

  const auto errors = errors_of(R"({
    "reporting": {"sr_document_type": "basic", "default_operating_point": 1.5, "operating_points": {"Effusion": "high"},
                  "outputs": ["sr", "sr", 3]},
    "delivery": {"max_attempts": 0, "retry_initial_s": 100, "retry_max_s": 10, "colour": 1}
  })");
  EXPECT_TRUE(mentions(errors, "reporting.sr_document_type: must be one of comprehensive, enhanced, comprehensive-3d"));
  EXPECT_TRUE(mentions(errors, "reporting.default_operating_point: must be a number from 0 to 1"));
  EXPECT_TRUE(mentions(errors, "reporting.operating_points.Effusion: must be a number from 0 to 1"));
  EXPECT_TRUE(mentions(errors, "reporting.outputs: lists \"sr\" twice"));
  EXPECT_TRUE(mentions(errors, "reporting.outputs: must be a list of output kinds"));
  EXPECT_TRUE(mentions(errors, "delivery.max_attempts: must be an integer from 1"));
  EXPECT_TRUE(mentions(errors, "delivery.retry_max_s: must not be less than delivery.retry_initial_s"));
  EXPECT_TRUE(mentions(errors, "delivery.colour: unknown key"));

  const auto tls_errors = errors_of(R"({"destinations": [
    {"name": "a", "ae_title": "A", "host": "10.0.0.1", "port": 104, "tls": {}},
    {"name": "b", "ae_title": "B", "host": "10.0.0.2", "port": 104, "tls": {"verify_peer": false, "certificate": "c.pem"}}]})");
  EXPECT_TRUE(mentions(tls_errors, "destinations[0].tls.trusted_certificates: is required to verify the destination"));
  EXPECT_TRUE(mentions(tls_errors, "destinations[1].tls.private_key: goes with certificate"));
  const auto with_tls = parse_config(R"({"destinations": [{"name": "a", "ae_title": "A", "host": "10.0.0.1", "port": 2762,
    "tls": {"trusted_certificates": ["ca.pem"], "certificate": "node.pem", "private_key": "node.key"}}]})");
  ASSERT_TRUE(with_tls) << describe(with_tls.error().front());
  ASSERT_TRUE(with_tls->destinations[0].tls);
  EXPECT_EQ(with_tls->destinations[0].tls->trusted_certificates.at(0), "ca.pem");
  EXPECT_TRUE(with_tls->destinations[0].tls->verify_peer);
}

}  // namespace
}  // namespace evax::config
