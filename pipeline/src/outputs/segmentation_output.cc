// "seg": one lung Segmentation per image whose lungs were found and accepted, in one series,
// when a segmentation model runs.
#include "evax/reporting/segmentation_object.h"
#include "output_kinds.h"

namespace evax::pipeline {
namespace {

class SegmentationOutput final : public OutputBuilder {
 public:
  explicit SegmentationOutput(const ResultSettings& settings) : settings_(settings) {}
  std::string_view kind() const override { return "seg"; }

  std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const override {
    std::vector<BuiltObject> out;
    if (!settings_.segmenter) return out;
    const std::string series_uid = reporting::new_series_uid();
    for (const auto& image : input.images) {
      if (!image.lungs || !image.lungs->rejection.empty()) continue;
      reporting::SegmentationRequest request{*settings_.segmenter, image.source_path, image.grey.width, image.grey.height,
                                             image.lungs->masks, series_uid};
      request.instance_number = static_cast<int>(out.size()) + 1;
      auto seg = reporting::build_lung_segmentation(request);
      if (!seg) return std::unexpected(seg.error());
      out.push_back({std::move(*seg), image.result->instance_id});
    }
    return out;
  }

 private:
  const ResultSettings settings_;
};

}  // namespace

std::unique_ptr<OutputBuilder> make_segmentation_output(const ResultSettings& settings) {
  return std::make_unique<SegmentationOutput>(settings);
}

}  // namespace evax::pipeline
