// Clock: where the pipeline's timers read the time. Quiet periods, retry delays and waits run
// on the monotonic clock only, so a wall-clock jump (NTP, an admin's `date -s`) neither
// completes a study early nor skips a retry delay. Tests substitute a clock they advance.
#pragma once

#include <chrono>

namespace evax::pipeline {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace evax::pipeline
