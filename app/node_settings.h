// What the config means to the engine and pipeline: the checks only modules beyond config can
// make (task names, demo sizes, checkpoint files), and the translation of config sections into
// their settings structs. Shared by `serve` and `check-config`.
#pragma once

#include <vector>

#include "evax/config/node_config.h"
#include "evax/inference/batcher.h"
#include "evax/inference/engine.h"
#include "evax/pipeline/analysis_workers.h"

namespace evax::app {

// Errors with key paths, e.g. "model.classifier.task: must be one of cxr14|chexpert|...".
std::vector<config::ConfigError> check_model_settings(const config::NodeConfig& config);

inference::EngineOptions engine_options(const config::ModelSettings& model);
inference::BatchingOptions batching_options(const config::ModelSettings& model);
pipeline::AnalysisSettings analysis_settings(const config::NodeConfig& config);

}  // namespace evax::app
