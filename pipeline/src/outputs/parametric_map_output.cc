// "pmap": one Parametric Map per analysed image that has Grad-CAM maps, in one series: each of
// the leading findings' maps as a float frame (0..1), upsampled to the image as the SC's heatmap
// is, then reduced to the map's grid (reporting::kDefaultHeatmapDownsampling).
#include <algorithm>

#include "evax/reporting/parametric_map.h"
#include "finding_regions.h"
#include "output_kinds.h"

namespace evax::pipeline {
namespace {

class ParametricMapOutput final : public OutputBuilder {
 public:
  explicit ParametricMapOutput(const ResultSettings& settings) : settings_(settings) {}
  std::string_view kind() const override { return "pmap"; }

  std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const override {
    std::vector<BuiltObject> out;
    const std::string series_uid = reporting::new_series_uid();
    for (const auto& image : input.images) {
      const results::ImageAnalysis& analysis = *image.result->analysis;
      std::vector<const results::Finding*> explained;
      for (const auto& f : analysis.findings)
        if (f.cam) explained.push_back(&f);
      if (explained.empty()) continue;  // no maps (model.cam_top_k 0): nothing to show
      if (!analysis.crop) return std::unexpected("the analysis has no crop placement to put its Grad-CAM maps on the image");
      std::stable_sort(explained.begin(), explained.end(), [](auto a, auto b) { return a->probability > b->probability; });
      const inference::CropGeometry geometry = crop_geometry(*analysis.crop);
      reporting::ParametricMapRequest request;
      request.algorithm = settings_.algorithm;
      request.source_path = image.source_path;
      for (const auto* finding : explained) {
        const std::vector<float> full =
            inference::render_cam_values({finding->cam->grid_side, {}, finding->cam->normalised}, geometry);
        request.frames.push_back({finding->label, reporting::downsample_heatmap(full, geometry.image_width, geometry.image_height,
                                                                                request.downsampling)});
      }
      request.series_instance_uid = series_uid;
      request.instance_number = static_cast<int>(out.size()) + 1;
      auto map = reporting::build_parametric_map(request);
      if (!map) return std::unexpected(map.error());
      out.push_back({std::move(*map), image.result->instance_id});
    }
    return out;
  }

 private:
  const ResultSettings settings_;
};

}  // namespace

std::unique_ptr<OutputBuilder> make_parametric_map_output(const ResultSettings& settings) {
  return std::make_unique<ParametricMapOutput>(settings);
}

}  // namespace evax::pipeline
