// The retry schedule shared by analysis jobs and deliveries: after `attempt` failed attempts
// (1, 2, ...) wait initial * 2^(attempt - 1) seconds, capped at `cap`.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace evax::pipeline {

inline std::chrono::seconds capped_backoff(std::int64_t initial_s, std::int64_t cap_s, int attempt) {
  std::int64_t delay = initial_s;
  for (int i = 1; i < attempt && delay < cap_s; ++i) delay *= 2;
  return std::chrono::seconds(std::min(delay, cap_s));
}

}  // namespace evax::pipeline
