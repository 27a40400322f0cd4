// The destinations list: DICOM (C-STORE) and DICOMweb (STOW-RS) destinations, their TLS and,
// for DICOMweb, the credentials, read from the config, a file or an environment variable.
#include <cstdlib>
#include <fstream>
#include <regex>

#include "object_reader.h"

namespace evax::config {
namespace {

// A secret given in the config (`key`), in a file (`key_file`: its first line) or in an
// environment variable (`key_env`): at most one of the three. Returns whether one was given.
bool read_secret(ObjectReader& r, const std::string& key, std::string& target) {
  std::string inline_value, file, variable;
  const std::string file_key = key + "_file", env_key = key + "_env";
  r.text(key.c_str(), inline_value);
  r.text(file_key.c_str(), file);
  r.text(env_key.c_str(), variable);
  const int given = !inline_value.empty() + !file.empty() + !variable.empty();
  if (given > 1) {
    r.fail(key, "give one of " + key + ", " + file_key + " and " + env_key);
    return true;
  }
  if (!inline_value.empty()) target = inline_value;
  if (!file.empty()) {
    std::ifstream in(file);
    std::getline(in, target);
    while (!target.empty() && (target.back() == '\r' || target.back() == ' ')) target.pop_back();
    if (!in && target.empty()) r.fail(file_key, "cannot read " + file);
    else if (target.empty()) r.fail(file_key, file + " is empty");
  }
  if (!variable.empty()) {
    const char* value = std::getenv(variable.c_str());
    if (!value || !*value) r.fail(env_key, "the environment variable " + variable + " is not set");
    else target = value;
  }
  return given > 0;
}

void read_auth(ObjectReader& r, DestinationAuth& auth) {
  const bool bearer = read_secret(r, "bearer_token", auth.bearer_token);
  r.text("username", auth.username);
  const bool password = read_secret(r, "password", auth.password);
  if (bearer && (password || !auth.username.empty())) r.fail("", "is either a bearer token or a username and password");
  else if (!bearer && auth.username.empty()) r.fail("", "needs bearer_token (or _file, _env) or username and password");
  else if (!bearer && !password) r.fail("password", "is required with username (or password_file, password_env)");
  if (auth.username.find(':') != std::string::npos) r.fail("username", "must not contain ':' (basic authentication)");
}

void read_tls(ObjectReader& r, Destination& d) {
  const json* tls = r.find("tls");
  if (!tls) return;
  ObjectReader t(*tls, r.child_path("tls"), r.errors());
  DestinationTls settings;
  t.text("certificate", settings.certificate);
  t.text("private_key", settings.private_key);
  t.boolean("verify_peer", settings.verify_peer);
  t.file_names("trusted_certificates", settings.trusted_certificates);
  if (settings.verify_peer && settings.trusted_certificates.empty())
    t.fail("trusted_certificates", "is required to verify the destination (or set verify_peer to false)");
  if (settings.certificate.empty() != settings.private_key.empty())
    t.fail(settings.certificate.empty() ? "certificate" : "private_key",
           "goes with " + std::string(settings.certificate.empty() ? "private_key" : "certificate"));
  d.tls = settings;
}

// kind "dicomweb": the STOW-RS service's base URL and how to log in to it.
void read_dicomweb(ObjectReader& r, Destination& d) {
  for (const char* key : {"ae_title", "host", "port"})
    if (r.find(key)) r.fail(key, "is for kind dicom (a dicomweb destination has url)");
  r.text("url", d.url);
  r.integer("timeout_s", d.timeout_s, 1, 3600);
  // scheme://host[:port][/path], no credentials, query or fragment (credentials go in auth).
  static const std::regex kUrl(R"(^(https?)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^?#@\s]*)?$)");
  std::smatch match;
  if (d.url.empty()) r.fail("url", "is required for kind dicomweb");
  else if (d.url.find('@') != std::string::npos) r.fail("url", "must not carry credentials (use auth)");
  else if (!std::regex_match(d.url, match, kUrl)) r.fail("url", "must be an http:// or https:// URL without query, e.g. https://pacs:8443/dicom-web");
  else if (match[3].matched && (std::stoi(match[3].str().substr(1)) < 1 || std::stoi(match[3].str().substr(1)) > 65535))
    r.fail("url", "has a port outside 1-65535");
  read_tls(r, d);
  if (d.tls && d.url.rfind("https://", 0) != 0) r.fail("tls", "needs an https:// url");
  if (const json* auth = r.find("auth")) {
    ObjectReader a(*auth, r.child_path("auth"), r.errors());
    DestinationAuth settings;
    read_auth(a, settings);
    d.auth = settings;
  }
}

}  // namespace

void read_destinations(const json& list, const std::string& path, std::vector<ConfigError>& errors,
                       std::vector<Destination>& out) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    ObjectReader r(list[i], path + "[" + std::to_string(i) + "]", errors);
    Destination d;
    r.text("name", d.name);
    r.choice("kind", d.kind, {"dicom", "dicomweb"});
    r.choice_list("outputs", d.outputs, output_kinds());
    if (d.name.empty()) r.fail("name", "is required");
    else if (!names.insert(d.name).second) r.fail("name", "is used twice");
    if (d.kind == "dicomweb") {
      read_dicomweb(r, d);
    } else {
      for (const char* key : {"url", "auth", "timeout_s"})
        if (r.find(key)) r.fail(key, "is for kind dicomweb");
      r.text("ae_title", d.ae_title);
      r.text("host", d.host);
      r.integer("port", d.port, 1, 65535);
      if (!valid_ae_title(d.ae_title)) r.fail("ae_title", "must be 1 to 16 printable characters without backslash");
      if (d.host.empty()) r.fail("host", "is required");
      read_tls(r, d);
    }
    out.push_back(d);
  }
}

}  // namespace evax::config
