// The lungs of one analysed image, from the segmentation model's mask: post-processed (two
// largest regions, holes filled), checked for plausibility, named by the patient's side and
// measured in mm² from the image's pixel spacing. Shared by the workers and `evax-node segment`; pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "evax/dicom_node/pixel_decoder.h"
#include "evax/inference/lung_mask.h"
#include "evax/inference/segmentation_map.h"
#include "evax/reporting/result_objects.h"

namespace evax::pipeline {

struct LungFindings {
  std::vector<reporting::LungMask> masks;                // right lung first; empty when rejected
  std::vector<reporting::LungMeasurement> measurements;  // the same order; segment numbers 1, 2
  std::string rejection;                                 // why nothing is drawn or measured, or ""
  std::string side_basis;                                // how image sides became the patient's
};

// `row_direction` is PatientOrientation's first value ("L": column 0 is the patient's right).
LungFindings assess_lungs(const inference::SegmentationMap& map, const std::optional<dicom_node::PixelSpacing>& spacing,
                          const std::string& row_direction, const inference::LungMaskLimits& limits);

}  // namespace evax::pipeline
