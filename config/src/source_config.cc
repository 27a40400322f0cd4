// The config's `sources` and `retrieval` sections (see object_reader.h).
#include <set>

#include "object_reader.h"

namespace evax::config {

void read_sources(const json& list, const std::string& path, std::vector<ConfigError>& errors, std::vector<Source>& out) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader r(list[i], path + "[" + std::to_string(i) + "]", errors);
    Source s;
    r.text("name", s.name);
    r.text("ae_title", s.ae_title);
    r.text("host", s.host);
    r.integer("port", s.port, 1, 65535);
    r.choice("retrieve", s.retrieve, {"c-move", "c-get"});
    if (s.name.empty()) r.fail("name", "is required");
    else if (!names.insert(s.name).second) r.fail("name", "is used twice");
    if (!valid_ae_title(s.ae_title)) r.fail("ae_title", "must be 1 to 16 printable characters without backslash");
    if (s.host.empty()) r.fail("host", "is required");
    if (const json* tls = r.find("tls")) {
      // As destinations[].tls: the source's certificate must chain to a trusted one.
      ObjectReader t(*tls, r.child_path("tls"), errors);
      DestinationTls settings;
      t.text("certificate", settings.certificate);
      t.text("private_key", settings.private_key);
      t.boolean("verify_peer", settings.verify_peer);
      t.file_names("trusted_certificates", settings.trusted_certificates);
      if (settings.verify_peer && settings.trusted_certificates.empty())
        t.fail("trusted_certificates", "is required to verify the source (or set verify_peer to false)");
      if (settings.certificate.empty() != settings.private_key.empty())
        t.fail(settings.certificate.empty() ? "certificate" : "private_key",
               "goes with " + std::string(settings.certificate.empty() ? "private_key" : "certificate"));
      s.tls = settings;
    }
    out.push_back(s);
  }
}

void read_retrieval(ObjectReader& r, RetrievalSettings& settings) {
  r.integer("per_minute", settings.per_minute, 1, 6000);
  r.integer("max_concurrent", settings.max_concurrent, 1, 16);
  r.integer("connect_timeout_s", settings.connect_timeout_s, 1, 600);
  r.integer("timeout_s", settings.timeout_s, 1, 86400);
  r.integer("max_sweep_studies", settings.max_sweep_studies, 1, 100000);
}

}  // namespace evax::config
