// notifications[]: the RISs told of each finished study. A notification's name shares the
// outbox with the destinations' names, so it must differ from every destination's.
#include "object_reader.h"

namespace evax::config {

void read_notifications(const json& list, const std::string& path, std::vector<ConfigError>& errors,
                        std::vector<Notification>& out) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader r(list[i], path + "[" + std::to_string(i) + "]", errors);
    Notification n;
    r.text("name", n.name);
    r.choice("kind", n.kind, {"hl7", "fhir"});
    if (const json* labels = r.array("urgent_findings")) {
      for (const auto& label : *labels) {
        if (!label.is_string() || label.get<std::string>().empty()) r.fail("urgent_findings", "must be a list of finding labels");
        else n.urgent_findings.push_back(label.get<std::string>());
      }
    }
    if (n.name.empty()) r.fail("name", "is required");
    else if (!names.insert(n.name).second) r.fail("name", "is used twice");
    if (n.kind == "hl7") {
      r.text("host", n.host);
      r.integer("port", n.port, 1, 65535);
      r.text("sending_application", n.sending_application);
      r.text("sending_facility", n.sending_facility);
      r.text("receiving_application", n.receiving_application);
      r.text("receiving_facility", n.receiving_facility);
      r.integer("connect_timeout_s", n.connect_timeout_s, 1, 600);
      r.integer("ack_timeout_s", n.ack_timeout_s, 1, 3600);
      if (n.host.empty()) r.fail("host", "is required for kind hl7");
      if (n.sending_application.empty()) r.fail("sending_application", "must not be empty");
    } else if (n.kind == "fhir") {
      r.text("url", n.url);
      r.text("bearer_token", n.bearer_token);
      r.choice("mode", n.mode, {"transaction", "resources"});
      r.integer("timeout_s", n.timeout_s, 1, 3600);
      if (n.url.rfind("http://", 0) != 0 && n.url.rfind("https://", 0) != 0)
        r.fail("url", "must be the FHIR server's base URL, http:// or https://");
      for (char c : n.bearer_token)
        if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
          r.fail("bearer_token", "must be printable ASCII without spaces");
          break;
        }
    }
    out.push_back(n);
  }
}

}  // namespace evax::config
