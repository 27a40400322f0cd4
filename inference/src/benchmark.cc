#include "evax/inference/benchmark.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <numeric>

#include "engine_internal.h"
#include "engine_error.h"
#include "segmenter_internal.h"

namespace evax::inference {
namespace {

std::string_view mode_name(BenchmarkMode mode) {
  switch (mode) {
    case BenchmarkMode::forward: return "forward";
    case BenchmarkMode::gradcam: return "gradcam";
    case BenchmarkMode::classify: return "classify";
    case BenchmarkMode::segment: return "segment";
  }
  return "forward";
}

double percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  const double position = fraction * static_cast<double>(values.size() - 1);
  const auto low = static_cast<std::size_t>(position);
  const auto high = std::min(low + 1, values.size() - 1);
  return values[low] + (values[high] - values[low]) * (position - static_cast<double>(low));
}

std::string json_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
      continue;
    }
    out += c;
  }
  return out;
}

template <class T>
bool assign(const std::optional<T>& parsed, T& target) {
  if (parsed) target = *parsed;
  return parsed.has_value();
}

// Median, percentiles, mean and throughput of the timed runs.
void summarise(BenchmarkReport& report) {
  report.median_ms = percentile(report.milliseconds, 0.5);
  report.p10_ms = percentile(report.milliseconds, 0.1);
  report.p90_ms = percentile(report.milliseconds, 0.9);
  report.mean_ms = std::accumulate(report.milliseconds.begin(), report.milliseconds.end(), 0.0) /
                   static_cast<double>(report.milliseconds.size());
  report.images_per_second = report.options.batch * 1000.0 / report.median_ms;
}

// Runs `run_once` warmup + iterations times and records each timed run.
template <class Run>
void time_runs(const BenchmarkOptions& options, BenchmarkReport& report, Run&& run_once) {
  for (int i = 0; i < options.warmup; ++i) run_once();
  for (int i = 0; i < options.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run_once();
    report.milliseconds.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
}

// The lung model as the Python reference times it: logits, resize to the input, sigmoid.
std::expected<bool, std::string> time_segmenter(const BenchmarkOptions& options, BenchmarkReport& report) {
  SegmenterOptions segmenter_options;
  segmenter_options.checkpoint = options.checkpoint.rfind("demo", 0) == 0 ? "demo" : options.checkpoint;
  segmenter_options.input_size = options.input_size;
  segmenter_options.device = options.device;
  segmenter_options.precision = options.precision;
  segmenter_options.cuda_graph_batches = {options.batch};  // what the segmenter runs for this batch size
  auto segmenter = Segmenter::create(segmenter_options);
  if (!segmenter) return std::unexpected(segmenter.error());
  const SegmenterInfo& info = (*segmenter)->info();
  report.model.name = info.name;
  report.model.demo = info.demo;
  report.model.device = info.device;
  return error_boundary([&]() -> std::expected<bool, std::string> {
    const UperNetModel& model = SegmenterInternals::model(**segmenter);
    const at::TensorOptions target = at::TensorOptions().dtype(model.backbone().options().dtype).device(model.backbone().options().device);
    const at::Tensor input = at::randn({options.batch, 3, options.input_size, options.input_size}, target.dtype(at::kFloat)).to(target);
    const bool cuda = target.device().is_cuda();
    time_runs(options, report, [&] {
      c10::InferenceMode inference;
      (void)resize_bilinear(SegmenterInternals::logits(**segmenter, input), options.input_size, options.input_size).sigmoid();
      if (cuda) torch::cuda::synchronize();
    });
    if (options.profile) {
      // Eager, stage by stage (a CUDA graph has no stages): each stage's share of the time.
      std::map<std::string, std::vector<double>> times;
      std::vector<std::string> order;
      for (int i = 0; i < options.iterations; ++i) {
        c10::InferenceMode inference;
        auto last = std::chrono::steady_clock::now();
        auto mark = [&](const char* stage) {
          if (cuda) torch::cuda::synchronize();
          const auto now = std::chrono::steady_clock::now();
          if (times.find(stage) == times.end()) order.push_back(stage);
          times[stage].push_back(std::chrono::duration<double, std::milli>(now - last).count());
          last = now;
        };
        const at::Tensor logits = model.logits(input, mark);
        (void)resize_bilinear(logits, options.input_size, options.input_size).sigmoid();
        mark("resize_sigmoid");
      }
      for (const auto& stage : order) report.stage_median_ms.emplace_back(stage, percentile(times[stage], 0.5));
    }
    return true;
  });
}

}  // namespace

std::optional<BenchmarkMode> parse_benchmark_mode(std::string_view name) {
  for (auto mode : {BenchmarkMode::forward, BenchmarkMode::gradcam, BenchmarkMode::classify, BenchmarkMode::segment})
    if (mode_name(mode) == name) return mode;
  return std::nullopt;
}

std::expected<BenchmarkOptions, std::string> parse_benchmark_args(const std::vector<std::string>& args) {
  BenchmarkOptions options;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    const std::string& flag = args[i];
    if (flag == "--profile") {  // the one flag without a value
      options.profile = true;
      --i;
      continue;
    }
    if (i + 1 >= args.size()) return std::unexpected(flag + " needs a value");
    const std::string& value = args[i + 1];
    auto number = [&](int& target) -> bool {
      try {
        std::size_t used = 0;
        target = std::stoi(value, &used);
        return used == value.size();
      } catch (const std::exception&) {
        return false;
      }
    };
    bool ok = true;
    if (flag == "--checkpoint") options.checkpoint = value;
    else if (flag == "--batch") ok = number(options.batch);
    else if (flag == "--input-size") ok = number(options.input_size);
    else if (flag == "--warmup") ok = number(options.warmup);
    else if (flag == "--iterations") ok = number(options.iterations);
    else if (flag == "--threads") ok = number(options.cpu_threads);
    else if (flag == "--mode") ok = assign(parse_benchmark_mode(value), options.mode);
    else if (flag == "--device") ok = assign(parse_device(value), options.device);
    else if (flag == "--dtype") ok = assign(parse_precision(value), options.precision);
    else return std::unexpected("unknown option " + flag);
    if (!ok) return std::unexpected("bad value '" + value + "' for " + flag);
  }
  return options;
}

