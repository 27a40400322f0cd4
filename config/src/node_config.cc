#include "evax/config/node_config.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "object_reader.h"

namespace evax::config {
namespace {

void read_dicom(ObjectReader& r, DicomSettings& d) {
  r.text("ae_title", d.ae_title);
  if (!valid_ae_title(d.ae_title)) r.fail("ae_title", "must be 1 to 16 printable characters without backslash");
  r.integer("port", d.port, 1, 65535);
  r.integer("max_associations", d.max_associations, 1, 1000);
  r.integer("max_pending_associations", d.max_pending_associations, 1, 4096);
  r.integer("acse_timeout_s", d.acse_timeout_s, 1, 3600);
  r.integer("dimse_timeout_s", d.dimse_timeout_s, 1, 86400);
  r.integer("max_pdu", d.max_pdu, 4096, 131072);
  if (const json* peers = r.array("allowed_peers")) {
    for (std::size_t i = 0; i < peers->size(); ++i) {
      ObjectReader peer((*peers)[i], r.child_path("allowed_peers") + "[" + std::to_string(i) + "]", r.errors());
      AllowedPeer p;
      peer.text("ae_title", p.ae_title);
      peer.text("host", p.host);
      if (!p.ae_title.empty() && !valid_ae_title(p.ae_title)) peer.fail("ae_title", "must be 1 to 16 printable characters without backslash");
      if (!p.host.empty() && !valid_ip_address(p.host)) peer.fail("host", "must be an IP address");
      if (p.ae_title.empty() && p.host.empty()) peer.fail("", "needs an ae_title, a host or both");
      d.allowed_peers.push_back(p);
    }
  }
  if (const json* tls = r.find("tls")) {
    ObjectReader t(*tls, r.child_path("tls"), r.errors());
    TlsSettings s;
    t.text("certificate", s.certificate);
    t.text("private_key", s.private_key);
    t.boolean("require_peer_certificate", s.require_peer_certificate);
    t.file_names("trusted_certificates", s.trusted_certificates);
    if (s.certificate.empty()) t.fail("certificate", "is required with TLS");
    if (s.private_key.empty()) t.fail("private_key", "is required with TLS");
    if (s.require_peer_certificate && s.trusted_certificates.empty())
      t.fail("trusted_certificates", "is required when require_peer_certificate is true");
    d.tls = s;
  }
}

void read_storage(ObjectReader& r, StorageSettings& s) {
  r.text("data_dir", s.data_dir);
  if (s.data_dir.empty()) r.fail("data_dir", "must not be empty");
  r.integer("min_free_mb", s.min_free_mb, 0, std::int64_t{1} << 40);
  r.integer("retention_hours", s.retention_hours, 0, 24 * 36500);
  r.integer("purge_interval_s", s.purge_interval_s, 1, 86400 * 7);
  if (const json* database = r.find("database")) {
    ObjectReader d(*database, r.child_path("database"), r.errors());
    d.choice("kind", s.database.kind, {"sqlite", "postgresql"});
    d.text("dsn", s.database.dsn);
    d.integer("pool_size", s.database.pool_size, 1, 64);
    if (s.database.kind == "postgresql" && s.database.dsn.empty()) d.fail("dsn", "is required for postgresql");
    if (s.database.kind == "sqlite" && !s.database.dsn.empty()) d.fail("dsn", "applies to postgresql only");
  }
}

void read_cluster(ObjectReader& r, ClusterSettings& c) {
  r.text("node_id", c.node_id);
  r.text("address", c.address);
  r.integer("heartbeat_s", c.heartbeat_s, 1, 60);
  r.integer("lease_s", c.lease_s, 3, 3600);
  if (c.node_id.size() > 64) r.fail("node_id", "must be at most 64 characters");
  for (char ch : c.node_id)
    if (static_cast<unsigned char>(ch) < 0x21 || static_cast<unsigned char>(ch) > 0x7e) {
      r.fail("node_id", "must be printable ASCII without spaces");
      break;
    }
}

// A calendar date, YYYY-MM-DD, that exists.
bool is_date(const std::string& text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (text[i] < '0' || text[i] > '9') return false;
  const int year = std::stoi(text.substr(0, 4)), month = std::stoi(text.substr(5, 2)), day = std::stoi(text.substr(8, 2));
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return year >= 1970 && month >= 1 && month <= 12 && day >= 1 && day <= days[month - 1];
}

void read_monitoring(ObjectReader& r, MonitoringSettings& m) {
  r.integer("window_days", m.window_days, 1, 365);
  r.text("baseline_from", m.baseline_from);
  r.text("baseline_to", m.baseline_to);
  r.text("baseline_file", m.baseline_file);
  r.number("psi_threshold", m.psi_threshold, 0.001, 10);
  r.integer("min_images", m.min_images, 1, 1000000);
  for (const auto& [key, value] : {std::pair{"baseline_from", &m.baseline_from}, std::pair{"baseline_to", &m.baseline_to}})
    if (!value->empty() && !is_date(*value)) r.fail(key, "must be a date, YYYY-MM-DD");
  if (m.baseline_from.empty() != m.baseline_to.empty())
    r.fail(m.baseline_from.empty() ? "baseline_from" : "baseline_to", "must be given with " +
                                                                           std::string(m.baseline_from.empty() ? "baseline_to" : "baseline_from"));
  else if (!m.baseline_from.empty() && is_date(m.baseline_from) && is_date(m.baseline_to) && m.baseline_to <= m.baseline_from)
    r.fail("baseline_to", "must be after baseline_from");
  if (!m.baseline_file.empty() && !m.baseline_from.empty())
    r.fail("baseline_file", "give either baseline_file or baseline_from/baseline_to, not both");
}

void read_model(ObjectReader& r, ModelSettings& m) {
  if (const json* classifier = r.find("classifier")) {
    ObjectReader c(*classifier, r.child_path("classifier"), r.errors());
    c.text("checkpoint", m.classifier_checkpoint);
    c.text("task", m.classifier_task);
    if (m.classifier_checkpoint.empty()) c.fail("checkpoint", "must name a file or demo:tiny|small|base");
  }
  r.choice("device", m.device, {"cpu", "cuda", "auto"});
  r.choice("precision", m.precision, {"fp32", "bf16", "fp16"});
  r.integer("max_batch", m.max_batch, 1, 1024);
  r.integer("max_batch_wait_ms", m.max_batch_wait_ms, 0, 10000);
  r.integer("cam_top_k", m.cam_top_k, 0, 14);
  r.integer("cpu_threads", m.cpu_threads, 0, 1024);
  if (const json* segmenter = r.find("segmenter")) {
    ObjectReader s(*segmenter, r.child_path("segmenter"), r.errors());
    s.text("checkpoint", m.segmenter_checkpoint);
    s.number("threshold", m.segmenter_threshold, 0.0, 1.0);
    if (m.segmenter_threshold <= 0.0 || m.segmenter_threshold >= 1.0) s.fail("threshold", "must lie strictly between 0 and 1");
    s.integer("input_size", m.segmenter_input_size, 0, 4096);
    if (m.segmenter_input_size % 32 != 0) s.fail("input_size", "must be 0 (the checkpoint's size) or a multiple of 32");
    s.number("min_lung_fraction", m.lung_min_region_fraction, 0.0, 0.5);
    s.number("max_lungs_fraction", m.lung_max_total_fraction, 0.0, 1.0);
  }
}

// "(0008,1030)" (hex group and element) or a keyword ("StudyDescription"); whether a keyword
// names an attribute is checked at start-up against DCMTK's dictionary (app/node_settings.cc).
bool valid_tag_syntax(const std::string& tag) {
  static const std::regex hex_tag(R"(\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))");
  static const std::regex keyword("[A-Za-z][A-Za-z0-9]{0,63}");
  return std::regex_match(tag, hex_tag) || std::regex_match(tag, keyword);
}

void read_priority(ObjectReader& r, PrioritySettings& p) {
  r.boolean("requested_procedure_priority", p.requested_procedure_priority);
  const json* rules = r.array("rules");
  if (!rules) return;
  if (rules->size() > 64) r.fail("rules", "must hold at most 64 rules");
  for (std::size_t i = 0; i < rules->size() && i < 64; ++i) {
    ObjectReader rule((*rules)[i], r.child_path("rules") + "[" + std::to_string(i) + "]", r.errors());
    if (!(*rules)[i].is_object()) continue;  // said so already
    PriorityRule out;
    rule.text("tag", out.tag);
    rule.text("matches", out.matches);
    rule.text("equals", out.equals);
    rule.choice("priority", out.priority, {"stat", "high"});
    if (!valid_tag_syntax(out.tag)) rule.fail("tag", "must be (gggg,eeee) in hex or a DICOM keyword such as StudyDescription");
    if (out.matches.empty() == out.equals.empty()) rule.fail("", "needs exactly one of matches and equals, not empty");
    if (out.matches.size() > 256) rule.fail("matches", "must be at most 256 characters");
    else if (!out.matches.empty()) {
      try {
        std::regex(out.matches, std::regex::ECMAScript | std::regex::icase);
      } catch (const std::regex_error& e) {
        rule.fail("matches", std::string("is not a valid regular expression: ") + e.what());
      }
    }
    p.rules.push_back(out);
  }
}

void read_reporting(ObjectReader& r, ReportingSettings& s) {
  r.boolean("air", s.air);
  // Absent: reporting.air decides (sr_document_type_in_force); given, it must be a type.
  if (r.find("sr_document_type")) r.choice("sr_document_type", s.sr_document_type, {"comprehensive", "enhanced", "comprehensive-3d"});
  r.number("default_operating_point", s.default_operating_point, 0.0, 1.0);
  if (const json* points = r.find("operating_points")) {
    ObjectReader p(*points, r.child_path("operating_points"), r.errors());
    if (points->is_object()) {
      for (const auto& [label, unused] : points->items()) {
        double value = s.default_operating_point;
        p.number(label.c_str(), value, 0.0, 1.0);
        s.operating_points[label] = value;
      }
    }
  }
  if (const json* outputs = r.array("outputs")) {
    s.outputs.clear();
    for (const auto& item : *outputs) {
      if (!item.is_string() || item.get<std::string>().empty()) {
        r.fail("outputs", "must be a list of output kinds (seg, sr, sc, pmap, kos)");
      } else if (std::find(s.outputs.begin(), s.outputs.end(), item.get<std::string>()) != s.outputs.end()) {
        r.fail("outputs", "lists \"" + item.get<std::string>() + "\" twice");
      } else {
        s.outputs.push_back(item.get<std::string>());
      }
    }
  }
  r.boolean("secondary_capture", s.secondary_capture);
  r.integer("sc_max_side", s.sc_max_side, 256, 16384);
}

void read_http(ObjectReader& r, HttpSettings& h, std::vector<ConfigError>& errors) {
  r.integer("port", h.port, 1, 65535);
  r.text("listen_address", h.listen_address);
  in_addr parsed{};
  if (::inet_pton(AF_INET, h.listen_address.c_str(), &parsed) != 1) r.fail("listen_address", "must be an IPv4 address");
  r.integer("max_connections", h.max_connections, 1, 256);
  r.integer("max_queued", h.max_queued, 1, 4096);
  r.integer("timeout_s", h.timeout_s, 1, 600);
  r.integer("max_request_bytes", h.max_request_bytes, 1024, 16 * 1024 * 1024);
  if (const json* tokens = r.array("tokens")) {
    for (std::size_t i = 0; i < tokens->size(); ++i) {
      ObjectReader t((*tokens)[i], r.child_path("tokens") + "[" + std::to_string(i) + "]", errors);
      ApiToken token;
      t.text("sha256", token.sha256);
      t.choice("role", token.role, {"read", "review", "admin", "store"});
      t.text("name", token.name);
      for (char& c : token.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const bool hex = token.sha256.size() == 64 &&
                       token.sha256.find_first_not_of("0123456789abcdef") == std::string::npos;
      if (!hex) t.fail("sha256", "must be the 64 hex digits of the token's SHA-256 (printf %s TOKEN | sha256sum)");
      h.tokens.push_back(token);
    }
  }
  if (const json* tls = r.find("tls")) {
    ObjectReader t(*tls, r.child_path("tls"), errors);
    HttpTls settings;
    t.text("certificate", settings.certificate);
    t.text("key", settings.key);
    if (settings.certificate.empty()) t.fail("certificate", "is required with TLS");
    if (settings.key.empty()) t.fail("key", "is required with TLS");
    h.tls = settings;
  }
}

void read_delivery(ObjectReader& r, DeliverySettings& d) {
  r.integer("max_attempts", d.max_attempts, 1, 10000);
  r.integer("max_age_h", d.max_age_h, 1, 24 * 365);
  r.integer("retry_initial_s", d.retry_initial_s, 0, 86400);
  r.integer("retry_max_s", d.retry_max_s, 0, 86400);
  r.integer("connect_timeout_s", d.connect_timeout_s, 1, 600);
  r.integer("dimse_timeout_s", d.dimse_timeout_s, 1, 3600);
}

// Keys said twice in one object. nlohmann keeps the last silently; a config that says a thing
// twice is refused instead, since the admin cannot know which one the node believed.
std::vector<ConfigError> duplicate_keys(const std::string& json_text) {
  struct Level {
    bool array = false;
    std::size_t next_index = 0;
    std::string path, key;
    std::set<std::string> keys;
  };
  std::vector<Level> levels;
  std::vector<ConfigError> duplicates;
  auto join = [](const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; };
  auto child_path = [&]() -> std::string {
    if (levels.empty()) return "";
    Level& parent = levels.back();
    if (parent.array) return parent.path + "[" + std::to_string(parent.next_index++) + "]";
    return join(parent.path, parent.key);
  };
  json::parser_callback_t on_event = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        std::string path = child_path();
        levels.push_back({event == json::parse_event_t::array_start, 0, std::move(path), "", {}});
        break;
      }
      case json::parse_event_t::key: {
        Level& object = levels.back();
        object.key = parsed.get<std::string>();
        if (!object.keys.insert(object.key).second)
          duplicates.push_back({join(object.path, object.key), "is given twice in the same object; say it once"});
        break;
      }
      case json::parse_event_t::value:
        if (!levels.empty() && levels.back().array) ++levels.back().next_index;
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        levels.pop_back();
        break;
    }
    return true;
  };
  try {
    json::parse(json_text, on_event);
  } catch (const json::parse_error&) {
    // parse_config reports it
  }
  return duplicates;
}

}  // namespace

