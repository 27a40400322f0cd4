// BatchingClassifier: gathers classification requests from many callers into engine batches
// (up to max_batch images, waiting at most max_wait for a batch to fill), so that images of
// different studies share one forward pass. With a Segmenter, the images of a batch that ask
// for it are segmented as one batch right after their classification. Owns one worker thread, joined on destruction
// after the queued requests are served. Thread-safe: submit() from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <array>
#include <map>
#include <expected>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "evax/inference/engine.h"
#include "evax/inference/segmenter.h"

namespace evax::inference {

struct BatchingOptions {
  int max_batch = 8;
  std::chrono::milliseconds max_wait{10};
};

class BatchingClassifier {
 public:
  using Outcome = std::expected<ImageResult, std::string>;

  // `engine` (and `segmenter`, which may be null) must outlive this object.
  BatchingClassifier(const Engine& engine, BatchingOptions options, const Segmenter* segmenter = nullptr);
  ~BatchingClassifier();
  BatchingClassifier(const BatchingClassifier&) = delete;
  BatchingClassifier& operator=(const BatchingClassifier&) = delete;

  // Queues one image. A request the engine could never serve (bad image, unknown class) is
  // answered at once; otherwise the future is fulfilled when its batch has run.
  std::future<Outcome> submit(ClassifyRequest request);

  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t images = 0;
    int largest_batch = 0;
    std::map<int, std::uint64_t> batches_by_size;  // batch size -> how many batches
    // Wall time of each batch (classification, Grad-CAM and segmentation), as a histogram:
    // seconds_buckets[i] counts batches that took at most kSecondsBuckets[i] (cumulative).
    static constexpr std::array<double, 9> kSecondsBuckets{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
    std::array<std::uint64_t, 9> seconds_buckets{};
    double seconds_sum = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    ClassifyRequest request;
    std::promise<Outcome> promise;
    std::chrono::steady_clock::time_point queued_at;
  };

  void run();
  void serve(std::deque<Pending>& batch);
  // The classification of `requests` with the lungs of those that asked; an error for the batch.
  std::expected<std::vector<ImageResult>, std::string> analyse(const std::vector<ClassifyRequest>& requests) const;

  const Engine& engine_;
  const Segmenter* const segmenter_;
  const BatchingOptions options_;
  mutable std::mutex mutex_;  // guards queue_, stopping_, stats_
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread worker_;  // started last in the constructor, joined in the destructor
};

}  // namespace evax::inference
