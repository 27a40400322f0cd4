// JobQueue: the analysis queue. Studies become jobs (queued), workers claim them atomically
// (running) and finish them (done, skipped or failed, with a reason), or put them back for a
// later attempt. Every stage is time-stamped; every image's decision is kept.
// Jobs carry the id of the node that claimed them. Owns the tables jobs, job_images, study_coverage (which instances a job covers) and
// arrivals_not_reanalysed. Thread-safe: the calls of several threads on one JobQueue are
// serialised on its connection (open one per thread from the StorageBackend to run them in
// parallel); the queue itself is safe for any number of them at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "evax/storage/errors.h"
#include "evax/storage/records.h"

namespace evax::storage {

// What an admin action did: changed the job, found it in a state the action does not apply
// to, or found no such job.
enum class ActionResult { changed, wrong_state, not_found };

struct PendingStudy {
  std::int64_t study_id = 0;
  std::string study_instance_uid;
  std::int64_t max_instance_id = 0;  // the newest instance not yet covered by a job
  std::string last_received_at;
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // Studies with instances that no job covers yet: all of them, or only those in `among`
  // (the assembler asks about the studies whose quiet period just ended).
  virtual std::vector<PendingStudy> studies_awaiting_analysis() = 0;
  virtual std::vector<PendingStudy> studies_awaiting_analysis(const std::vector<std::int64_t>& among) = 0;

  // Studies with instances no job covers whose last instance arrived, by the database's clock,
  // at least `quiet` ago (and within the last 7 days): how the nodes of a cluster agree that a
  // study is complete, whichever node received it and whether that node still runs.
  virtual std::vector<PendingStudy> studies_quiet_for(std::chrono::milliseconds quiet) = 0;

  // Why an instance would not be analysed, or "" when it would (the caller's intake rules).
  using SkipReason = std::function<std::string(const InstanceAttributes&)>;
  struct LateEnqueue {
    std::int64_t job_id = 0;  // 0: no job, the arrivals were recorded as not worth re-analysis
    std::vector<std::pair<std::int64_t, std::string>> not_reanalysed;  // instance id, reason
  };
  // Queues the study's instances up to max_instance_id: extends a job of that study that is
  // still queued, or creates one (superseding the study's latest job). The job takes the
  // study's priority (an extended one keeps the higher of its own and the study's). With `skip_reason`,
  // arrivals after a finished (or running) analysis of which `skip_reason` skips every one start
  // no superseding job: they are marked covered and each keeps its reason. One transaction.
  virtual LateEnqueue enqueue(const PendingStudy& study, const SkipReason& skip_reason) = 0;
  std::int64_t enqueue(const PendingStudy& study) { return enqueue(study, nullptr).job_id; }

  // The first queued job not in `held_back` (jobs waiting out a retry delay), now running: the
  // highest priority first (stat, high, routine), the oldest (lowest id) first within one. Strict:
  // a routine job waits while any stat or high job is queued and not held back.
  virtual std::optional<Job> claim_next(const std::set<std::int64_t>& held_back) = 0;

  // After a crash: this node's running jobs go back to queued, but those in `in_hand` (still
  // being analysed here: a claim whose commit answer was lost leaves a job this node holds
  // without knowing). Returns how many.
  virtual int requeue_running(const std::set<std::int64_t>& in_hand) = 0;
  int requeue_running() { return requeue_running({}); }

  // Running jobs of nodes silent for longer than `lease_seconds` (dead) go back to queued, for
  // any node to claim. Returns how many. (On SQLite there is one node: always 0.)
  virtual int take_over_from_silent_nodes(int lease_seconds) = 0;

  // The instances a job covers, oldest first (files may be gone if purged).
  virtual std::vector<Instance> instances_for(const Job& job) = 0;

  // mark_inferred, finish, finish_with_outputs and retry_later apply only while this node holds
  // the running job; otherwise they change nothing and throw LostClaim (drop the result).
  virtual void mark_inferred(std::int64_t job_id) = 0;

  // Final state (done, skipped or failed) with its reason and the per-image decisions.
  virtual void finish(std::int64_t job_id, JobState state, const std::string& reason,
                      const std::vector<JobImage>& images) = 0;

  // A done job with its results, in one transaction: the per-image decisions, the outputs
  // (files already durable under outputs/) handed to the outbox with one pending delivery to
  // each route's destination that takes the output's kind; the job's reported time is set.
  virtual void finish_with_outputs(std::int64_t job_id, const std::vector<JobImage>& images,
                                   const std::vector<Output>& outputs, const std::vector<DeliveryRoute>& routes) = 0;

  // The Structured Report of the study's latest earlier analysis, which a new one supersedes.
  virtual std::optional<Output> previous_report(const Job& job) = 0;

  // Back to queued after a failed attempt; `next_attempt_at` is informational (wall clock).
  virtual void retry_later(std::int64_t job_id, const std::string& error, const std::string& next_attempt_at) = 0;

  // Admin actions. Retry: a failed or skipped job is queued again with its attempts reset.
  // Cancel: a queued job (also one waiting out a retry delay) ends failed with reason
  // "cancelled: <why>"; a running job finishes its attempt first, so it cannot be cancelled.
  virtual ActionResult retry(std::int64_t job_id) = 0;
  virtual ActionResult cancel(std::int64_t job_id, const std::string& why) = 0;
};

}  // namespace evax::storage
