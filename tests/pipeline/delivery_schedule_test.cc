// The delivery retry schedule: exponential from retry_initial_s, capped at retry_max_s.
#include <gtest/gtest.h>

#include "evax/pipeline/delivery_workers.h"

namespace evax::pipeline {
namespace {

TEST(DeliverySchedule, DoublesFromTheInitialDelayUpToTheCap) {
  config::DeliverySettings settings;
  settings.retry_initial_s = 10;
  settings.retry_max_s = 600;
  const int expected[] = {10, 20, 40, 80, 160, 320, 600, 600};
  for (int attempt = 1; attempt <= 8; ++attempt)
    EXPECT_EQ(DeliveryWorkers::retry_delay(settings, attempt).count(), expected[attempt - 1]) << attempt;
  EXPECT_EQ(DeliveryWorkers::retry_delay(settings, 1000).count(), 600);  // no overflow on long outages
  settings.retry_initial_s = 0;
  EXPECT_EQ(DeliveryWorkers::retry_delay(settings, 5).count(), 0);
}

}  // namespace
}  // namespace evax::pipeline
