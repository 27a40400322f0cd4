#include "evax/pipeline/analysis_workers.h"

#include <thread>

#include "evax/logging/logger.h"
#include "evax/pipeline/backoff.h"

namespace evax::pipeline {
namespace {

JobAnalysisSettings job_analysis_settings(const AnalysisSettings& settings, const inference::ModelInfo& model) {
  JobAnalysisSettings out;
  out.intake = settings.intake;
  out.cam_top_k = settings.cam_top_k;
  out.segment_lungs = settings.segment_lungs;
  out.lung_limits = settings.lung_limits;
  out.provenance = {model.name, std::string(inference::task_info(model.task).name), model.demo,
                    settings.results.algorithm.checkpoint_sha256};
  out.features_task = model.task == inference::Task::features;
  out.destinations = settings.results.destinations;
  return out;
}

}  // namespace

AnalysisWorkers::AnalysisWorkers(const storage::FileStore& files, storage::StorageBackend& storage,
                                 inference::BatchingClassifier& classifier, const inference::ModelInfo& model,
                                 AnalysisSettings settings, std::vector<std::unique_ptr<OutputBuilder>> outputs,
                                 const Clock& clock, logging::Logger& log, std::function<void()> on_results_queued)
    : storage_(storage),
      model_(classifier),
      outputs_(std::move(outputs)),
      settings_(std::move(settings)),
      analysis_(files, decoder_, model_, outputs_, job_analysis_settings(settings_, model), log),
      clock_(clock),
      log_(log),
      on_results_queued_(std::move(on_results_queued)) {}

AnalysisWorkers::~AnalysisWorkers() { stop(); }

void AnalysisWorkers::start() {
  for (int i = 0; i < settings_.workers.count; ++i) threads_.emplace_back([this, i] { run(i); });
}

void AnalysisWorkers::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void AnalysisWorkers::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wake_generation_;
  }
  wake_.notify_all();
}

std::chrono::seconds AnalysisWorkers::retry_delay(const config::WorkerSettings& settings, int attempt) {
  return capped_backoff(settings.retry_initial_s, settings.retry_max_s, attempt);
}

std::set<std::int64_t> AnalysisWorkers::jobs_held_back() {
  std::lock_guard lock(mutex_);
  std::set<std::int64_t> held;
  const auto now = clock_.now();
  for (auto it = retry_at_.begin(); it != retry_at_.end();) {
    if (it->second > now) {
      held.insert(it->first);
      ++it;
    } else {
      it = retry_at_.erase(it);
    }
  }
  return held;
}

void AnalysisWorkers::run(int index) {
  std::unique_ptr<storage::JobQueue> jobs;
  std::vector<std::int64_t> unrecorded;
  bool claim_unsure = false;  // a claim failed: its commit may have gone through unanswered
  while (!jobs) {
    try {
      jobs = storage_.open_job_queue();
    } catch (const std::exception& e) {
      log_.error("worker", "database-unavailable", e.what(), {{"worker", std::to_string(index)}});
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) return;
    }
  }
  for (;;) {
    std::uint64_t seen_generation;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      seen_generation = wake_generation_;
    }
    // Jobs whose outcome did not reach the database go back to the queue once it answers.
    for (auto it = unrecorded.begin(); it != unrecorded.end();) {
      try {
        jobs->retry_later(*it, "the database was unreachable when the attempt ended", logging::utc_now_iso());
        it = unrecorded.erase(it);
      } catch (const storage::LostClaim&) {
        it = unrecorded.erase(it);  // taken over meanwhile
      } catch (const std::exception&) {
        break;  // still unreachable: next round
      }
    }
    std::optional<storage::Job> job;
    try {
      if (claim_unsure) {
        // A job this node may hold without knowing goes back to the queue (not one in hand).
        std::set<std::int64_t> in_hand;
        {
          std::lock_guard lock(mutex_);
          in_hand = in_hand_;
        }
        jobs->requeue_running(in_hand);
        claim_unsure = false;
      }
      if (unrecorded.empty()) job = jobs->claim_next(jobs_held_back());
    } catch (const std::exception& e) {
      log_.error("worker", "claim-failed", e.what(), {{"worker", std::to_string(index)}});
      claim_unsure = true;
    }
    if (job) {
      {
        std::lock_guard lock(mutex_);
        in_hand_.insert(job->id);
      }
      const bool recorded = process(*jobs, *job);
      {
        std::lock_guard lock(mutex_);
        in_hand_.erase(job->id);
      }
      if (!recorded) unrecorded.push_back(job->id);
      continue;
    }
    // Nothing to do: sleep until woken, or poll again for retries that came due.
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(500),
                   [&] { return stopping_ || wake_generation_ != seen_generation; });
  }
}

bool AnalysisWorkers::process(storage::JobQueue& jobs, const storage::Job& job) {
  const logging::Fields fields{{"job", std::to_string(job.id)}, {"attempt", std::to_string(job.attempts)}};
  const JobOutcome outcome = analysis_.analyse(jobs, job);
  if (outcome.kind == JobOutcome::Kind::done && outcome.outputs > 0 && on_results_queued_) on_results_queued_();
  if (outcome.kind != JobOutcome::Kind::retry) return true;

  // A failed attempt: retry later, or give up after max_attempts.
  const std::string& failure = outcome.reason;
  const BookkeepingRetry bookkeeping;
  try {
    if (job.attempts >= settings_.workers.max_attempts) {
      record_with_retry(
          [&] { jobs.finish(job.id, storage::JobState::failed, "failed after " + std::to_string(job.attempts) + " attempts: " + failure, {}); },
          bookkeeping, log_, fields);
      log_.error("worker", "job-failed", failure, fields);
      return true;
    }
    const auto delay = retry_delay(settings_.workers, job.attempts);
    {
      std::lock_guard lock(mutex_);
      retry_at_[job.id] = clock_.now() + delay;
    }
    const auto wall = std::chrono::system_clock::now() + delay;
    record_with_retry([&] { jobs.retry_later(job.id, failure, logging::iso_utc(wall)); }, bookkeeping, log_, fields);
    log_.warn("worker", "job-retry", failure, {{"job", std::to_string(job.id)}, {"retry_in_s", std::to_string(delay.count())}});
  } catch (const storage::LostClaim&) {
    log_.warn("worker", "claim-lost", "the job was taken over by another node", fields);
  } catch (const std::exception& e) {
    // The database itself failed: the job stays running until the worker can queue it again.
    log_.error("worker", "job-bookkeeping-failed", e.what(), fields);
    return false;
  }
  return true;
}

}  // namespace evax::pipeline
