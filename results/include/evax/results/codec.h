// The one codec of the results: to and from the job_images columns (the same JSON in SQLite and
// PostgreSQL, rows written by earlier versions included) and to the admin API's image JSON
// (docs/openapi.json, schema Image). Stateless functions; thread-safe.
#pragma once

#include <expected>
#include <optional>
#include <string>

#include "evax/results/records.h"

namespace evax::results {

// The two text columns of a job_images row. Both empty for an image that was not analysed.
//   probabilities_json: {"model", "task", "demo", "checkpoint_sha256"?, "labels": [...],
//                        "probabilities": [...], "crop"?, "features"?, "segmentation"?}
//   cams_json:          [{"label", "class_index", "grid_side", "map": [...]}]
struct StoredColumns {
  std::string probabilities_json;
  std::string cams_json;
};

StoredColumns encode_columns(const std::optional<ImageAnalysis>& analysis);
// Empty columns give no analysis; text that is not such JSON gives an error saying what is wrong.
std::expected<std::optional<ImageAnalysis>, std::string> decode_columns(const StoredColumns& columns);

// The image as the admin API shows it: sop_instance_uid, decision, reason_code, detail, and when
// analysed model, demo, findings [{label, probability}], cams (as stored) and segmentation. A
// JSON object's text.
std::string encode_api_image(const ImageResult& image);

}  // namespace evax::results
