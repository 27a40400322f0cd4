// Helpers shared by the service tests: synthetic studies on disk and job lookups.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "node_harness.h"
#include "synthetic_dicom.h"

namespace evax::testing {

// Writes `images` as files named <prefix><index>.dcm in `dir`; returns their paths.
inline std::vector<std::string> write_images(const std::filesystem::path& dir, const std::string& prefix,
                                             const std::vector<SyntheticImage>& images) {
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const std::string path = (dir / (prefix + std::to_string(i) + ".dcm")).string();
    write_synthetic_dicom(path, images[i]);
    paths.push_back(path);
  }
  return paths;
}

// A small frontal chest image (enough pixels for the demo model).
inline SyntheticImage frontal(const std::string& study_uid, const std::string& view = "PA") {
  SyntheticImage image;
  image.study_uid = study_uid;
  image.view_position = view;
  image.width = 96;
  image.height = 112;
  image.window = {{2048.0, 4096.0}};
  return image;
}

// One attribute of a DICOM file as text ("<unreadable>" when the file is not DICOM).
inline std::string element(const std::filesystem::path& file, const DcmTagKey& tag) {
  DcmFileFormat f;
  if (f.loadFile(file.c_str()).bad()) return "<unreadable>";
  OFString value;
  f.getDataset()->findAndGetOFStringArray(tag, value);
  return value.c_str();
}

// How many deliveries of all the jobs' outputs have been delivered.
inline std::size_t delivered_outputs(const nlohmann::json& status) {
  std::size_t delivered = 0;
  for (const auto& job : status["jobs"])
    for (const auto& output : job["outputs"])
      for (const auto& d : output["deliveries"]) delivered += d["state"] == "delivered";
  return delivered;
}

inline bool all_jobs_final(const nlohmann::json& status, std::size_t at_least) {
  const auto& jobs = status["jobs"];
  if (jobs.size() < at_least) return false;
  for (const auto& job : jobs) {
    const std::string state = job["state"];
    if (state == "queued" || state == "running") return false;
  }
  return true;
}

}  // namespace evax::testing
