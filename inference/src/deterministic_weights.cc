#include "deterministic_weights.h"

#include <cmath>

namespace evax::inference {
namespace {

std::uint64_t splitmix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = 0xCBF29CE484222325ULL;
  for (unsigned char byte : text) hash = (hash ^ byte) * 0x100000001B3ULL;
  return hash;
}

at::Tensor deterministic_tensor(std::string_view name, const std::vector<std::int64_t>& shape) {
  std::int64_t count = 1;
  for (auto extent : shape) count *= extent;

  enum class Rule { fan_in, around_one, small } rule = Rule::small;
  double fan_in_scale = 0.0;
  if (ends_with(name, "running_var")) {
    rule = Rule::around_one;  // a variance must stay positive
  } else if (ends_with(name, "weight") && shape.size() >= 2) {
    rule = Rule::fan_in;
    fan_in_scale = std::sqrt(3.0 / (static_cast<double>(count) / static_cast<double>(shape[0])));
  } else if (ends_with(name, "weight") && shape.size() == 1) {
    rule = Rule::around_one;
  }

  at::Tensor tensor = at::empty(shape, at::kFloat);
  float* out = tensor.data_ptr<float>();
  const std::uint64_t seed = fnv1a64(name);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint64_t z = splitmix64(seed + static_cast<std::uint64_t>(i + 1) * 0x9E3779B97F4A7C15ULL);
    const double u = static_cast<double>(z >> 40) / 8388608.0 - 1.0;  // exact, in [-1, 1)
    switch (rule) {
      case Rule::fan_in: out[i] = static_cast<float>(u * fan_in_scale); break;
      case Rule::around_one: out[i] = static_cast<float>(1.0 + 0.1 * u); break;
      case Rule::small: out[i] = static_cast<float>(0.02 * u); break;
    }
  }
  return tensor;
}

}  // namespace evax::inference
