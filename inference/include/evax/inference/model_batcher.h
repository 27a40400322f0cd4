// ModelBatcher: gathers requests from many callers into batches for one Model (up to max_batch
// inputs, and the model's own limit; waiting at most max_wait for a batch to fill), so that
// images of different studies share one forward pass. Owns one worker thread, joined on
// destruction after the queued requests are served. Thread-safe: submit() from any thread.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <expected>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "evax/inference/model.h"

namespace evax::inference {

struct BatchingOptions {
  int max_batch = 8;
  std::chrono::milliseconds max_wait{10};
};

struct BatchStats {
  std::uint64_t batches = 0;
  std::uint64_t images = 0;  // inputs served (each input is one image for the node's models)
  int largest_batch = 0;
  std::map<int, std::uint64_t> batches_by_size;  // batch size -> how many batches
  // Wall time of each batch's run() (with a failed batch's retries), as a histogram:
  // seconds_buckets[i] counts batches that took at most kSecondsBuckets[i] (cumulative).
  static constexpr std::array<double, 9> kSecondsBuckets{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
  std::array<std::uint64_t, 9> seconds_buckets{};
  double seconds_sum = 0;

  void count_batch(int size);
  void record_seconds(double seconds);
};

template <typename In, typename Out>
class ModelBatcher {
 public:
  using Outcome = std::expected<Out, std::string>;

  // `model` must outlive this object.
  ModelBatcher(const Model<In, Out>& model, BatchingOptions options)
      : model_(model), max_batch_(effective_max_batch(options.max_batch, model.limits())), max_wait_(options.max_wait) {
    worker_ = std::thread([this] { work(); });
  }
  ~ModelBatcher() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }
  ModelBatcher(const ModelBatcher&) = delete;
  ModelBatcher& operator=(const ModelBatcher&) = delete;

  // Queues one input. One the model refuses is answered at once; otherwise the future is
  // fulfilled when its batch has run.
  std::future<Outcome> submit(In input) {
    std::promise<Outcome> promise;
    auto future = promise.get_future();
    if (auto refusal = model_.refusal(input)) {
      promise.set_value(std::unexpected(std::move(*refusal)));
      return future;
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        promise.set_value(std::unexpected(model_.name() + ": shutting down"));
        return future;
      }
      queue_.push_back({std::move(input), std::move(promise), std::chrono::steady_clock::now()});
    }
    wake_.notify_all();
    return future;
  }

  BatchStats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  int max_batch() const { return max_batch_; }

 private:
  struct Pending {
    In input;
    std::promise<Outcome> promise;
    std::chrono::steady_clock::time_point queued_at;
  };
  using Batch = typename Model<In, Out>::Batch;

  static int effective_max_batch(int asked, ModelLimits limits) {
    const int batch = std::max(1, asked);
    return limits.max_batch > 0 ? std::min(batch, limits.max_batch) : batch;
  }

  void work() {
    for (;;) {
      std::deque<Pending> batch;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued has been served
        const auto deadline = queue_.front().queued_at + max_wait_;
        wake_.wait_until(lock, deadline, [&] { return stopping_ || static_cast<int>(queue_.size()) >= max_batch_; });
        const auto take = std::min<std::size_t>(queue_.size(), static_cast<std::size_t>(max_batch_));
        for (std::size_t i = 0; i < take; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        stats_.count_batch(static_cast<int>(batch.size()));
      }
      const auto started = std::chrono::steady_clock::now();
      serve(batch);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::lock_guard lock(mutex_);
      stats_.record_seconds(seconds);
    }
  }

  void serve(std::deque<Pending>& batch) {
    std::vector<const In*> inputs;
    inputs.reserve(batch.size());
    for (const auto& pending : batch) inputs.push_back(&pending.input);
    auto outputs = run(Batch(inputs));
    if (outputs && outputs->size() == batch.size()) {
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i].promise.set_value(std::move((*outputs)[i]));
      return;
    }
    const std::string error = outputs ? model_.name() + ": answered " + std::to_string(outputs->size()) + " outputs for " +
                                            std::to_string(batch.size()) + " inputs"
                                      : outputs.error();
    // A failed batch may hold one input that cannot run: give each its own answer.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch.size() == 1) {
        batch[i].promise.set_value(std::unexpected(error));
        continue;
      }
      auto alone = run(Batch(&inputs[i], 1));
      if (alone && alone->size() == 1) batch[i].promise.set_value(std::move(alone->front()));
      else batch[i].promise.set_value(std::unexpected(alone ? error : alone.error()));
    }
  }

  // The model's run(), with an escaping exception turned into the batch's error.
  std::expected<std::vector<Out>, std::string> run(Batch inputs) const {
    try {
      return model_.run(inputs);
    } catch (const std::exception& e) {
      return std::unexpected(model_.name() + ": " + e.what());
    }
  }

  const Model<In, Out>& model_;
  const int max_batch_;
  const std::chrono::milliseconds max_wait_;
  mutable std::mutex mutex_;  // guards queue_, stopping_, stats_
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  BatchStats stats_;
  std::thread worker_;  // started last in the constructor, joined in the destructor
};

}  // namespace evax::inference