std::expected<BenchmarkReport, std::string> run_benchmark(const BenchmarkOptions& options) {
  if (options.batch < 1 || options.iterations < 1 || options.warmup < 0)
    return std::unexpected(std::string("batch and iterations must be at least 1, warmup at least 0"));
  set_cpu_threads(options.cpu_threads);
  if (options.mode == BenchmarkMode::segment) {
    BenchmarkReport report;
    report.options = options;
    report.torch_version = TORCH_VERSION;
    report.cpu_threads = at::get_num_threads();
    if (auto timed = time_segmenter(options, report); !timed) return std::unexpected(timed.error());
    summarise(report);
    return report;
  }

  EngineOptions engine_options;
  engine_options.checkpoint = options.checkpoint;
  engine_options.input_size = options.input_size;
  engine_options.device = options.device;
  engine_options.precision = options.precision;
  // the forward mode times what the engine runs for that batch size, a CUDA graph included
  engine_options.cuda_graph_batches = {};
  if (options.mode == BenchmarkMode::forward) engine_options.cuda_graph_batches = {options.batch};
  auto engine = Engine::create(engine_options);
  if (!engine) return std::unexpected(engine.error());

  BenchmarkReport report;
  report.options = options;
  report.model = (*engine)->info();
  report.torch_version = TORCH_VERSION;
  report.cpu_threads = at::get_num_threads();

  auto timed = error_boundary([&]() -> std::expected<bool, std::string> {
    const EvaXModel& model = EngineInternals::model(**engine);
    const bool cuda = model.options().device.is_cuda();
    const at::Tensor input = at::randn({options.batch, 3, options.input_size, options.input_size},
                                       at::TensorOptions().dtype(model.options().dtype))
                                 .to(model.options().device);
    std::vector<int> all_classes(static_cast<std::size_t>(std::max(1, report.model.num_classes)));
    std::iota(all_classes.begin(), all_classes.end(), 0);

    std::vector<ClassifyRequest> requests;
    if (options.mode == BenchmarkMode::classify) {
      // A portrait radiograph-sized image, so resizing costs what it costs in service.
      GreyImage image{1024, 1280, std::vector<std::uint8_t>(1024 * 1280)};
      for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 24);
      requests.assign(static_cast<std::size_t>(options.batch), ClassifyRequest{image, {}});
    }

    auto run_once = [&] {
      switch (options.mode) {
        case BenchmarkMode::forward:
          (void)EngineInternals::forward_head(**engine, input);
          break;
        case BenchmarkMode::gradcam:
          (void)model.grad_cam(input, all_classes);
          break;
        case BenchmarkMode::classify:
          if (auto result = (*engine)->classify(requests); !result) throw EngineError(result.error());
          break;
        case BenchmarkMode::segment:
          break;  // served above
      }
      if (cuda) torch::cuda::synchronize();
    };

    time_runs(options, report, run_once);
    return true;
  });
  if (!timed) return std::unexpected(timed.error());

  summarise(report);
  return report;
}

std::string to_json(const BenchmarkReport& r) {
  char numbers[512];
  std::snprintf(numbers, sizeof numbers,
                "\"median_ms\": %.4f, \"p10_ms\": %.4f, \"p90_ms\": %.4f, \"mean_ms\": %.4f, \"images_per_second\": %.2f",
                r.median_ms, r.p10_ms, r.p90_ms, r.mean_ms, r.images_per_second);
  std::string json = "{\"engine\": \"evax-node C++ (LibTorch " + r.torch_version + ")\"";
  json += ", \"model\": \"" + json_escape(r.model.name) + "\", \"checkpoint\": \"" + json_escape(r.options.checkpoint) + "\"";
  json += ", \"demo\": " + std::string(r.model.demo ? "true" : "false");
  json += ", \"mode\": \"" + std::string(mode_name(r.options.mode)) + "\"";
  json += ", \"device\": \"" + r.model.device + "\", \"precision\": \"" + std::string(precision_name(r.options.precision)) + "\"";
  json += ", \"batch\": " + std::to_string(r.options.batch) + ", \"input_size\": " + std::to_string(r.options.input_size);
  json += ", \"cpu_threads\": " + std::to_string(r.cpu_threads);
  json += ", \"warmup\": " + std::to_string(r.options.warmup) + ", \"iterations\": " + std::to_string(r.options.iterations);
  json += ", " + std::string(numbers);
  if (!r.stage_median_ms.empty()) {
    json += ", \"stages_median_ms\": {";
    for (std::size_t i = 0; i < r.stage_median_ms.size(); ++i) {
      std::snprintf(numbers, sizeof numbers, "%s\"%s\": %.2f", i ? ", " : "", r.stage_median_ms[i].first.c_str(), r.stage_median_ms[i].second);
      json += numbers;
    }
    json += "}";
  }
  return json + "}";
}

}  // namespace evax::inference
