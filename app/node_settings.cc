#include "node_settings.h"

#include <filesystem>

namespace evax::app {

std::vector<config::ConfigError> check_model_settings(const config::NodeConfig& config) {
  std::vector<config::ConfigError> errors;
  const auto& model = config.model;
  const std::string& checkpoint = model.classifier_checkpoint;
  if (checkpoint.rfind("demo:", 0) == 0) {
    const std::string size = checkpoint.substr(5);
    if (size != "tiny" && size != "small" && size != "base")
      errors.push_back({"model.classifier.checkpoint", "demo weights come as demo:tiny, demo:small or demo:base"});
  } else if (!std::filesystem::is_regular_file(checkpoint)) {
    errors.push_back({"model.classifier.checkpoint", "no such file: " + checkpoint});
  }
  if (!model.classifier_task.empty() && !inference::parse_task(model.classifier_task))
    errors.push_back({"model.classifier.task", "must be one of " + inference::task_names()});
  if (model.device == "cpu" && model.precision != "fp32")
    errors.push_back({"model.precision", "bf16 and fp16 need model.device cuda (or auto with a GPU)"});
  return errors;
}

inference::EngineOptions engine_options(const config::ModelSettings& model) {
  inference::EngineOptions options;
  options.checkpoint = model.classifier_checkpoint;
  if (!model.classifier_task.empty()) options.task = inference::parse_task(model.classifier_task);
  options.device = inference::parse_device(model.device).value_or(inference::DeviceChoice::automatic);
  options.precision = inference::parse_precision(model.precision).value_or(inference::Precision::fp32);
  // Graphs for every batch size the batcher can form.
  options.cuda_graph_batches.clear();
  for (int b = 1; b <= model.max_batch; b *= 2) options.cuda_graph_batches.push_back(b);
  return options;
}

inference::BatchingOptions batching_options(const config::ModelSettings& model) {
  return {model.max_batch, std::chrono::milliseconds(model.max_batch_wait_ms)};
}

pipeline::AnalysisSettings analysis_settings(const config::NodeConfig& config) {
  pipeline::AnalysisSettings settings;
  settings.workers = config.workers;
  settings.intake.accept_empty_body_part = config.study.accept_empty_body_part;
  settings.cam_top_k = config.model.cam_top_k;
  return settings;
}

}  // namespace evax::app
