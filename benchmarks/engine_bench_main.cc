// evax-engine-bench: the engine benchmark with nothing but LibTorch (for the GPU machine).
// The same measurement as `evax-node benchmark`; prints one JSON line.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "evax/inference/benchmark.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: evax-engine-bench [--checkpoint FILE|demo:SIZE] [--mode forward|gradcam|classify]\n"
               "                         [--batch N] [--input-size N] [--device cpu|cuda|auto]\n"
               "                         [--dtype fp32|bf16|fp16] [--warmup N] [--iterations N] [--threads N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace evax::inference;
  BenchmarkOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string value = argv[++i];
    try {
      if (flag == "--checkpoint") options.checkpoint = value;
      else if (flag == "--batch") options.batch = std::stoi(value);
      else if (flag == "--input-size") options.input_size = std::stoi(value);
      else if (flag == "--warmup") options.warmup = std::stoi(value);
      else if (flag == "--iterations") options.iterations = std::stoi(value);
      else if (flag == "--threads") options.cpu_threads = std::stoi(value);
      else if (flag == "--mode" && parse_benchmark_mode(value)) options.mode = *parse_benchmark_mode(value);
      else if (flag == "--device" && parse_device(value)) options.device = *parse_device(value);
      else if (flag == "--dtype" && parse_precision(value)) options.precision = *parse_precision(value);
      else return usage();
    } catch (const std::exception&) {
      return usage();
    }
  }
  auto report = run_benchmark(options);
  if (!report) {
    std::fprintf(stderr, "evax-engine-bench: %s\n", report.error().c_str());
    return 1;
  }
  std::printf("%s\n", to_json(*report).c_str());
  return 0;
}
