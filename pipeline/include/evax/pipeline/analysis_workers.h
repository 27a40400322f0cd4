// AnalysisWorkers: the pool that runs queued jobs. A worker claims a job atomically and hands it
// to the JobAnalysis (intake, decode, the shared BatchingClassifier, the output builders, the
// commit: job_analysis.h). A failed attempt is retried after a capped exponential delay
// (monotonic clock) until max_attempts, then the job ends failed with its reason.
// Owns `count` threads, started by start() and joined by stop() / the destructor: a job in
// progress is finished first, a job that cannot be is left running and requeued at start-up.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
#include "evax/pipeline/job_analysis.h"
#include "evax/pipeline/output_builder.h"
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
  // Everything passed by reference must outlive this object. `outputs`: the builders
  // (make_output_builders), run in their order. `on_results_queued` is called (from a worker
  // thread) after a job's outputs were queued for delivery.
  AnalysisWorkers(const storage::FileStore& files, storage::StorageBackend& storage, inference::BatchingClassifier& classifier,
                  const inference::ModelInfo& model, AnalysisSettings settings, std::vector<std::unique_ptr<OutputBuilder>> outputs,
                  const Clock& clock, logging::Logger& log, std::function<void()> on_results_queued = {});
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

  storage::StorageBackend& storage_;
  const DicomFileDecoder decoder_;
  BatchedModel model_;
  const std::vector<std::unique_ptr<OutputBuilder>> outputs_;
  const AnalysisSettings settings_;
  const JobAnalysis analysis_;
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
