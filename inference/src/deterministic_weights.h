// The fixtures' deterministic weights: every tensor a pure function of its timm name and shape
// (FNV-1a seed, splitmix64 stream), so demo models and test references need no weight files.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>

namespace evax::inference {

std::uint64_t fnv1a64(std::string_view text);

// The value rule of shared/fixtures/evax/README.md, extended by the segmentation fixtures'
// rule for BatchNorm running statistics. Returns a float32 CPU tensor of `shape`.
at::Tensor deterministic_tensor(std::string_view name, const std::vector<std::int64_t>& shape);

}  // namespace evax::inference
