#include "orthanc_peer.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace evax::testing {
namespace {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

HttpAnswer http(int port, const std::string& method, const std::string& path, const std::string& body,
                const std::string& content_type) {
  Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
  session.setTimeout(Poco::Timespan(60, 0));
  Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  if (method != Poco::Net::HTTPRequest::HTTP_GET) {
    request.setContentType(content_type);
    request.setContentLength(static_cast<std::streamsize>(body.size()));
  }
  session.sendRequest(request) << body;
  Poco::Net::HTTPResponse response;
  std::istream& in = session.receiveResponse(response);
  return {static_cast<int>(response.getStatus()), std::string(std::istreambuf_iterator<char>(in), {})};
}

nlohmann::json json_or_throw(const HttpAnswer& answer, const std::string& what) {
  if (answer.status / 100 != 2) throw std::runtime_error(what + ": HTTP " + std::to_string(answer.status) + " " + answer.body);
  return answer.body.empty() ? nlohmann::json() : nlohmann::json::parse(answer.body);
}

}  // namespace

OrthancPeer::OrthancPeer(const std::vector<OrthancModality>& modalities)
    : http_port_(free_tcp_port()), dicom_port_(free_tcp_port()) {
  char pattern[] = "/tmp/evax-orthanc-XXXXXX";
  dir_ = ::mkdtemp(pattern);
  nlohmann::json modality_map = nlohmann::json::object();
  for (const auto& m : modalities) modality_map[m.name] = {m.ae_title, m.host, m.port};
  const nlohmann::json config = {
      {"Name", "evax-test-orthanc"},
      {"StorageDirectory", (dir_ / "storage").string()},
      {"IndexDirectory", (dir_ / "index").string()},
      {"HttpPort", http_port_},
      {"DicomPort", dicom_port_},
      {"DicomAet", "ORTHANC"},
      {"RemoteAccessAllowed", false},  // the REST API answers loopback only
      {"AuthenticationEnabled", false},
      {"Plugins", nlohmann::json::array()},  // none of Debian's: this PACS is plain Orthanc
      {"DicomModalities", modality_map},
      {"DicomAlwaysAllowStore", true},
      {"DicomCheckCalledAet", false},
      {"DicomScuTimeout", 30},
      {"StableAge", 2},
      {"SaveJobs", false},
      {"ConcurrentJobs", 2},
  };
  std::ofstream(dir_ / "orthanc.json") << config.dump(2);
  process_.start({"/usr/sbin/Orthanc", (dir_ / "orthanc.json").string()}, (dir_ / "orthanc.log").string());
  for (int i = 0; i < 600; ++i) {
    try {
      if (http(http_port_, "GET", "/system", "", "").status == 200) return;
    } catch (const std::exception&) {
      // not listening yet
    }
    if (!process_.running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("Orthanc did not start:\n" + log());
}

OrthancPeer::~OrthancPeer() {
  if (process_.running()) {
    process_.signal(SIGTERM);
    if (process_.wait(std::chrono::seconds(20)) == -1 && process_.running()) process_.signal(SIGKILL);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string OrthancPeer::upload(const std::string& dicom_file) {
  std::ifstream in(dicom_file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return post("/instances", bytes, "application/dicom").at("ID").get<std::string>();
}

void OrthancPeer::send_to_modality(const std::string& modality, const std::vector<std::string>& resource_ids) {
  post("/modalities/" + modality + "/store", nlohmann::json{{"Resources", resource_ids}, {"Synchronous", true}}.dump());
}

std::vector<nlohmann::json> OrthancPeer::study_instances(const std::string& study_instance_uid) {
  const auto studies = post("/tools/find", nlohmann::json{{"Level", "Study"}, {"Query", {{"StudyInstanceUID", study_instance_uid}}}}.dump());
  std::vector<nlohmann::json> out;
  for (const auto& study : studies)
    for (const auto& instance : get("/studies/" + study.get<std::string>() + "/instances"))
      out.push_back(get("/instances/" + instance.at("ID").get<std::string>() + "/simplified-tags"));
  return out;
}

nlohmann::json OrthancPeer::get(const std::string& path) { return json_or_throw(http(http_port_, "GET", path, "", ""), "GET " + path); }

nlohmann::json OrthancPeer::post(const std::string& path, const std::string& body, const std::string& content_type) {
  return json_or_throw(http(http_port_, "POST", path, body, content_type), "POST " + path);
}

std::string OrthancPeer::log() const {
  std::ifstream in(dir_ / "orthanc.log");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace evax::testing
