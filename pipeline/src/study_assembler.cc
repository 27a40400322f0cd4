#include "evax/pipeline/study_assembler.h"

#include <algorithm>
#include <vector>


namespace evax::pipeline {

StudyAssembler::StudyAssembler(storage::StorageBackend& storage, std::chrono::milliseconds quiet_period,
                               dicom_node::IntakeSettings intake, const Clock& clock, logging::Logger& log,
                               std::function<void()> on_job_queued, QuietClock quiet_clock)
    : jobs_(storage.open_job_queue()),
      quiet_period_(quiet_period),
      intake_(std::move(intake)),
      quiet_clock_(quiet_clock),
      clock_(clock),
      log_(log),
      on_job_queued_(std::move(on_job_queued)) {}

StudyAssembler::~StudyAssembler() { stop(); }

void StudyAssembler::start() {
  {
    std::lock_guard lock(mutex_);
    for (const auto& study : jobs_->studies_awaiting_analysis()) last_arrival_[study.study_id] = clock_.now();
  }
  thread_ = std::thread([this] { run(); });
}

void StudyAssembler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StudyAssembler::note_arrival(std::int64_t study_id) {
  if (quiet_clock_ == QuietClock::database) return;  // the database knows every node's arrivals
  std::lock_guard lock(mutex_);
  last_arrival_[study_id] = clock_.now();
}

int StudyAssembler::queue_quiet_studies() {
  std::vector<std::int64_t> quiet;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    for (auto it = last_arrival_.begin(); it != last_arrival_.end();) {
      if (now - it->second >= quiet_period_) {
        quiet.push_back(it->first);
        it = last_arrival_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (quiet.empty() && quiet_clock_ == QuietClock::this_node) return 0;
  int queued = 0;
  try {
    // Studies left waiting at start-up (and, on one node, this node's arrivals) on this node's
    // clock; on a shared database also those quiet by the database's clock.
    std::vector<storage::PendingStudy> pending;
    if (!quiet.empty()) pending = jobs_->studies_awaiting_analysis(quiet);
    if (quiet_clock_ == QuietClock::database)
      for (auto& study : jobs_->studies_quiet_for(quiet_period_))
        if (std::none_of(pending.begin(), pending.end(), [&](const auto& p) { return p.study_id == study.study_id; }))
          pending.push_back(std::move(study));
    // The analysis's own intake rules: what they would skip adds nothing to re-analyse.
    const auto skip_reason = [this](const storage::InstanceAttributes& image) {
      const dicom_node::IntakeDecision decision = dicom_node::decide_intake(image, intake_);
      return decision.analyse ? std::string() : decision.reason_code + ": " + decision.detail;
    };
    for (const auto& study : pending) {
      const auto outcome = jobs_->enqueue(study, skip_reason);
      if (const auto it = std::find(quiet.begin(), quiet.end(), study.study_id); it != quiet.end()) quiet.erase(it);
      if (outcome.job_id == 0) {
        for (const auto& [instance_id, reason] : outcome.not_reanalysed)
          log_.info("assembler", "late-arrival-not-reanalysed", "a late arrival the intake rules skip: the earlier results stand",
                    {{"instance", std::to_string(instance_id)}, {"study", std::to_string(study.study_id)}, {"reason", reason}});
        continue;
      }
      ++queued;
      log_.info("assembler", "job-queued", "study complete after its quiet period",
                {{"job", std::to_string(outcome.job_id)}, {"study", std::to_string(study.study_id)}});
    }
  } catch (...) {
    // Whatever was not queued is tried again on the next pass.
    std::lock_guard lock(mutex_);
    for (auto study_id : quiet) last_arrival_.try_emplace(study_id, Clock::time_point{});
    if (queued > 0 && on_job_queued_) on_job_queued_();
    throw;
  }
  if (queued > 0 && on_job_queued_) on_job_queued_();
  return queued;
}

void StudyAssembler::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // Wake up often enough that a study waits at most ~1/10 of its quiet period extra.
      const auto tick = std::clamp(quiet_period_ / 10, std::chrono::milliseconds(20), std::chrono::milliseconds(500));
      wake_.wait_for(lock, tick, [this] { return stopping_; });
      if (stopping_) return;
    }
    try {
      queue_quiet_studies();
    } catch (const std::exception& e) {
      log_.error("assembler", "queue-failed", e.what());
    }
  }
}

}  // namespace evax::pipeline
