// AnalysisWorkers: the pool that runs queued jobs. A worker claims a job atomically, applies
// the intake rules to every image (recording a reason code for each skipped one), decodes the
// pixels, sends the images to the shared BatchingClassifier (so images of different studies
// share forward passes), asks for Grad-CAM maps of each image's leading findings (and its
// lungs, when a segmentation model runs), builds the result objects (SR, SC heatmaps and lung
// SEGs, written durably), and commits probabilities, maps,
// outputs and their deliveries in one transaction. A failed attempt is retried after a capped exponential
// delay (monotonic clock) until max_attempts, then the job ends failed with its reason.
// Owns `count` threads, started by start() and joined by stop() / the destructor: a job in
// progress is finished first, a job that cannot be is left running and requeued at start-up.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "evax/config/node_config.h"
#include "evax/dicom_node/intake_rules.h"
#include "evax/inference/batcher.h"
#include "evax/inference/lung_mask.h"
#include "evax/logging/logger.h"
#include "evax/pipeline/clock.h"
#include "evax/pipeline/result_settings.h"
#include "evax/storage/file_store.h"
#include "evax/storage/records.h"
#include "evax/storage/storage_backend.h"

namespace evax::pipeline {

struct AnalysisSettings {
  config::WorkerSettings workers;
  dicom_node::IntakeSettings intake;
  int cam_top_k = 3;
  bool segment_lungs = false;            // the classifier has a Segmenter: ask it for the lungs
  inference::LungMaskLimits lung_limits;
  ResultSettings results;
};

class AnalysisWorkers {
 public:
  // Everything passed in must outlive this object. `on_results_queued` is called (from a
  // worker thread) after a job's outputs were queued for delivery.
  AnalysisWorkers(const storage::FileStore& files, storage::StorageBackend& storage, inference::BatchingClassifier& classifier,
                  const inference::ModelInfo& model, AnalysisSettings settings, const Clock& clock, logging::Logger& log,
                  std::function<void()> on_results_queued = {});
  ~AnalysisWorkers();
  AnalysisWorkers(const AnalysisWorkers&) = delete;
  AnalysisWorkers& operator=(const AnalysisWorkers&) = delete;

  void start();
  void stop();
  // A job was queued: idle workers look at once instead of at their next poll.
  void wake();

  // The delay before attempt `attempt + 1` after `attempt` failed attempts.
  static std::chrono::seconds retry_delay(const config::WorkerSettings& settings, int attempt);

 private:
  void run(int index);
  // Runs one claimed job to its end (final state or a retry). Never throws. Returns false when
  // its outcome could not be recorded (the database was unreachable): the job is still this
  // node's, running, and the worker queues it again once the database answers.
  bool process(storage::JobQueue& jobs, const storage::Job& job);
  // Jobs still waiting out their retry delay; forgets the ones whose delay has passed.
  std::set<std::int64_t> jobs_held_back();

  const storage::FileStore& files_;
  storage::StorageBackend& storage_;
  inference::BatchingClassifier& classifier_;
  const inference::ModelInfo& model_;
  const AnalysisSettings settings_;
  const Clock& clock_;
  logging::Logger& log_;
  const std::function<void()> on_results_queued_;
  std::mutex mutex_;  // guards stopping_, retry_at_, and the wake-up condition
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t wake_generation_ = 0;
  std::map<std::int64_t, Clock::time_point> retry_at_;  // jobs waiting out a retry delay
  std::set<std::int64_t> in_hand_;                      // jobs a worker is analysing now
  std::vector<std::thread> threads_;
};

}  // namespace evax::pipeline
