// "sc": one heatmap Secondary Capture per analysed image, in one series: the leading findings'
// Grad-CAM maps combined by maximum on the patch grid, then upsampled once, and the lungs.
#include <algorithm>

#include "finding_regions.h"
#include "output_kinds.h"

namespace evax::pipeline {
namespace {

class SecondaryCaptureOutput final : public OutputBuilder {
 public:
  explicit SecondaryCaptureOutput(const ResultSettings& settings) : settings_(settings) {}
  std::string_view kind() const override { return "sc"; }

  std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const override {
    std::vector<BuiltObject> out;
    const std::string series_uid = reporting::new_series_uid();
    for (const auto& image : input.images) {
      const results::ImageAnalysis& analysis = *image.result->analysis;
      auto findings = findings_with_regions(settings_, analysis);
      if (!findings) return std::unexpected(findings.error());
      reporting::SecondaryCaptureRequest request;
      request.algorithm = settings_.algorithm;
      request.source_path = image.source_path;
      request.width = image.grey.width;
      request.height = image.grey.height;
      request.grey = image.grey.pixels;
      request.findings = std::move(*findings);
      std::vector<const results::Finding*> explained;
      for (const auto& f : analysis.findings)
        if (f.cam) explained.push_back(&f);
      std::stable_sort(explained.begin(), explained.end(), [](auto a, auto b) { return a->probability > b->probability; });
      if (!explained.empty()) {
        inference::CamMap combined{explained.front()->cam->grid_side, {}, explained.front()->cam->normalised};
        for (const auto* f : explained) {
          request.heat_labels.push_back(f->label);
          for (std::size_t p = 0; p < combined.normalised.size() && p < f->cam->normalised.size(); ++p)
            combined.normalised[p] = std::max(combined.normalised[p], f->cam->normalised[p]);
        }
        request.heat = inference::render_cam(combined, crop_geometry(*analysis.crop));
      }
      if (image.lungs) {
        request.lungs = image.lungs->masks;
        request.lung_note = image.lungs->rejection;
        if (!image.lungs->masks.empty()) request.segmenter = settings_.segmenter;  // its Contributing Equipment item
      }
      request.series_instance_uid = series_uid;
      request.instance_number = static_cast<int>(out.size()) + 1;
      request.max_side = settings_.sc_max_side;
      auto sc = reporting::build_secondary_capture(request);
      if (!sc) return std::unexpected(sc.error());
      out.push_back({std::move(*sc), image.result->instance_id});
    }
    return out;
  }

 private:
  const ResultSettings settings_;
};

}  // namespace

std::unique_ptr<OutputBuilder> make_secondary_capture_output(const ResultSettings& settings) {
  return std::make_unique<SecondaryCaptureOutput>(settings);
}

}  // namespace evax::pipeline
