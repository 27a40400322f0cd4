#include "evax/config/node_config.h"

#include <arpa/inet.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace evax::config {
namespace {

using json = nlohmann::json;

// Walks one JSON object: each read records the key as known and any problem with its path;
// on destruction every key that was never read is reported, so a misspelt key is an error
// rather than a silently ignored setting.
class ObjectReader {
 public:
  ObjectReader(const json& value, std::string path, std::vector<ConfigError>& errors)
      : value_(value), path_(std::move(path)), errors_(errors) {
    if (!value_.is_object()) fail("", "must be an object");
  }
  ~ObjectReader() {
    if (!value_.is_object()) return;
    for (const auto& [key, unused] : value_.items())
      if (!known_.count(key)) fail(key, "unknown key");
  }
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  void fail(const std::string& key, const std::string& message) {
    errors_.push_back({key.empty() ? path_ : child_path(key), message});
  }

  const json* find(const char* key) {
    known_.insert(key);
    if (!value_.is_object()) return nullptr;
    auto it = value_.find(key);
    return it == value_.end() || it->is_null() ? nullptr : &*it;
  }

  void text(const char* key, std::string& target) {
    if (const json* v = find(key)) {
      if (v->is_string()) target = v->get<std::string>();
      else fail(key, "must be a string");
    }
  }

  void choice(const char* key, std::string& target, const std::vector<std::string>& choices) {
    std::string value = target;
    text(key, value);
    for (const auto& c : choices)
      if (c == value) {
        target = value;
        return;
      }
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
    fail(key, "must be one of " + list);
  }

  template <class Int>
  void integer(const char* key, Int& target, std::int64_t low, std::int64_t high) {
    if (const json* v = find(key)) {
      if (v->is_number_integer() && v->get<std::int64_t>() >= low && v->get<std::int64_t>() <= high) {
        target = static_cast<Int>(v->get<std::int64_t>());
      } else {
        fail(key, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high));
      }
    }
  }

  void number(const char* key, double& target, double low, double high) {
    if (const json* v = find(key)) {
      if (v->is_number() && v->get<double>() >= low && v->get<double>() <= high) {
        target = v->get<double>();
      } else {
        fail(key, "must be a number from " + format_number(low) + " to " + format_number(high));
      }
    }
  }

  static std::string format_number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
  }

  void boolean(const char* key, bool& target) {
    if (const json* v = find(key)) {
      if (v->is_boolean()) target = v->get<bool>();
      else fail(key, "must be true or false");
    }
  }

  const json* array(const char* key) {
    const json* v = find(key);
    if (v && !v->is_array()) {
      fail(key, "must be a list");
      return nullptr;
    }
    return v;
  }

  void file_names(const char* key, std::vector<std::string>& target) {
    if (const json* list = array(key)) {
      for (const auto& item : *list) {
        if (item.is_string()) target.push_back(item.get<std::string>());
        else fail(key, "must be a list of file names");
      }
    }
  }

  // A list whose items are each one of `choices`, at least one, none twice.
  void choice_list(const char* key, std::vector<std::string>& target, const std::vector<std::string>& choices) {
    const json* list = array(key);
    if (!list) return;
    std::string allowed;
    for (const auto& c : choices) allowed += (allowed.empty() ? "" : ", ") + c;
    if (list->empty()) fail(key, "must name at least one of " + allowed + " (leave it out for all)");
    for (const auto& item : *list) {
      const std::string value = item.is_string() ? item.get<std::string>() : item.dump();
      if (std::find(choices.begin(), choices.end(), value) == choices.end())
        fail(key, "\"" + value + "\" is not one of " + allowed);
      else if (std::find(target.begin(), target.end(), value) != target.end())
        fail(key, "names \"" + value + "\" twice");
      else
        target.push_back(value);
    }
  }

  std::vector<ConfigError>& errors() { return errors_; }

 private:
  const json& value_;
  std::string path_;
  std::vector<ConfigError>& errors_;
  std::set<std::string> known_;
};

// PS3.5: up to 16 characters of the default repertoire, no backslash or control
// characters, not only spaces.
bool valid_ae_title(const std::string& ae) {
  if (ae.empty() || ae.size() > 16 || ae.find_first_not_of(' ') == std::string::npos) return false;
  for (unsigned char c : ae)
    if (c < 0x20 || c >= 0x7f || c == '\\') return false;
  return true;
}

bool valid_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

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
      t.choice("role", token.role, {"read", "admin"});
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

void read_destinations(const json& list, const std::string& path, std::vector<ConfigError>& errors,
                       std::vector<Destination>& out) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader r(list[i], path + "[" + std::to_string(i) + "]", errors);
    Destination d;
    r.text("name", d.name);
    r.text("ae_title", d.ae_title);
    r.text("host", d.host);
    r.integer("port", d.port, 1, 65535);
    r.choice_list("outputs", d.outputs, output_kinds());
    if (d.name.empty()) r.fail("name", "is required");
    else if (!names.insert(d.name).second) r.fail("name", "is used twice");
    if (!valid_ae_title(d.ae_title)) r.fail("ae_title", "must be 1 to 16 printable characters without backslash");
    if (d.host.empty()) r.fail("host", "is required");
    if (const json* tls = r.find("tls")) {
      ObjectReader t(*tls, r.child_path("tls"), errors);
      DestinationTls settings;
      t.text("certificate", settings.certificate);
      t.text("private_key", settings.private_key);
      t.boolean("verify_peer", settings.verify_peer);
      t.file_names("trusted_certificates", settings.trusted_certificates);
      if (settings.verify_peer && settings.trusted_certificates.empty())
        t.fail("trusted_certificates", "is required to verify the destination (or set verify_peer to false)");
      if (settings.certificate.empty() != settings.private_key.empty())
        t.fail(settings.certificate.empty() ? "certificate" : "private_key", "goes with " +
               std::string(settings.certificate.empty() ? "private_key" : "certificate"));
      d.tls = settings;
    }
    out.push_back(d);
  }
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
    section("logging", [&](ObjectReader& r) {
      r.choice("level", config.logging.level, {"trace", "debug", "info", "warn", "error"});
      r.choice("format", config.logging.format, {"text", "json"});
      r.text("audit_file", config.logging.audit_file);
    });
    if (const json* destinations = root.array("destinations"))
      read_destinations(*destinations, "destinations", errors, config.destinations);
  }
  if (config.workers.retry_max_s < config.workers.retry_initial_s)
    errors.push_back({"workers.retry_max_s", "must not be less than workers.retry_initial_s"});
  if (config.delivery.retry_max_s < config.delivery.retry_initial_s)
    errors.push_back({"delivery.retry_max_s", "must not be less than delivery.retry_initial_s"});
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
