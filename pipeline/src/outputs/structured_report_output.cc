// "sr": the study's Structured Report: every analysed image's findings and, where a SEG was built
// before it, the lungs' measurements and outlines with a reference to that SEG.
#include "evax/reporting/image_regions.h"
#include "finding_regions.h"
#include "output_kinds.h"

namespace evax::pipeline {
namespace {

// The lungs' measurements with their outlines on the image, for the SR to draw.
std::vector<reporting::LungMeasurement> outlined(const LungFindings& lungs, int width, int height) {
  std::vector<reporting::LungMeasurement> out = lungs.measurements;
  for (auto& measurement : out)
    for (const auto& mask : lungs.masks)
      if (mask.laterality == measurement.laterality)
        measurement.outline = reporting::mask_outline(mask.mask, width, height, "the outline of the segmented lung");
  return out;
}

class StructuredReportOutput final : public OutputBuilder {
 public:
  explicit StructuredReportOutput(const ResultSettings& settings) : settings_(settings) {}
  std::string_view kind() const override { return "sr"; }

  std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const override {
    reporting::ReportRequest report{settings_.algorithm, {}, input.predecessor, settings_.document_type};
    report.segmenter = settings_.segmenter;
    for (const auto& image : input.images) {
      auto findings = findings_with_regions(settings_, *image.result->analysis);
      if (!findings) return std::unexpected(findings.error());
      reporting::AnalysedImage analysed{image.source_path, std::move(*findings), {}, std::nullopt, ""};
      if (image.lungs && !image.lungs->rejection.empty()) analysed.lung_note = image.lungs->rejection;
      for (const auto& built : input.built_before)
        if (built.object.kind == "seg" && built.source_instance_id == image.result->instance_id && image.lungs) {
          analysed.lungs = outlined(*image.lungs, image.grey.width, image.grey.height);
          analysed.segmentation = built.object.reference;
        }
      report.images.push_back(std::move(analysed));
    }
    auto sr = reporting::build_structured_report(report);
    if (!sr) return std::unexpected(sr.error());
    std::vector<BuiltObject> out;
    out.push_back({std::move(*sr), std::nullopt});
    return out;
  }

 private:
  const ResultSettings settings_;
};

}  // namespace

std::unique_ptr<OutputBuilder> make_structured_report_output(const ResultSettings& settings) {
  return std::make_unique<StructuredReportOutput>(settings);
}

}  // namespace evax::pipeline
