// OrthancPeer: a real Orthanc PACS for end-to-end tests, in its own temporary directory with
// its own configuration, storage, index and loopback ports, and no plugins but (on request)
// Debian's DICOMweb plugin. Driven over its REST API the way an admin or a script would:
// upload, find a study, send to a modality.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "process.h"

namespace evax::testing {

// A DICOM peer Orthanc may send to (an entry of its "DicomModalities").
struct OrthancModality {
  std::string name;  // the REST name: /modalities/{name}
  std::string ae_title;
  std::string host;
  int port = 0;
};

class OrthancPeer {
 public:
  // Writes the configuration, starts /usr/sbin/Orthanc and waits (up to 30 s) until GET
  // /system answers 200. Throws std::runtime_error with Orthanc's log when it does not. With
  // `dicomweb`, Orthanc loads its DICOMweb plugin (orthanc-dicomweb) at dicomweb_url().
  // `extra_config` keys replace or add to the configuration's (e.g. "DicomWeb" with "Servers").
  explicit OrthancPeer(std::vector<OrthancModality> modalities = {}, bool dicomweb = false,
                       nlohmann::json extra_config = nlohmann::json::object());
  // SIGTERM, then SIGKILL if Orthanc has not exited after 10 s; removes the directory.
  ~OrthancPeer();
  OrthancPeer(const OrthancPeer&) = delete;
  OrthancPeer& operator=(const OrthancPeer&) = delete;

  int http_port() const { return http_port_; }
  int dicom_port() const { return dicom_port_; }
  std::string ae_title() const { return "ORTHANC"; }
  // The DICOMweb root (QIDO-RS, WADO-RS, STOW-RS), without a trailing slash.
  std::string dicomweb_url() const { return "http://127.0.0.1:" + std::to_string(http_port_) + "/dicom-web"; }
  const std::filesystem::path& dir() const { return dir_; }

  // POST /instances with the file's bytes; the Orthanc id of the instance (also when Orthanc
  // had it already).
  std::string upload(const std::string& dicom_file_path);
  // POST /modalities/{name}/store, synchronous: returns once Orthanc's C-STOREs are answered.
  void send_to_modality(const std::string& modality_name, const std::vector<std::string>& orthanc_ids);
  // The simplified tags of every instance of the study; empty when Orthanc has no such study.
  std::vector<nlohmann::json> study_instances_tags(const std::string& study_instance_uid);

  // REST calls with a JSON answer; a non-2xx answer throws std::runtime_error with the
  // status and body.
  nlohmann::json get(const std::string& path);
  nlohmann::json post(const std::string& path, const std::string& body,
                      const std::string& content_type = "application/json");

  // Orthanc's stdout and stderr so far (it logs at info level).
  std::string log() const;

 private:
  void stop();

  std::filesystem::path dir_;
  int http_port_ = 0;
  int dicom_port_ = 0;
  BackgroundProcess process_;
};

}  // namespace evax::testing
