// Engine benchmark: times the model (or, in segment mode, the lung UperNet: --checkpoint demo or
// an mmseg file, --input-size 512) on synthetic input for a given size, batch, precision and
// device, the way the Python baselines are timed (input already on the device, median of
// repeated runs after warm-up). Used by `evax-node benchmark` and `evax-engine-bench`.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "evax/inference/engine.h"

namespace evax::inference {

enum class BenchmarkMode {
  forward,    // tokens, pooling and head on a ready (B, 3, S, S) tensor
  gradcam,    // forward plus Grad-CAM for every class of the head
  classify,   // the whole engine path from 8-bit grey images (preprocessing included)
  segment,    // the lung UperNet on a ready (B, 3, S, S) tensor to its probability map at S x S
};

struct BenchmarkOptions {
  std::string checkpoint = "demo:small";
  BenchmarkMode mode = BenchmarkMode::forward;
  int batch = 1;
  int input_size = 224;
  DeviceChoice device = DeviceChoice::cpu;
  Precision precision = Precision::fp32;
  int warmup = 3;
  int iterations = 20;
  int cpu_threads = 0;  // 0: LibTorch's default
  bool profile = false;  // segment mode: also time each stage of the model (per-layer profile)
};

struct BenchmarkReport {
  BenchmarkOptions options;
  ModelInfo model;
  std::string torch_version;
  int cpu_threads = 0;
  std::vector<double> milliseconds;  // one per timed iteration, in run order
  double median_ms = 0, p10_ms = 0, p90_ms = 0, mean_ms = 0;
  double images_per_second = 0;      // batch / median
  // With `profile`: each stage's median over separate runs, in model order (milliseconds).
  std::vector<std::pair<std::string, double>> stage_median_ms;
};

std::expected<BenchmarkReport, std::string> run_benchmark(const BenchmarkOptions& options);
std::string to_json(const BenchmarkReport& report);
std::optional<BenchmarkMode> parse_benchmark_mode(std::string_view name);

// Command-line flags (--checkpoint, --mode, --batch, --input-size, --device, --dtype, --warmup,
// --iterations, --threads, --profile), shared by every front end of the benchmark.
std::expected<BenchmarkOptions, std::string> parse_benchmark_args(const std::vector<std::string>& args);
inline constexpr const char* kBenchmarkUsage =
    "[--checkpoint FILE|demo:SIZE] [--mode forward|gradcam|classify|segment] [--batch N] [--input-size N]\n"
    "    [--device cpu|cuda|auto] [--dtype fp32|bf16|fp16] [--warmup N] [--iterations N] [--threads N] [--profile]";

}  // namespace evax::inference
