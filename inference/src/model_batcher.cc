#include "evax/inference/model_batcher.h"

namespace evax::inference {

void BatchStats::count_batch(int size) {
  batches += 1;
  images += static_cast<std::uint64_t>(size);
  largest_batch = std::max(largest_batch, size);
  batches_by_size[size] += 1;
}

void BatchStats::record_seconds(double seconds) {
  seconds_sum += seconds;
  for (std::size_t i = 0; i < kSecondsBuckets.size(); ++i)
    if (seconds <= kSecondsBuckets[i]) seconds_buckets[i] += 1;
}

}  // namespace evax::inference
