// evax-engine-bench: the engine benchmark with nothing but LibTorch (for the GPU machine).
// The same measurement as `evax-node benchmark`; prints one JSON line.
#include <cstdio>
#include <string>
#include <vector>

#include "evax/inference/benchmark.h"

int main(int argc, char** argv) {
  using namespace evax::inference;
  auto options = parse_benchmark_args(std::vector<std::string>(argv + 1, argv + argc));
  if (!options) {
    std::fprintf(stderr, "evax-engine-bench: %s\nusage: evax-engine-bench %s\n", options.error().c_str(), kBenchmarkUsage);
    return 2;
  }
  auto report = run_benchmark(*options);
  if (!report) {
    std::fprintf(stderr, "evax-engine-bench: %s\n", report.error().c_str());
    return 1;
  }
  std::printf("%s\n", to_json(*report).c_str());
  return 0;
}