ConfigResult parse_config(const std::string& json_text) {
  std::vector<ConfigError> errors;
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return std::unexpected(std::vector<ConfigError>{{"", std::string("not valid JSON: ") + e.what()}});
  }
  if (auto duplicates = duplicate_keys(json_text); !duplicates.empty()) return std::unexpected(duplicates);
  NodeConfig config;
  {
    ObjectReader root(document, "", errors);
    auto section = [&](const char* key, auto&& read) {
      if (const json* value = root.find(key)) {
        ObjectReader r(*value, key, errors);
        read(r);
      }
    };
    section("dicom", [&](ObjectReader& r) { read_dicom(r, config.dicom); });
    section("storage", [&](ObjectReader& r) { read_storage(r, config.storage); });
    section("cluster", [&](ObjectReader& r) { read_cluster(r, config.cluster); });
    section("study", [&](ObjectReader& r) {
      r.integer("quiet_period_s", config.study.quiet_period_s, 0, 86400);
      r.boolean("accept_empty_body_part", config.study.accept_empty_body_part);
    });
    section("priority", [&](ObjectReader& r) { read_priority(r, config.priority); });
    section("model", [&](ObjectReader& r) { read_model(r, config.model); });
    section("workers", [&](ObjectReader& r) {
      r.integer("count", config.workers.count, 1, 64);
      r.integer("max_attempts", config.workers.max_attempts, 1, 100);
      r.integer("retry_initial_s", config.workers.retry_initial_s, 0, 86400);
      r.integer("retry_max_s", config.workers.retry_max_s, 0, 86400 * 7);
    });
    section("reporting", [&](ObjectReader& r) { read_reporting(r, config.reporting); });
    section("delivery", [&](ObjectReader& r) { read_delivery(r, config.delivery); });
    section("http", [&](ObjectReader& r) { read_http(r, config.http, errors); });
    section("stow", [&](ObjectReader& r) {
      r.integer("max_body_bytes", config.stow.max_body_bytes, 1024, 64LL << 30);
      r.integer("max_instances", config.stow.max_instances, 1, 100000);
      r.integer("timeout_s", config.stow.timeout_s, 1, 3600);
    });
    section("logging", [&](ObjectReader& r) {
      r.choice("level", config.logging.level, {"trace", "debug", "info", "warn", "error"});
      r.choice("format", config.logging.format, {"text", "json"});
      r.text("audit_file", config.logging.audit_file);
    });
    section("monitoring", [&](ObjectReader& r) { read_monitoring(r, config.monitoring); });
    if (const json* destinations = root.array("destinations"))
      read_destinations(*destinations, "destinations", errors, config.destinations);
    if (const json* notifications = root.array("notifications"))
      read_notifications(*notifications, "notifications", errors, config.notifications);
    if (const json* sources = root.array("sources")) read_sources(*sources, "sources", errors, config.sources);
    section("retrieval", [&](ObjectReader& r) { read_retrieval(r, config.retrieval); });
  }
  if (config.workers.retry_max_s < config.workers.retry_initial_s)
    errors.push_back({"workers.retry_max_s", "must not be less than workers.retry_initial_s"});
  if (config.delivery.retry_max_s < config.delivery.retry_initial_s)
    errors.push_back({"delivery.retry_max_s", "must not be less than delivery.retry_initial_s"});
  for (std::size_t i = 0; i < config.notifications.size(); ++i)
    for (const auto& d : config.destinations)
      if (d.name == config.notifications[i].name)
        errors.push_back({"notifications[" + std::to_string(i) + "].name", "must differ from every destination's name"});
  if (config.dicom.port == config.http.port) errors.push_back({"http.port", "must differ from dicom.port"});
  if (config.cluster.lease_s < 3 * config.cluster.heartbeat_s)
    errors.push_back({"cluster.lease_s", "must be at least 3 heartbeats (3 x cluster.heartbeat_s)"});
  if (!errors.empty()) return std::unexpected(errors);
  return config;
}

ConfigResult load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::unexpected(std::vector<ConfigError>{{"", "cannot open config file " + path}});
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str());
}

const std::vector<std::string>& output_kinds() {
  static const std::vector<std::string> kinds{"sr", "sc", "seg", "pmap", "kos"};
  return kinds;
}

std::string describe(const ConfigError& error) {
  return error.key_path.empty() ? error.message : error.key_path + ": " + error.message;
}

}  // namespace evax::config
