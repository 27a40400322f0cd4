// Turns one job's analysed images into result objects (the SR, one SC per image, and one lung
// SEG per image whose lungs were found), written
// durably under outputs/ before the job's outcome is committed. Internal to the pipeline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "evax/inference/engine.h"
#include "evax/pipeline/result_settings.h"
#include "evax/pipeline/lung_findings.h"
#include "evax/storage/file_store.h"
#include "evax/storage/records.h"

namespace evax::pipeline {

struct AnalysedImageResult {
  std::int64_t instance_id = 0;
  std::string source_path;
  inference::GreyImage grey;        // the windowed picture the model saw
  inference::ImageResult result;    // probabilities, CAM maps and crop geometry
  std::optional<LungFindings> lungs;  // when the lungs were segmented
};

// Builds and writes the objects; on failure removes what it wrote and throws (the job is then
// retried like any failed attempt, and nothing is emitted).
std::vector<storage::Output> produce_results(const storage::FileStore& files, const ResultSettings& settings,
                                             const std::vector<AnalysedImageResult>& images,
                                             const std::optional<storage::Output>& predecessor);

}  // namespace evax::pipeline
