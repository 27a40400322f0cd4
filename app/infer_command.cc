#include "infer_command.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <optional>

#include "cam_overlay.h"
#include "command_line.h"
#include "evax/dicom_node/codecs.h"
#include "evax/inference/engine.h"
#include "file_digest.h"
#include "image_input.h"

namespace evax::app {
namespace {

using inference::ClassifyRequest;
using inference::Engine;
using inference::EngineOptions;
using json = nlohmann::ordered_json;

constexpr const char* kDemoWarning =
    "DEMO MODEL - UNTRAINED WEIGHTS: deterministic test weights, the probabilities mean nothing clinically";

// "Cardiomegaly,3" -> head indices; labels match case-insensitively.
std::expected<std::vector<int>, std::string> cam_classes(const CommandLine& cl, const std::vector<std::string>& labels) {
  std::vector<int> classes;
  const std::string list = cl.value_or("--cam-classes", "");
  if (list.empty()) {
    for (int c = 0; c < static_cast<int>(labels.size()); ++c) classes.push_back(c);
    return classes;
  }
  auto lower = [](std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  };
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    start = comma + 1;
    std::optional<int> index;
    for (int c = 0; c < static_cast<int>(labels.size()); ++c)
      if (lower(labels[c]) == lower(item)) index = c;
    const bool small_number = !item.empty() && item.size() <= 4 &&
                              std::all_of(item.begin(), item.end(), [](unsigned char ch) { return std::isdigit(ch); });
    if (!index && small_number && std::stoi(item) < static_cast<int>(labels.size())) index = std::stoi(item);
    if (!index) return std::unexpected("--cam-classes: '" + item + "' is neither a label nor an index of this head");
    classes.push_back(*index);
  }
  return classes;
}

json model_json(const inference::ModelInfo& info, const std::optional<std::string>& sha256) {
  json model{{"name", info.name},
             {"size", info.size},
             {"task", std::string(inference::task_info(info.task).name)},
             {"checkpoint", info.checkpoint},
             {"sha256", sha256 ? json(*sha256) : json(nullptr)},
             {"input_size", info.input_size},
             {"demo", info.demo}};
  if (info.demo) model["warning"] = kDemoWarning;
  model["checkpoint_format"] = info.checkpoint_format;
  model["device"] = info.device;
  model["precision"] = std::string(inference::precision_name(info.precision));
  model["embed_dim"] = info.embed_dim;
  model["depth"] = info.depth;
  model["num_heads"] = info.num_heads;
  model["rope_reference_grid"] = info.rope_reference_grid;
  model["labels"] = info.labels;
  model["notes"] = info.notes;
  return model;
}

}  // namespace

std::expected<inference::EngineOptions, std::string> engine_options_from(const CommandLine& cl) {
  inference::EngineOptions options;
  options.checkpoint = cl.value_or("--checkpoint", "");
  if (options.checkpoint.empty()) return std::unexpected(std::string("--checkpoint is required (a file, or demo:tiny)"));
  if (cl.has("--task")) {
    options.task = inference::parse_task(cl.values.at("--task"));
    if (!options.task) return std::unexpected("--task must be one of " + inference::task_names());
  }
  if (auto device = inference::parse_device(cl.value_or("--device", "auto"))) options.device = *device;
  else return std::unexpected(std::string("--device must be cpu, cuda or auto"));
  if (auto precision = inference::parse_precision(cl.value_or("--dtype", "fp32"))) options.precision = *precision;
  else return std::unexpected(std::string("--dtype must be fp32, bf16 or fp16"));
  if (cl.has("--input-size")) {
    auto size = cl.integer("--input-size", 0);
    if (!size) return std::unexpected(size.error());
    options.input_size = *size;
  }
  options.legacy_pos_embed_resampling = cl.has("--legacy-pos-embed");
  return options;
}

