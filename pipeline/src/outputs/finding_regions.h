// What the SR and the SC both draw from a typed analysis: each finding with its operating point
// and its place on the image. Internal to the output adapters.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "evax/inference/engine.h"
#include "evax/pipeline/result_settings.h"
#include "evax/reporting/result_objects.h"
#include "evax/results/records.h"

namespace evax::pipeline {

inference::CropGeometry crop_geometry(const results::CropPlacement& crop);

// The outline of its Grad-CAM attention, or, beyond cam_top_k, the part of the image the model
// analysed. An error when the analysis lacks its crop placement.
std::expected<std::vector<reporting::FindingResult>, std::string> findings_with_regions(const ResultSettings& settings,
                                                                                       const results::ImageAnalysis& analysis);

}  // namespace evax::pipeline
