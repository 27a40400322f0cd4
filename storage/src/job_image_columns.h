// A job_images row's columns to and from a JobImage, through the results codec: the same for
// both backends. Internal to the storage module.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "evax/results/codec.h"
#include "evax/storage/records.h"

namespace evax::storage {

struct JobImageRow {
  std::int64_t job_id = 0;
  std::int64_t instance_id = 0;
  std::string sop_instance_uid;
  std::string decision;
  std::string reason_code;
  std::string detail;
  results::StoredColumns results;
};

// Throws std::runtime_error naming the job and instance when the stored results do not decode
// (the row itself is left as it is).
JobImage job_image_from_row(JobImageRow row);

// Adds one analysed image's probabilities (a probabilities_json column) to `by_finding`, per
// label; a row that does not decode is left out (drift monitoring reads many rows and must not
// fail on one).
void add_finding_probabilities(const std::string& probabilities_json, std::map<std::string, std::vector<double>>& by_finding);

inline results::StoredColumns result_columns(const JobImage& image) { return results::encode_columns(image.result.analysis); }

}  // namespace evax::storage
