#include "segment_command.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <optional>

#include "command_line.h"
#include "evax/dicom_node/codecs.h"
#include "evax/inference/segmenter.h"
#include "evax/pipeline/lung_findings.h"
#include "file_digest.h"
#include "image_input.h"

namespace evax::app {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kDemoWarning =
    "DEMO MODEL - UNTRAINED WEIGHTS: deterministic test weights, the masks mean nothing clinically";

std::expected<double, std::string> fraction(const CommandLine& cl, const std::string& flag, double fallback) {
  const std::string text = cl.value_or(flag, "");
  if (text.empty()) return fallback;
  try {
    std::size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && value >= 0.0 && value <= 1.0) return value;
  } catch (const std::exception&) {
  }
  return std::unexpected(flag + " must be a number from 0 to 1");
}

std::expected<inference::SegmenterOptions, std::string> segmenter_options(const CommandLine& cl) {
  inference::SegmenterOptions options;
  options.checkpoint = cl.value_or("--checkpoint", "");
  if (options.checkpoint.empty()) return std::unexpected(std::string("--checkpoint is required (an mmsegmentation checkpoint, or demo)"));
  auto threshold = fraction(cl, "--threshold", 0.3);
  if (!threshold) return std::unexpected(threshold.error());
  options.threshold = *threshold;
  if (auto device = inference::parse_device(cl.value_or("--device", "auto"))) options.device = *device;
  else return std::unexpected(std::string("--device must be cpu, cuda or auto"));
  if (auto precision = inference::parse_precision(cl.value_or("--dtype", "fp32"))) options.precision = *precision;
  else return std::unexpected(std::string("--dtype must be fp32, bf16 or fp16"));
  if (cl.has("--input-size")) {
    auto size = cl.integer("--input-size", 0);
    if (!size) return std::unexpected(size.error());
    options.input_size = *size;
  }
  return options;
}

std::expected<void, std::string> write_png(const std::string& path, int width, int height, const std::vector<std::uint8_t>& pixels) {
  const cv::Mat image(height, width, CV_8UC1, const_cast<std::uint8_t*>(pixels.data()));
  if (!cv::imwrite(path, image)) return std::unexpected("cannot write " + path);
  return {};
}

json model_json(const inference::SegmenterInfo& info, const std::optional<std::string>& sha256) {
  json model{{"name", info.name}, {"checkpoint", info.checkpoint}, {"sha256", sha256 ? json(*sha256) : json(nullptr)},
             {"demo", info.demo}};
  if (info.demo) model["warning"] = kDemoWarning;
  model["checkpoint_format"] = info.checkpoint_format;
  model["input_size"] = info.input_size;
  model["threshold"] = info.threshold;
  model["device"] = info.device;
  model["precision"] = std::string(inference::precision_name(info.precision));
  model["embed_dim"] = info.embed_dim;
  model["depth"] = info.depth;
  model["head_channels"] = info.head_channels;
  model["rope_reference_grid"] = info.rope_reference_grid;
  model["notes"] = info.notes;
  return model;
}

}  // namespace

