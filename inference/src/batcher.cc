#include "evax/inference/batcher.h"

#include <algorithm>
#include <vector>

namespace evax::inference {

BatchingClassifier::BatchingClassifier(const Engine& engine, BatchingOptions options, const Segmenter* segmenter)
    : engine_(engine), segmenter_(segmenter), options_{std::max(1, options.max_batch), options.max_wait} {
  worker_ = std::thread([this] { run(); });
}

BatchingClassifier::~BatchingClassifier() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

std::future<BatchingClassifier::Outcome> BatchingClassifier::submit(ClassifyRequest request) {
  std::promise<Outcome> promise;
  auto future = promise.get_future();
  const int classes = static_cast<int>(engine_.info().labels.size());
  if (!request.image.valid()) {
    promise.set_value(std::unexpected(std::string("image is empty or its pixel buffer does not match its size")));
    return future;
  }
  if (request.segment_lungs && !segmenter_) {
    promise.set_value(std::unexpected(std::string("lung segmentation was asked for, but no segmentation model is loaded")));
    return future;
  }
  for (int c : request.cam_classes) {
    if (c < 0 || c >= classes) {
      promise.set_value(std::unexpected("Grad-CAM class " + std::to_string(c) + " is not an output of this head"));
      return future;
    }
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      promise.set_value(std::unexpected(std::string("the classifier is shutting down")));
      return future;
    }
    queue_.push_back({std::move(request), std::move(promise), std::chrono::steady_clock::now()});
  }
  wake_.notify_all();
  return future;
}

BatchingClassifier::Stats BatchingClassifier::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void BatchingClassifier::run() {
  for (;;) {
    std::deque<Pending> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has been served
      const auto deadline = queue_.front().queued_at + options_.max_wait;
      wake_.wait_until(lock, deadline, [&] {
        return stopping_ || static_cast<int>(queue_.size()) >= options_.max_batch;
      });
      const auto take = std::min<std::size_t>(queue_.size(), static_cast<std::size_t>(options_.max_batch));
      for (std::size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stats_.batches += 1;
      stats_.images += batch.size();
      stats_.largest_batch = std::max(stats_.largest_batch, static_cast<int>(batch.size()));
      stats_.batches_by_size[static_cast<int>(batch.size())] += 1;
    }
    const auto started = std::chrono::steady_clock::now();
    serve(batch);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::lock_guard lock(mutex_);
    stats_.seconds_sum += seconds;
    for (std::size_t i = 0; i < Stats::kSecondsBuckets.size(); ++i)
      if (seconds <= Stats::kSecondsBuckets[i]) stats_.seconds_buckets[i] += 1;
  }
}

void BatchingClassifier::serve(std::deque<Pending>& batch) {
  std::vector<ClassifyRequest> requests;
  requests.reserve(batch.size());
  for (auto& pending : batch) requests.push_back(std::move(pending.request));
  auto results = analyse(requests);
  if (results) {
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].promise.set_value(std::move((*results)[i]));
    return;
  }
  // A failed batch may hold one request that cannot run: give each its own answer.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch.size() == 1) {
      batch[i].promise.set_value(std::unexpected(results.error()));
      continue;
    }
    auto alone = analyse({requests[i]});
    if (alone) batch[i].promise.set_value(std::move(alone->front()));
    else batch[i].promise.set_value(std::unexpected(alone.error()));
  }
}

}  // namespace evax::inference

namespace evax::inference {

std::expected<std::vector<ImageResult>, std::string> BatchingClassifier::analyse(const std::vector<ClassifyRequest>& requests) const {
  auto results = engine_.classify(requests);
  if (!results || !segmenter_) return results;
  std::vector<GreyImage> images;
  std::vector<std::size_t> asked;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!requests[i].segment_lungs) continue;
    images.push_back(requests[i].image);
    asked.push_back(i);
  }
  if (images.empty()) return results;
  auto maps = segmenter_->segment(images);
  if (!maps) return std::unexpected("lung segmentation: " + maps.error());
  for (std::size_t j = 0; j < asked.size(); ++j) (*results)[asked[j]].lungs = std::move((*maps)[j]);
  return results;
}

}  // namespace evax::inference
