// OutputBuilder: one kind of result object (SR, SC, SEG, ...) made from a study's typed results.
// Each kind is one small adapter over a reporting builder (pipeline/src/outputs/); the builders
// run in a fixed order (output_builders.h) and each sees the objects built before it. Builders
// are stateless after construction: build() may be called from several threads at once.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evax/inference/engine.h"
#include "evax/pipeline/lung_findings.h"
#include "evax/reporting/result_objects.h"
#include "evax/results/records.h"

namespace evax::pipeline {

// An analysed image's source material, besides its typed result.
struct AnalysedSource {
  const results::ImageResult* result = nullptr;  // its ImageResult in the study (analysis present)
  std::string source_path;                        // the received DICOM file
  inference::GreyImage grey;                      // the windowed picture the model saw
  std::optional<LungFindings> lungs;              // with the masks, when the lungs were segmented
};

// A DICOM object made for the study, with the image it was made from (none for study-level ones).
struct BuiltObject {
  reporting::DicomObject object;
  std::optional<std::int64_t> source_instance_id;
};

struct OutputInput {
  const results::StudyResult& study;
  const std::vector<AnalysedSource>& images;     // the analysed images, in the study's order
  const std::vector<BuiltObject>& built_before;  // the objects of the builders that ran earlier
  std::optional<reporting::ObjectReference> predecessor;  // the SR of the analysis this one supersedes
};

class OutputBuilder {
 public:
  virtual ~OutputBuilder() = default;
  // The configuration name of the kind: "sr", "sc", "seg".
  virtual std::string_view kind() const = 0;
  // The objects of this kind for the study (possibly none), or why they cannot be made.
  virtual std::expected<std::vector<BuiltObject>, std::string> build(const OutputInput& input) const = 0;
};

}  // namespace evax::pipeline
