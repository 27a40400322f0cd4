// JobStore: the analysis queue in SQLite. Studies become jobs (queued), workers claim them
// atomically (running) and finish them (done, skipped or failed, with a reason), or put them
// back for a later attempt. Every stage is time-stamped; every image's decision is kept.
// Thread-safe; each JobStore has its own connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "evax/storage/file_store.h"
#include "evax/storage/records.h"

namespace evax::storage {

class Database;

// Which jobs the admin lists: every filter is optional; newest first, one page at a time.
struct JobFilter {
  std::optional<JobState> state;
  std::string study_instance_uid;  // "" = any
  std::string received_since;      // ISO 8601 prefix, inclusive ("2026-11-28" or a full time); "" = any
  std::string received_until;      // exclusive; "" = any
  int limit = 50;
  int offset = 0;
};

struct JobPage {
  std::vector<Job> jobs;
  std::int64_t total = 0;  // matching jobs, all pages
};

// What an admin action did: changed the job, found it in a state the action does not apply
// to, or found no such job.
enum class ActionResult { changed, wrong_state, not_found };

struct PendingStudy {
  std::int64_t study_id = 0;
  std::string study_instance_uid;
  std::int64_t max_instance_id = 0;  // the newest instance not yet covered by a job
  std::string last_received_at;
};

class JobStore {
 public:
  // `files` must outlive this object. Throws on database failure.
  explicit JobStore(const FileStore& files);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Studies with instances that no job covers yet: all of them, or only those in `among`
  // (the assembler asks about the studies whose quiet period just ended).
  std::vector<PendingStudy> studies_awaiting_analysis();
  std::vector<PendingStudy> studies_awaiting_analysis(const std::vector<std::int64_t>& among);

  // Queues the study's instances up to max_instance_id: extends a job of that study that is
  // still queued, or creates one (superseding the study's latest job). Returns the job id.
  std::int64_t enqueue(const PendingStudy& study);

  // Why an instance would not be analysed, or "" when it would (the caller's intake rules).
  using SkipReason = std::function<std::string(const InstanceAttributes&)>;
  struct LateEnqueue {
    std::int64_t job_id = 0;  // 0: no job, the arrivals were recorded as not worth re-analysis
    std::vector<std::pair<std::int64_t, std::string>> not_reanalysed;  // instance id, reason
  };
  // enqueue(), except that arrivals after a finished (or running) analysis of which
  // `skip_reason` skips every one start no superseding job: they are marked covered and each
  // keeps its reason in instances.not_reanalysed_reason. One transaction.
  LateEnqueue enqueue(const PendingStudy& study, const SkipReason& skip_reason);

  // The oldest queued job not in `held_back` (jobs waiting out a retry delay), now running.
  std::optional<Job> claim_next(const std::set<std::int64_t>& held_back);

  // After a crash: running jobs go back to queued. Returns how many.
  int requeue_running();

  // The instances a job covers, oldest first (files may be gone if purged).
  std::vector<Instance> instances_for(const Job& job);

  void mark_inferred(std::int64_t job_id);

  // Final state (done, skipped or failed) with its reason and the per-image decisions.
  void finish(std::int64_t job_id, JobState state, const std::string& reason, const std::vector<JobImage>& images);

  // A done job with its results, in one transaction: the per-image decisions, the outputs
  // (files already durable under outputs/) and one pending delivery of each output to each
  // destination; the job's reported time is set.
  void finish_with_outputs(std::int64_t job_id, const std::vector<JobImage>& images, const std::vector<Output>& outputs,
                           const std::vector<std::string>& destinations);

  // The Structured Report of the study's latest earlier analysis, which a new one supersedes.
  std::optional<Output> previous_report(const Job& job);

  // Back to queued after a failed attempt; `next_attempt_at` is informational (wall clock).
  void retry_later(std::int64_t job_id, const std::string& error, const std::string& next_attempt_at);

  std::optional<Job> job(std::int64_t job_id);
  std::vector<Job> recent_jobs(int limit);
  JobPage list_jobs(const JobFilter& filter);
  std::vector<Job> jobs_of_study(const std::string& study_instance_uid);  // oldest first

  // The study's late arrivals that started no re-analysis, oldest first, each with its reason.
  struct NotReanalysed {
    std::string sop_instance_uid;
    std::string received_at;
    std::string reason;
  };
  std::vector<NotReanalysed> not_reanalysed_of_study(const std::string& study_instance_uid);

  // Admin actions. Retry: a failed or skipped job is queued again with its attempts reset.
  // Cancel: a queued job (also one waiting out a retry delay) ends failed with reason
  // "cancelled: <why>"; a running job finishes its attempt first, so it cannot be cancelled.
  ActionResult retry(std::int64_t job_id);
  ActionResult cancel(std::int64_t job_id, const std::string& why);
  std::vector<JobImage> images_of(std::int64_t job_id);

 private:
  std::unique_ptr<Database> db_;
};

}  // namespace evax::storage
