// The effective configuration as the admin API shows it: every key with its value in force,
// secrets replaced. Written out field by field so a new secret cannot slip through unredacted
// by being serialised generically.
#include <nlohmann/json.hpp>

#include "evax/config/node_config.h"

namespace evax::config {
namespace {

using json = nlohmann::ordered_json;
constexpr const char* kRedacted = "<redacted>";

json secret(const std::string& value) { return value.empty() ? json("") : json(kRedacted); }

}  // namespace

std::string to_redacted_json(const NodeConfig& c) {
  json peers = json::array();
  for (const auto& p : c.dicom.allowed_peers) peers.push_back({{"ae_title", p.ae_title}, {"host", p.host}});
  json dicom{{"ae_title", c.dicom.ae_title},
             {"port", c.dicom.port},
             {"allowed_peers", peers},
             {"max_associations", c.dicom.max_associations},
             {"max_pending_associations", c.dicom.max_pending_associations},
             {"acse_timeout_s", c.dicom.acse_timeout_s},
             {"dimse_timeout_s", c.dicom.dimse_timeout_s},
             {"max_pdu", c.dicom.max_pdu}};
  if (c.dicom.tls)
    dicom["tls"] = {{"certificate", c.dicom.tls->certificate},
                    {"private_key", secret(c.dicom.tls->private_key)},
                    {"trusted_certificates", c.dicom.tls->trusted_certificates},
                    {"require_peer_certificate", c.dicom.tls->require_peer_certificate}};
  const auto& m = c.model;
  json model{{"classifier", {{"checkpoint", m.classifier_checkpoint}, {"task", m.classifier_task}}},
             {"device", m.device},
             {"precision", m.precision},
             {"max_batch", m.max_batch},
             {"max_batch_wait_ms", m.max_batch_wait_ms},
             {"cam_top_k", m.cam_top_k},
             {"cpu_threads", m.cpu_threads},
             {"segmenter",
              {{"checkpoint", m.segmenter_checkpoint},
               {"threshold", m.segmenter_threshold},
               {"input_size", m.segmenter_input_size},
               {"min_lung_fraction", m.lung_min_region_fraction},
               {"max_lungs_fraction", m.lung_max_total_fraction}}}};
  json tokens = json::array();
  for (const auto& t : c.http.tokens) tokens.push_back({{"sha256", kRedacted}, {"role", t.role}, {"name", t.name}});
  json http{{"port", c.http.port},
            {"listen_address", c.http.listen_address},
            {"tokens", tokens},
            {"max_connections", c.http.max_connections},
            {"max_queued", c.http.max_queued},
            {"timeout_s", c.http.timeout_s},
            {"max_request_bytes", c.http.max_request_bytes}};
  if (c.http.tls) http["tls"] = {{"certificate", c.http.tls->certificate}, {"key", secret(c.http.tls->key)}};
  json destinations = json::array();
  for (const auto& d : c.destinations) {
    json entry{{"name", d.name}, {"ae_title", d.ae_title}, {"host", d.host}, {"port", d.port},
               {"outputs", d.outputs.empty() ? output_kinds() : d.outputs}};
    if (d.tls)
      entry["tls"] = {{"trusted_certificates", d.tls->trusted_certificates},
                      {"certificate", d.tls->certificate},
                      {"private_key", secret(d.tls->private_key)},
                      {"verify_peer", d.tls->verify_peer}};
    destinations.push_back(std::move(entry));
  }
  json rules = json::array();
  for (const auto& r : c.priority.rules) {
    json entry{{"tag", r.tag}};
    if (!r.matches.empty()) entry["matches"] = r.matches;
    if (!r.equals.empty()) entry["equals"] = r.equals;
    entry["priority"] = r.priority;
    rules.push_back(std::move(entry));
  }
  const json document{
      {"dicom", dicom},
      {"storage",
       {{"data_dir", c.storage.data_dir},
        {"min_free_mb", c.storage.min_free_mb},
        {"retention_hours", c.storage.retention_hours},
        {"purge_interval_s", c.storage.purge_interval_s},
        // The DSN may carry a password: shown redacted as a whole (/readyz names the server).
        {"database", {{"kind", c.storage.database.kind}, {"dsn", secret(c.storage.database.dsn)}, {"pool_size", c.storage.database.pool_size}}}}},
      {"cluster",
       {{"node_id", c.cluster.node_id},
        {"address", c.cluster.address},
        {"heartbeat_s", c.cluster.heartbeat_s},
        {"lease_s", c.cluster.lease_s}}},
      {"study", {{"quiet_period_s", c.study.quiet_period_s}, {"accept_empty_body_part", c.study.accept_empty_body_part}}},
      {"priority", {{"requested_procedure_priority", c.priority.requested_procedure_priority}, {"rules", rules}}},
      {"model", model},
      {"workers",
       {{"count", c.workers.count},
        {"max_attempts", c.workers.max_attempts},
        {"retry_initial_s", c.workers.retry_initial_s},
        {"retry_max_s", c.workers.retry_max_s}}},
      {"reporting",
       {{"air", c.reporting.air},
        {"sr_document_type", c.reporting.sr_document_type_in_force()},
        {"default_operating_point", c.reporting.default_operating_point},
        {"operating_points", c.reporting.operating_points},
        {"outputs", c.reporting.outputs},
        {"secondary_capture", c.reporting.secondary_capture},
        {"sc_max_side", c.reporting.sc_max_side}}},
      {"delivery",
       {{"max_attempts", c.delivery.max_attempts},
        {"max_age_h", c.delivery.max_age_h},
        {"retry_initial_s", c.delivery.retry_initial_s},
        {"retry_max_s", c.delivery.retry_max_s},
        {"connect_timeout_s", c.delivery.connect_timeout_s},
        {"dimse_timeout_s", c.delivery.dimse_timeout_s}}},
      {"http", http},
      {"logging", {{"level", c.logging.level}, {"format", c.logging.format}, {"audit_file", c.logging.audit_file}}},
      {"destinations", destinations}};
  return document.dump(2);
}

}  // namespace evax::config