int run_infer(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = parse_command_line(
      args, {"--checkpoint", "--task", "--device", "--dtype", "--input-size", "--batch", "--threads", "--cam-classes", "--cam-dir"},
      {"--cam", "--legacy-pos-embed"});
  if (!parsed) {
    err << "evax-node infer: " << parsed.error() << "\nusage: " << kInferUsage << "\n";
    return 2;
  }
  const CommandLine& cl = *parsed;
  auto options = engine_options_from(cl);
  auto batch = cl.integer("--batch", 8);
  auto threads = cl.integer("--threads", 0);
  std::string usage_error = !options ? options.error() : !batch ? batch.error() : !threads ? threads.error() : "";
  if (usage_error.empty() && cl.positional.empty()) usage_error = "no IMAGE given";
  if (usage_error.empty() && *batch < 1) usage_error = "--batch must be at least 1";
  if (!usage_error.empty()) {
    err << "evax-node infer: " << usage_error << "\nusage: " << kInferUsage << "\n";
    return 2;
  }

  inference::set_cpu_threads(*threads);
  auto engine = Engine::create(*options);
  if (!engine) {
    err << "evax-node infer: cannot load the model: " << engine.error() << "\n";
    return 1;
  }
  const inference::ModelInfo& info = (*engine)->info();
  if (info.demo) err << "evax-node infer: " << kDemoWarning << "\n";

  std::optional<std::string> sha256;
  if (!info.demo) {
    auto digest = sha256_of_file(info.checkpoint);
    if (!digest) {
      err << "evax-node infer: " << digest.error() << "\n";
      return 1;
    }
    sha256 = *digest;
  }

  const bool want_cam = cl.has("--cam") || cl.has("--cam-classes") || cl.has("--cam-dir");
  std::vector<int> explain;
  if (want_cam) {
    if (info.task == inference::Task::features) {
      err << "evax-node infer: Grad-CAM needs a classification head; this checkpoint is a backbone\n";
      return 2;
    }
    auto classes = cam_classes(cl, info.labels);
    if (!classes) {
      err << "evax-node infer: " << classes.error() << "\n";
      return 2;
    }
    explain = *classes;
  }
  const std::string cam_dir = cl.value_or("--cam-dir", "");
  if (!cam_dir.empty()) std::filesystem::create_directories(cam_dir);

  dicom_node::DicomCodecs codecs;
  json results = json::array();
  bool some_failed = false;
  const std::vector<std::string>& files = cl.positional;
  for (std::size_t first = 0; first < files.size(); first += static_cast<std::size_t>(*batch)) {
    const std::size_t last = std::min(files.size(), first + static_cast<std::size_t>(*batch));
    std::vector<json> entries;
    for (std::size_t i = first; i < last; ++i) entries.push_back({{"file", files[i]}});
    InputBatch batch_files = read_input_batch(files, first, last);
    for (const auto& [position, why] : batch_files.errors) {
      err << "evax-node infer: " << why << "\n";
      entries[position]["error"] = why;
      some_failed = true;
    }
    const std::vector<InputImage>& inputs = batch_files.inputs;
    const std::vector<std::size_t>& request_file = batch_files.positions;
    std::vector<ClassifyRequest> requests;
    for (const auto& input : inputs) requests.push_back({input.image, explain});
    auto classified = (*engine)->classify(requests);
    if (!classified) {
      err << "evax-node infer: inference failed: " << classified.error() << "\n";
      return 1;
    }
    for (std::size_t r = 0; r < requests.size(); ++r) {
      json& entry = entries[request_file[r]];
      const InputImage& input = inputs[r];
      const inference::ImageResult& result = (*classified)[r];
      entry["format"] = input.format;
      entry["grey_mapping"] = input.grey_mapping;
      entry["width"] = input.image.width;
      entry["height"] = input.image.height;
      if (info.task == inference::Task::features) {
        entry["features"] = result.features;
        continue;
      }
      json findings = json::array();
      for (std::size_t c = 0; c < result.findings.size(); ++c) {
        const auto& finding = result.findings[c];
        json f{{"label", finding.label}, {"probability", finding.probability}};
        if (finding.cam) {
          json rows = json::array();
          for (int y = 0; y < finding.cam->grid_side; ++y) {
            json row = json::array();
            for (int x = 0; x < finding.cam->grid_side; ++x)
              row.push_back(std::round(finding.cam->normalised[static_cast<std::size_t>(y * finding.cam->grid_side + x)] * 1e4) / 1e4);
            rows.push_back(std::move(row));
          }
          f["cam"] = {{"grid_side", finding.cam->grid_side}, {"map", std::move(rows)}};
          if (!cam_dir.empty()) {
            const std::string png = (std::filesystem::path(cam_dir) /
                                     (std::to_string(first + request_file[r]) + "_" +
                                      safe_file_part(std::filesystem::path(files[first + request_file[r]]).stem().string()) +
                                      "_" + safe_file_part(finding.label) + ".png"))
                                        .string();
            char probability[16];
            std::snprintf(probability, sizeof probability, "%.3f", finding.probability);
            auto written = write_cam_overlay(png, input.image, inference::render_cam(*finding.cam, result.geometry),
                                             inference::crop_in_image(result.geometry), {finding.label + " " + probability, info.demo});
            if (!written) {
              err << "evax-node infer: " << written.error() << "\n";
              return 1;
            }
            f["cam"]["png"] = png;
          }
        }
        findings.push_back(std::move(f));
      }
      entry["findings"] = std::move(findings);
    }
    for (auto& entry : entries) results.push_back(std::move(entry));
  }

  out << json{{"model", model_json(info, sha256)}, {"results", std::move(results)}}.dump(2) << "\n";
  return some_failed ? 3 : 0;
}

}  // namespace evax::app
