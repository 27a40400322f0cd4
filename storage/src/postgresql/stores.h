// The PostgreSQL backend's stores: the same behaviour as the SQLite backend's, for several nodes
// on one database. Each store has its own connection (reopened after it broke: the call that
// found it broken fails, the next one reconnects). Work is claimed with FOR UPDATE SKIP LOCKED
// and marked with the claiming node's id. Each store owns its tables, as in the SQLite backend.
// Internal to the storage module: made by the PostgreSQL backend (backend.cc).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "connection.h"
#include "evax/storage/feedback_store.h"
#include "evax/storage/file_store.h"
#include "evax/storage/instance_index.h"
#include "evax/storage/job_queue.h"
#include "evax/storage/node_registry.h"
#include "evax/storage/outbox.h"
#include "evax/storage/read_model.h"
#include "evax/storage/retrieval_log.h"

namespace evax::storage::postgresql {

// Where and as whom the stores connect.
struct Identity {
  std::string dsn;
  std::string node_id;  // marks this node's claims
  int pool_size = 4;    // the instance index's connections (stores from many associations at once)
};

// A connection that is opened on first use and again after it broke.
class Session {
 public:
  explicit Session(std::string dsn) : dsn_(std::move(dsn)) {}

  // The connection, held by one caller until the handle goes: a store shared by threads (the
  // admin API's) serialises its calls on it, as the SQLite stores do on their connection.
  class Held {
   public:
    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_; }

   private:
    friend class Session;
    Held(std::unique_lock<std::mutex> lock, Connection* connection) : lock_(std::move(lock)), connection_(connection) {}
    std::unique_lock<std::mutex> lock_;
    Connection* connection_;
  };
  Held hold() {
    std::unique_lock lock(mutex_);
    if (!connection_ || connection_->broken()) connection_ = std::make_unique<Connection>(dsn_);
    return Held(std::move(lock), connection_.get());
  }

 private:
  std::string dsn_;
  std::mutex mutex_;  // one caller at a time on the connection
  std::unique_ptr<Connection> connection_;
};

// A fixed number of sessions handed out one caller at a time; take() waits for a free one.
class SessionPool {
 public:
  SessionPool(const std::string& dsn, int size) {
    for (int i = 0; i < size; ++i) free_.push_back(std::make_unique<Session>(dsn));
  }
  class Lease {
   public:
    Lease(SessionPool& pool, std::unique_ptr<Session> session) : pool_(pool), session_(std::move(session)) {}
    ~Lease() { pool_.give_back(std::move(session_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    // The lease is this caller's alone, so the connection outlives the hold's lock.
    Connection& connection() { return *session_->hold(); }

   private:
    SessionPool& pool_;
    std::unique_ptr<Session> session_;
  };
  Lease take() {
    std::unique_lock lock(mutex_);
    available_.wait(lock, [this] { return !free_.empty(); });
    auto session = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(session));
  }

 private:
  void give_back(std::unique_ptr<Session> session) {
    {
      std::lock_guard lock(mutex_);
      free_.push_back(std::move(session));
    }
    available_.notify_one();
  }
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Session>> free_;
};

class PgInstanceIndex final : public InstanceIndex {
 public:
  PgInstanceIndex(const FileStore& files, std::int64_t min_free_bytes, Identity identity)
      : files_(files), min_free_bytes_(min_free_bytes), node_id_(identity.node_id), pool_(identity.dsn, identity.pool_size) {}
  StoreResult store(const StoreRequest& request) override;
  Sweep sweep_at_startup() override;
  int purge_instances_before(const std::string& cutoff_iso) override;
  bool below_watermark(std::int64_t incoming_bytes) const override;

 private:
  const FileStore& files_;
  const std::int64_t min_free_bytes_;
  const std::string node_id_;
  SessionPool pool_;  // store() is called from every association: pool_size of them commit at once
};

class PgJobQueue final : public JobQueue {
 public:
  explicit PgJobQueue(Identity identity) : node_id_(identity.node_id), session_(identity.dsn) {}
  std::vector<PendingStudy> studies_awaiting_analysis() override;
  std::vector<PendingStudy> studies_awaiting_analysis(const std::vector<std::int64_t>& among) override;
  std::vector<PendingStudy> studies_quiet_for(std::chrono::milliseconds quiet) override;
  using JobQueue::enqueue;
  LateEnqueue enqueue(const PendingStudy& study, const SkipReason& skip_reason) override;
  std::optional<Job> claim_next(const std::set<std::int64_t>& held_back) override;
  using JobQueue::requeue_running;
  int requeue_running(const std::set<std::int64_t>& in_hand) override;
  int take_over_from_silent_nodes(int lease_seconds) override;
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
  Session session_;
};

class PgOutbox final : public Outbox {
 public:
  explicit PgOutbox(Identity identity) : node_id_(identity.node_id), session_(identity.dsn) {}
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
  int take_over_from_silent_nodes(int lease_seconds) override;
  std::map<std::string, int> unfinished_by_destination() override;
  bool resend(std::int64_t delivery_id) override;
  std::set<std::string> output_paths() override;
  int purge_outputs_before(const std::string& cutoff_iso) override;

 private:
  const std::string node_id_;
  Session session_;
};

class PgReadModel final : public ReadModel {
 public:
  explicit PgReadModel(Identity identity) : session_(identity.dsn) {}
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
  Session session_;
};

class PgFeedbackStore final : public FeedbackStore {
 public:
  explicit PgFeedbackStore(Identity identity) : session_(identity.dsn) {}
  Feedback record(const Feedback& feedback) override;
  std::vector<Feedback> of_job(std::int64_t job_id) override;
  std::map<std::string, std::map<std::string, int>> labels_from_feedback() override;

 private:
  Session session_;
};

class PgNodeRegistry final : public NodeRegistry {
 public:
  explicit PgNodeRegistry(Identity identity) : session_(identity.dsn) {}
  void heartbeat(const NodeAnnouncement& self) override;

 private:
  Session session_;
};

// The outbox's tables, written inside a job queue transaction (see the SQLite backend).
void queue_outputs(Connection& db, std::int64_t job_id, const std::vector<Output>& outputs,
                   const std::vector<DeliveryRoute>& routes);
// The job queue's tables, written inside an outbox transaction.
void mark_job_delivered_if_complete(Connection& db, std::int64_t job_id);

// The retrievals and sweeps (retrieval_log.cc).
std::unique_ptr<RetrievalLog> make_retrieval_log(const Identity& identity);

}  // namespace evax::storage::postgresql
