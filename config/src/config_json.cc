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
    json entry{{"name", d.name}, {"kind", d.kind}, {"outputs", d.outputs.empty() ? output_kinds() : d.outputs}};
    if (d.kind == "dicomweb") {
      entry["url"] = d.url;
      entry["timeout_s"] = d.timeout_s;
      if (d.auth && !d.auth->bearer_token.empty()) entry["auth"] = {{"bearer_token", kRedacted}};
      else if (d.auth) entry["auth"] = {{"username", d.auth->username}, {"password", kRedacted}};
    } else {
      entry["ae_title"] = d.ae_title;
      entry["host"] = d.host;
      entry["port"] = d.port;
    }
    if (d.tls)
      entry["tls"] = {{"trusted_certificates", d.tls->trusted_certificates},
                      {"certificate", d.tls->certificate},
                      {"private_key", secret(d.tls->private_key)},
                      {"verify_peer", d.tls->verify_peer}};
    destinations.push_back(std::move(entry));
  }
  json notifications = json::array();
  for (const auto& n : c.notifications) {
    json entry{{"name", n.name}, {"kind", n.kind}, {"urgent_findings", n.urgent_findings}};
    if (n.kind == "hl7") {
      entry.update(json{{"host", n.host}, {"port", n.port}, {"sending_application", n.sending_application},
                        {"sending_facility", n.sending_facility}, {"receiving_application", n.receiving_application},
                        {"receiving_facility", n.receiving_facility}, {"connect_timeout_s", n.connect_timeout_s},
                        {"ack_timeout_s", n.ack_timeout_s}});
    } else {
      entry.update(json{{"url", n.url}, {"bearer_token", secret(n.bearer_token)}, {"mode", n.mode}, {"timeout_s", n.timeout_s}});
    }
    notifications.push_back(std::move(entry));
  }
  json sources = json::array();
  for (const auto& s : c.sources) {
    json entry{{"name", s.name}, {"ae_title", s.ae_title}, {"host", s.host}, {"port", s.port}, {"retrieve", s.retrieve}};
    if (s.tls)
      entry["tls"] = {{"trusted_certificates", s.tls->trusted_certificates},
                      {"certificate", s.tls->certificate},
                      {"private_key", secret(s.tls->private_key)},
                      {"verify_peer", s.tls->verify_peer}};
    sources.push_back(std::move(entry));
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
      {"monitoring",
       {{"window_days", c.monitoring.window_days},
        {"baseline_from", c.monitoring.baseline_from},
        {"baseline_to", c.monitoring.baseline_to},
        {"baseline_file", c.monitoring.baseline_file},
        {"psi_threshold", c.monitoring.psi_threshold},
        {"min_images", c.monitoring.min_images}}},
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
      {"stow", {{"max_body_bytes", c.stow.max_body_bytes}, {"max_instances", c.stow.max_instances}, {"timeout_s", c.stow.timeout_s}}},
      {"logging", {{"level", c.logging.level}, {"format", c.logging.format}, {"audit_file", c.logging.audit_file}}},
      {"destinations", destinations},
      {"notifications", notifications},
      {"sources", sources},
      {"retrieval",
       {{"per_minute", c.retrieval.per_minute},
        {"max_concurrent", c.retrieval.max_concurrent},
        {"connect_timeout_s", c.retrieval.connect_timeout_s},
        {"timeout_s", c.retrieval.timeout_s},
        {"max_sweep_studies", c.retrieval.max_sweep_studies}}}};
  return document.dump(2);
}

}  // namespace evax::config
