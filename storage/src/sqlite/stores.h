// The SQLite backend's stores. Each owns its tables and is the only code that writes them; a
// transaction that spans two owners (a job finished with its outputs, the last delivery of a
// job) calls the other owner's table function below inside its own transaction.
// Internal to the storage module: made by SqliteBackend (backend.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "database.h"
#include "evax/storage/feedback_store.h"
#include "evax/storage/file_store.h"
#include "evax/storage/instance_index.h"
#include "evax/storage/job_queue.h"
#include "evax/storage/node_registry.h"
#include "evax/storage/outbox.h"
#include "evax/storage/read_model.h"
#include "evax/storage/retrieval_log.h"

namespace evax::storage::sqlite {

class SqliteInstanceIndex final : public InstanceIndex {
 public:
  SqliteInstanceIndex(const FileStore& files, std::int64_t min_free_bytes);
  StoreResult store(const StoreRequest& request) override;
  Sweep sweep_at_startup() override;
  int purge_instances_before(const std::string& cutoff_iso) override;
  bool below_watermark(std::int64_t incoming_bytes) const override;

 private:
  const FileStore& files_;
  const std::int64_t min_free_bytes_;
  Database db_;
};

class SqliteJobQueue final : public JobQueue {
 public:
  SqliteJobQueue(const std::string& database_path, std::string node_id) : node_id_(std::move(node_id)), db_(database_path) {}
  std::vector<PendingStudy> studies_awaiting_analysis() override;
  std::vector<PendingStudy> studies_awaiting_analysis(const std::vector<std::int64_t>& among) override;
  std::vector<PendingStudy> studies_quiet_for(std::chrono::milliseconds quiet) override;
  using JobQueue::enqueue;
  LateEnqueue enqueue(const PendingStudy& study, const SkipReason& skip_reason) override;
  std::optional<Job> claim_next(const std::set<std::int64_t>& held_back) override;
  using JobQueue::requeue_running;
  int requeue_running(const std::set<std::int64_t>& in_hand) override;
  int take_over_from_silent_nodes(int) override { return 0; }  // one node: nobody else to take over from
  std::vector<Instance> instances_for(const Job& job) override;
  void mark_inferred(std::int64_t job_id) override;
  void finish(std::int64_t job_id, JobState state, const std::string& reason, const std::vector<JobImage>& images) override;
  void finish_with_outputs(std::int64_t job_id, const std::vector<JobImage>& images, const std::vector<Output>& outputs,
                           const std::vector<DeliveryRoute>& routes) override;
  std::optional<Output> previous_report(const Job& job) override;
  void retry_later(std::int64_t job_id, const std::string& error, const std::string& next_attempt_at) override;
  ActionResult retry(std::int64_t job_id) override;
  ActionResult cancel(std::int64_t job_id, const std::string& why) override;

 private:
  const std::string node_id_;
  Database db_;
};

class SqliteOutbox final : public Outbox {
 public:
  SqliteOutbox(const std::string& database_path, std::string node_id) : node_id_(std::move(node_id)), db_(database_path) {}
  std::vector<Delivery> claim_due(const std::string& destination, const std::set<std::int64_t>& held_back,
                                  int limit) override;
  void record_delivered(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail) override;
  void record_delivered_as(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                           const std::string& substitution) override;
  int substitute_with(std::int64_t delivery_id, const std::string& carrier_kind, const std::string& substitution) override;
  void record_retry(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                    const std::string& next_attempt_at) override;
  void record_dead(std::int64_t delivery_id, bool permanent, std::optional<int> dimse_status,
                   const std::string& detail) override;
  int requeue_sending() override;
  int requeue_sending_to(const std::string& destination) override;
  int take_over_from_silent_nodes(int) override { return 0; }
  std::map<std::string, int> unfinished_by_destination() override;
  bool resend(std::int64_t delivery_id) override;
  std::set<std::string> output_paths() override;
  int purge_outputs_before(const std::string& cutoff_iso) override;

 private:
  const std::string node_id_;
  Database db_;
};

class SqliteReadModel final : public ReadModel {
 public:
  explicit SqliteReadModel(const std::string& database_path) : db_(database_path) {}
  std::optional<Job> job(std::int64_t job_id) override;
  std::vector<Job> recent_jobs(int limit) override;
  JobPage list_jobs(const JobFilter& filter) override;
  std::vector<Job> jobs_of_study(const std::string& study_instance_uid) override;
  std::vector<Job> queued_jobs(int limit) override;
  std::vector<JobImage> images_of(std::int64_t job_id) override;
  std::vector<NotReanalysed> not_reanalysed_of_study(const std::string& study_instance_uid) override;
  std::optional<Delivery> delivery(std::int64_t delivery_id) override;
  std::optional<Output> output(std::int64_t output_id) override;
  std::vector<Delivery> deliveries_of_job(std::int64_t job_id) override;
  std::vector<Output> outputs_of_job(std::int64_t job_id) override;
  std::vector<DeliveryAttempt> attempts_of(std::int64_t delivery_id) override;
  std::vector<DestinationSummary> destination_summaries() override;
  std::vector<NodeStatus> nodes(int lease_seconds) override;
  std::map<std::string, std::vector<double>> finding_probabilities(const std::string& since, const std::string& until) override;
  NodeStatisticsSnapshot statistics(int recent_jobs) override;
  std::pair<bool, std::string> database_writable() override;

 private:
  Database db_;
};

class SqliteFeedbackStore final : public FeedbackStore {
 public:
  explicit SqliteFeedbackStore(const std::string& database_path) : db_(database_path) {}
  Feedback record(const Feedback& feedback) override;
  std::vector<Feedback> of_job(std::int64_t job_id) override;
  std::map<std::string, std::map<std::string, int>> labels_from_feedback() override;

 private:
  Database db_;
};

class SqliteNodeRegistry final : public NodeRegistry {
 public:
  explicit SqliteNodeRegistry(const std::string& database_path) : db_(database_path) {}
  void heartbeat(const NodeAnnouncement& self) override;

 private:
  Database db_;
};

// The retrievals and sweeps (retrieval_log.cc).
std::unique_ptr<RetrievalLog> make_retrieval_log(const std::string& database_path, const std::string& node_id);

// The outbox's tables, written inside a job queue transaction: the job's outputs, each with one
// pending delivery to each destination.
void queue_outputs(Database& db, std::int64_t job_id, const std::vector<Output>& outputs,
                   const std::vector<DeliveryRoute>& routes, const std::string& now);

// The job queue's tables, written inside an outbox transaction: the job is delivered once every
// delivery of every output it made has been.
void mark_job_delivered_if_complete(Database& db, std::int64_t job_id, const std::string& now);

}  // namespace evax::storage::sqlite
