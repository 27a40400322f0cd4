#include "finding_regions.h"

#include "evax/reporting/image_regions.h"

namespace evax::pipeline {

inference::CropGeometry crop_geometry(const results::CropPlacement& c) {
  return {c.image_width, c.image_height, c.resized_width, c.resized_height, c.crop_left, c.crop_top, c.crop_size};
}

std::expected<std::vector<reporting::FindingResult>, std::string> findings_with_regions(const ResultSettings& settings,
                                                                                       const results::ImageAnalysis& analysis) {
  if (!analysis.crop) return std::unexpected("the analysis has no crop placement to place its findings");
  const inference::ImageRect crop = inference::crop_in_image(crop_geometry(*analysis.crop));
  const reporting::PixelRect analysed{crop.left, crop.top, crop.right, crop.bottom};
  std::vector<reporting::FindingResult> out;
  for (const auto& f : analysis.findings) {
    reporting::FindingResult finding{f.label, f.probability, settings.operating_point(f.label), std::nullopt};
    finding.region = f.cam ? reporting::attention_region({f.cam->grid_side, f.cam->normalised, analysed})
                           : reporting::rectangle_region(analysed, "the whole analysed area: no Grad-CAM map (beyond model.cam_top_k)");
    out.push_back(std::move(finding));
  }
  return out;
}

}  // namespace evax::pipeline
