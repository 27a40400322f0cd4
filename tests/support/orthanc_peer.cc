#include "orthanc_peer.h"

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "http_client.h"

namespace evax::testing {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
namespace {

constexpr auto kRequestTimeout = 30s;
// A synchronous store waits for every C-STORE of the job (DicomScuTimeout bounds each one).
constexpr auto kStoreTimeout = 120s;
constexpr auto kStartTimeout = 30s;
constexpr const char* kOrthancBinary = "/usr/sbin/Orthanc";
constexpr const char* kDicomWebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

// One request on a fresh connection to Orthanc on loopback; a connection failure throws.
HttpAnswer http(int port, const std::string& method, const std::string& path, const std::string& body,
                const std::string& content_type, std::chrono::seconds timeout) {
  HttpAnswer answer = http_call(port, {method, path, "", body, method == "GET" ? "" : content_type, "", timeout});
  if (answer.status == 0) throw std::runtime_error(method + " " + path + ": " + answer.error);
  return answer;
}

nlohmann::json json_or_throw(const HttpAnswer& answer, const std::string& what) {
  if (answer.status / 100 != 2)
    throw std::runtime_error(what + ": HTTP " + std::to_string(answer.status) + " " + answer.body);
  return answer.body.empty() ? nlohmann::json() : nlohmann::json::parse(answer.body);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

OrthancPeer::OrthancPeer(std::vector<OrthancModality> modalities, bool dicomweb, nlohmann::json extra_config) {
  char pattern[] = "/tmp/evax-orthanc-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  nlohmann::json modality_map = nlohmann::json::object();
  for (const auto& m : modalities) modality_map[m.name] = {{"AET", m.ae_title}, {"Host", m.host}, {"Port", m.port}};
  // The ports were free a moment ago; another process may take one before Orthanc binds it,
  // and then Orthanc exits at once: try again with new ones.
  for (int attempt = 1;; ++attempt) {
    http_port_ = free_tcp_port();
    do dicom_port_ = free_tcp_port(); while (dicom_port_ == http_port_);
    nlohmann::json config = {
        {"Name", "evax-test-orthanc"},
        {"StorageDirectory", (dir_ / "storage").string()},
        {"IndexDirectory", (dir_ / "index").string()},
        // None of Debian's (/usr/share/orthanc/plugins) but the DICOMweb one when asked for.
        {"Plugins", dicomweb ? nlohmann::json::array({kDicomWebPlugin}) : nlohmann::json::array()},
        {"HttpServerEnabled", true},
        {"HttpPort", http_port_},
        {"RemoteAccessAllowed", false},  // the REST API answers loopback clients only (it binds all interfaces)
        {"AuthenticationEnabled", false},
        {"WebDavEnabled", false},
        {"DicomServerEnabled", true},
        {"DicomPort", dicom_port_},
        {"DicomAet", "ORTHANC"},
        {"DicomCheckCalledAet", false},
        {"DicomAlwaysAllowEcho", true},
        {"DicomAlwaysAllowStore", true},  // any calling AE may store, as from a modality not configured here
        {"DicomModalities", modality_map},
        {"DicomModalitiesInDatabase", false},  // the modalities are exactly the ones above
        {"DicomScuTimeout", 10},  // a silent destination fails a send in seconds, not minutes
        {"StableAge", 1},
        {"ConcurrentJobs", 2},
        {"SaveJobs", false},  // nothing outlives the test
        {"SyncStorageArea", false},  // no fsync per instance: the storage is thrown away
    };
    if (dicomweb) config["DicomWeb"] = {{"Enable", true}, {"Root", "/dicom-web/"}};
    for (const auto& [key, value] : extra_config.items()) config[key] = value;
    std::ofstream(dir_ / "orthanc.json") << config.dump(2);
    process_.start({kOrthancBinary, "--verbose", (dir_ / "orthanc.json").string()}, (dir_ / "orthanc.log").string());
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    std::string failure;
    for (;;) {
      try {
        if (http(http_port_, "GET", "/system", "", "", 2s).status == 200) return;
      } catch (const std::exception&) {
        // not listening yet
      }
      if (!process_.running()) {
        failure = "Orthanc exited during start-up";
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        failure = "Orthanc did not answer GET /system within " + std::to_string(kStartTimeout.count()) + " s";
        break;
      }
      std::this_thread::sleep_for(50ms);
    }
    const std::string text = log();
    stop();
    const bool port_taken = text.find("already in use") != std::string::npos;
    if (attempt < 3 && port_taken) {
      fs::remove(dir_ / "orthanc.log");
      continue;
    }
    // The destructor does not run for a constructor that throws.
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
    throw std::runtime_error(failure + ":\n" + text);
  }
}

OrthancPeer::~OrthancPeer() {
  stop();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void OrthancPeer::stop() {
  if (!process_.running()) return;
  process_.signal(SIGTERM);
  process_.wait(10s);  // kills it when it is still running then
}

std::string OrthancPeer::upload(const std::string& dicom_file_path) {
  std::ifstream in(dicom_file_path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + dicom_file_path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return post("/instances", bytes, "application/dicom").at("ID").get<std::string>();
}

void OrthancPeer::send_to_modality(const std::string& modality_name, const std::vector<std::string>& orthanc_ids) {
  const std::string path = "/modalities/" + modality_name + "/store";
  const nlohmann::json body = {{"Resources", orthanc_ids}, {"Synchronous", true}};
  json_or_throw(http(http_port_, "POST", path, body.dump(), "application/json", kStoreTimeout), "POST " + path);
}

std::vector<nlohmann::json> OrthancPeer::study_instances_tags(const std::string& study_instance_uid) {
  const nlohmann::json query = {{"Level", "Study"}, {"Query", {{"StudyInstanceUID", study_instance_uid}}}};
  std::vector<nlohmann::json> tags;
  for (const auto& study : post("/tools/find", query.dump()))
    for (const auto& instance : get("/studies/" + study.get<std::string>() + "/instances"))
      tags.push_back(get("/instances/" + instance.at("ID").get<std::string>() + "/simplified-tags"));
  return tags;
}

nlohmann::json OrthancPeer::get(const std::string& path) {
  return json_or_throw(http(http_port_, "GET", path, "", "", kRequestTimeout), "GET " + path);
}

nlohmann::json OrthancPeer::post(const std::string& path, const std::string& body, const std::string& content_type) {
  return json_or_throw(http(http_port_, "POST", path, body, content_type, kRequestTimeout), "POST " + path);
}

std::string OrthancPeer::log() const { return read_file(dir_ / "orthanc.log"); }

}  // namespace evax::testing
