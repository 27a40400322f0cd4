// The node's results as plain records: what became of each image of a job and, for an analysed
// image, the model's numbers. Made by the pipeline, stored by storage, shown by the admin API and
// turned into DICOM objects by the output builders; a new model or output reads these fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace evax::results {

// Which model produced the numbers.
struct Provenance {
  std::string model;              // "EVA-X-S"
  std::string task;               // "cxr14", "features", ...
  bool demo = false;              // deterministic untrained weights
  std::string checkpoint_digest;  // SHA-256 hex of the checkpoint file; "" when unknown or demo
};

// Where the model's square input lay on the image (to place a Grad-CAM grid): the image was
// resized to resized_width x resized_height, then the crop_size square at (crop_left, crop_top)
// was taken.
struct CropPlacement {
  int image_width = 0, image_height = 0;
  int resized_width = 0, resized_height = 0;
  int crop_left = 0, crop_top = 0, crop_size = 0;
};

// A Grad-CAM map on the model's patch grid, row-major, min-max scaled to [0, 1].
struct CamGrid {
  int grid_side = 0;
  std::vector<float> normalised;  // grid_side * grid_side values
};

struct Finding {
  std::string label;
  double probability = 0.0;
  std::optional<CamGrid> cam;  // only for the image's leading findings (model.cam_top_k)
};

struct LungMeasurement {
  std::string laterality;            // "right" or "left"
  std::int64_t pixels = 0;
  std::optional<double> area_mm2;    // none without a usable pixel spacing
  std::string spacing_source;
};

struct LungResult {
  std::string side_basis;            // how right and left were told apart
  std::string rejection;             // why the masks were not used ("" when they were)
  std::vector<LungMeasurement> lungs;
};

// The model's numbers for one analysed image.
struct ImageAnalysis {
  Provenance provenance;
  std::vector<Finding> findings;        // head order; empty for the features task
  std::optional<CropPlacement> crop;    // absent in rows written before it was stored
  std::vector<float> features;          // the features task's vector
  std::optional<LungResult> lungs;      // when a segmentation model ran
};

// One image's fate within a job: analysed (with its analysis), skipped (an intake reason code)
// or failed (an error code).
struct ImageResult {
  std::int64_t instance_id = 0;
  std::string sop_instance_uid;
  std::string decision;                 // "analysed", "skipped", "failed"
  std::string reason_code;
  std::string detail;
  std::optional<ImageAnalysis> analysis;  // present when analysed
};

// One study's (one job's) results: every image of the analysed set, and the model that ran.
struct StudyResult {
  std::int64_t job_id = 0;
  std::string study_instance_uid;
  Provenance provenance;
  std::vector<ImageResult> images;  // in instance order, skipped and failed ones included
};

}  // namespace evax::results
