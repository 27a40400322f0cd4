#include "evax/pipeline/lung_findings.h"

namespace evax::pipeline {

LungFindings assess_lungs(const inference::SegmentationMap& map, const std::optional<dicom_node::PixelSpacing>& spacing,
                          const std::string& row_direction, const inference::LungMaskLimits& limits) {
  LungFindings findings;
  inference::LungMasks lungs = inference::extract_lungs(map.mask, map.width, map.height, limits);
  if (lungs.rejection) {
    findings.rejection = *lungs.rejection;
    return findings;
  }
  // PatientOrientation's row value names where the columns run: towards the patient's left
  // ("L", the radiographic convention for PA and AP chests) puts the right lung on the image's left.
  bool image_left_is_right = true;
  if (!row_direction.empty() && (row_direction[0] == 'L' || row_direction[0] == 'R')) {
    image_left_is_right = row_direction[0] == 'L';
    findings.side_basis = "PatientOrientation " + row_direction.substr(0, 1);
  } else {
    findings.side_basis = "assumed: no left/right PatientOrientation, the radiographic convention (patient's right on the image's left)";
  }
  for (auto& region : lungs.regions) {
    const bool on_image_left = region.side == inference::ImageSide::left;
    const auto laterality = on_image_left == image_left_is_right ? reporting::Laterality::right : reporting::Laterality::left;
    reporting::LungMeasurement measurement{laterality, region.pixel_count, std::nullopt, "", 0};
    if (spacing) {
      measurement.area_mm2 = static_cast<double>(region.pixel_count) * spacing->row_mm * spacing->column_mm;
      measurement.spacing_source = spacing->source;
    }
    findings.masks.push_back({laterality, std::move(region.mask)});
    findings.measurements.push_back(measurement);
  }
  if (findings.masks[0].laterality != reporting::Laterality::right) {
    std::swap(findings.masks[0], findings.masks[1]);
    std::swap(findings.measurements[0], findings.measurements[1]);
  }
  findings.measurements[0].segment_number = 1;
  findings.measurements[1].segment_number = 2;
  return findings;
}

}  // namespace evax::pipeline