int run_segment(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = parse_command_line(args,
                                   {"--checkpoint", "--threshold", "--input-size", "--device", "--dtype", "--batch", "--threads",
                                    "--min-lung-fraction", "--max-lungs-fraction", "--out"},
                                   {"--probability"});
  if (!parsed) {
    err << "evax-node segment: " << parsed.error() << "\nusage: " << kSegmentUsage << "\n";
    return 2;
  }
  const CommandLine& cl = *parsed;
  auto options = segmenter_options(cl);
  auto batch = cl.integer("--batch", 4);
  auto threads = cl.integer("--threads", 0);
  auto min_fraction = fraction(cl, "--min-lung-fraction", inference::LungMaskLimits{}.min_region_fraction);
  auto max_fraction = fraction(cl, "--max-lungs-fraction", inference::LungMaskLimits{}.max_total_fraction);
  std::string usage_error = !options        ? options.error()
                            : !batch        ? batch.error()
                            : !threads      ? threads.error()
                            : !min_fraction ? min_fraction.error()
                            : !max_fraction ? max_fraction.error()
                                            : "";
  if (usage_error.empty() && cl.positional.empty()) usage_error = "no IMAGE given";
  if (usage_error.empty() && *batch < 1) usage_error = "--batch must be at least 1";
  if (!usage_error.empty()) {
    err << "evax-node segment: " << usage_error << "\nusage: " << kSegmentUsage << "\n";
    return 2;
  }

  inference::set_cpu_threads(*threads);
  auto segmenter = inference::Segmenter::create(*options);
  if (!segmenter) {
    err << "evax-node segment: cannot load the model: " << segmenter.error() << "\n";
    return 1;
  }
  const inference::SegmenterInfo& info = (*segmenter)->info();
  if (info.demo) err << "evax-node segment: " << kDemoWarning << "\n";
  std::optional<std::string> sha256;
  if (!info.demo) {
    auto digest = sha256_of_file(info.checkpoint);
    if (!digest) {
      err << "evax-node segment: " << digest.error() << "\n";
      return 1;
    }
    sha256 = *digest;
  }
  const std::string out_dir = cl.value_or("--out", "");
  if (!out_dir.empty()) std::filesystem::create_directories(out_dir);
  const inference::LungMaskLimits limits{*min_fraction, *max_fraction};
  const bool keep_probability = cl.has("--probability");

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
      err << "evax-node segment: " << why << "\n";
      entries[position]["error"] = why;
      some_failed = true;
    }
    const std::vector<InputImage>& inputs = batch_files.inputs;
    const std::vector<std::size_t>& entry_of_input = batch_files.positions;
    std::vector<inference::GreyImage> images;
    for (const auto& input : inputs) images.push_back(input.image);
    auto maps = (*segmenter)->segment(images, keep_probability);
    if (!maps) {
      err << "evax-node segment: segmentation failed: " << maps.error() << "\n";
      return 1;
    }
    for (std::size_t r = 0; r < inputs.size(); ++r) {
      json& entry = entries[entry_of_input[r]];
      const InputImage& input = inputs[r];
      const inference::SegmentationMap& map = (*maps)[r];
      const pipeline::LungFindings lungs = pipeline::assess_lungs(map, input.spacing, input.row_direction, limits);
      entry["format"] = input.format;
      entry["width"] = map.width;
      entry["height"] = map.height;
      std::int64_t above = 0;
      for (auto v : map.mask) above += v;
      entry["mask_pixels"] = above;
      entry["spacing"] = input.spacing ? json{{"row_mm", input.spacing->row_mm}, {"column_mm", input.spacing->column_mm},
                                              {"source", input.spacing->source}}
                                       : json(nullptr);
      if (input.spacing && input.spacing->source == "ImagerPixelSpacing")
        entry["spacing_note"] = "ImagerPixelSpacing is at the detector: areas are not corrected for geometric magnification";
      if (!lungs.rejection.empty()) entry["rejected"] = lungs.rejection;
      else entry["side_basis"] = lungs.side_basis;
      json found = json::array();
      for (const auto& m : lungs.measurements)
        found.push_back({{"laterality", m.laterality == reporting::Laterality::right ? "right" : "left"},
                         {"pixels", m.pixel_count},
                         {"area_mm2", m.area_mm2 ? json(*m.area_mm2) : json(nullptr)}});
      entry["lungs"] = std::move(found);
      if (out_dir.empty()) continue;
      const std::string stem = (std::filesystem::path(out_dir) /
                                (std::to_string(first + entry_of_input[r]) + "_" +
                                 safe_file_part(std::filesystem::path(files[first + entry_of_input[r]]).stem().string())))
                                   .string();
      std::vector<std::uint8_t> raw(map.mask.size()), kept(map.mask.size(), 0);
      for (std::size_t p = 0; p < raw.size(); ++p) raw[p] = map.mask[p] ? 255 : 0;
      // The kept lungs: the patient's right 255, left 128, so one PNG tells them apart.
      for (const auto& lung : lungs.masks)
        for (std::size_t p = 0; p < kept.size(); ++p)
          if (lung.mask[p]) kept[p] = lung.laterality == reporting::Laterality::right ? 255 : 128;
      std::vector<std::pair<std::string, const std::vector<std::uint8_t>*>> pngs{{"mask_png", &raw}, {"lungs_png", &kept}};
      std::vector<std::uint8_t> probability;
      if (keep_probability) {
        probability.resize(map.probability.size());
        for (std::size_t p = 0; p < probability.size(); ++p)
          probability[p] = static_cast<std::uint8_t>(std::lround(std::clamp(map.probability[p], 0.0f, 1.0f) * 255));
        pngs.push_back({"probability_png", &probability});
      }
      for (const auto& [key, pixels] : pngs) {
        const std::string path = stem + "_" + key.substr(0, key.size() - 4) + ".png";
        if (auto written = write_png(path, map.width, map.height, *pixels); !written) {
          err << "evax-node segment: " << written.error() << "\n";
          return 1;
        }
        entry[key] = path;
      }
    }
    for (auto& entry : entries) results.push_back(std::move(entry));
  }
  out << json{{"model", model_json(info, sha256)}, {"results", std::move(results)}}.dump(2) << "\n";
  return some_failed ? 3 : 0;
}

}  // namespace evax::app
