// A real Orthanc PACS for end-to-end tests: its own configuration, storage and index in a
// temporary directory, HTTP and DICOM on loopback ports of its own, no plugins. Driven over
// its REST API the way an admin or a script would: upload, send to a modality, find a study.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "process.h"

namespace evax::testing {

struct OrthancModality {
  std::string name;
  std::string ae_title;
  std::string host;
  int port = 0;
};

class OrthancPeer {
 public:
  // Starts Orthanc and waits (up to 60 s) until its REST API answers. Throws when it does not.
  explicit OrthancPeer(const std::vector<OrthancModality>& modalities);
  ~OrthancPeer();
  OrthancPeer(const OrthancPeer&) = delete;
  OrthancPeer& operator=(const OrthancPeer&) = delete;

  int http_port() const { return http_port_; }
  int dicom_port() const { return dicom_port_; }
  std::string ae_title() const { return "ORTHANC"; }

  // POST /instances: the Orthanc id of the stored instance.
  std::string upload(const std::string& dicom_file);
  // C-STORE of the given resources to a configured modality, waiting for the job to end.
  void send_to_modality(const std::string& modality, const std::vector<std::string>& resource_ids);
  // The simplified tags of every instance of the study (empty when Orthanc has no such study).
  std::vector<nlohmann::json> study_instances(const std::string& study_instance_uid);

  nlohmann::json get(const std::string& path);
  nlohmann::json post(const std::string& path, const std::string& body, const std::string& content_type = "application/json");
  std::string log() const;

 private:
  std::filesystem::path dir_;
  int http_port_;
  int dicom_port_;
  BackgroundProcess process_;
};

}  // namespace evax::testing
