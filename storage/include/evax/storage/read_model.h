// ReadModel: what the admin API, the status page and `evax-node status` read: jobs with their
// images, outputs and deliveries, destinations, and the node's statistics for /metrics and
// /readyz. Reads only (the writability probe commits an empty write transaction). Thread-safe:
// calls from several threads (the admin API's) are serialised on the ReadModel's connection.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "evax/storage/records.h"

namespace evax::storage {

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

// A late arrival that started no re-analysis, with the intake rules' reason.
struct NotReanalysed {
  std::string sop_instance_uid;
  std::string received_at;
  std::string reason;
};

// One destination's deliveries as the admin sees them.
struct DestinationSummary {
  std::string name;
  std::map<std::string, std::int64_t> deliveries;  // by state: pending, sending, delivered, dead
  std::optional<DeliveryAttempt> last_attempt;     // the newest finished attempt
};

// A node of the cluster as the nodes view shows it (one row on SQLite: this node).
struct NodeStatus {
  std::string id;
  std::string address;
  std::string version;
  std::string started_at;
  std::string last_heartbeat;            // ISO 8601 UTC, the database's clock
  double seconds_since_heartbeat = 0;    // by the database's clock
  bool alive = false;                    // heard from within the lease
  std::vector<std::int64_t> running_jobs;  // jobs it holds now
  std::int64_t sending_deliveries = 0;     // deliveries it is sending now
};

struct NodeStatisticsSnapshot {
  std::int64_t instances = 0;        // received and indexed (purged files included: rows stay)
  std::int64_t instance_bytes = 0;
  std::int64_t studies = 0;
  std::int64_t quarantined = 0;
  std::map<std::string, std::int64_t> jobs_by_state;
  std::map<std::string, std::int64_t> queued_by_priority;  // queued jobs by priority name (absent: none)
  // Seconds per stage of the most recent jobs that reached it, by stage name: quiet_period
  // (received -> complete), queue (queued -> started), analysis (started -> inferred),
  // reporting (inferred -> reported), delivery (reported -> delivered), total (received -> delivered).
  std::map<std::string, std::vector<double>> stage_seconds;
  std::map<std::string, std::int64_t> outputs_by_kind;
  std::map<std::pair<std::string, std::string>, std::int64_t> deliveries;  // (destination, state)
  std::map<std::pair<std::string, std::string>, std::int64_t> attempts;    // (destination, outcome)
  // Images the intake rules skipped (job_images rows with decision skipped), all time, by
  // (reason code, the sending AE title).
  std::map<std::pair<std::string, std::string>, std::int64_t> skipped_images;
};

class ReadModel {
 public:
  virtual ~ReadModel() = default;

  virtual std::optional<Job> job(std::int64_t job_id) = 0;
  virtual std::vector<Job> recent_jobs(int limit) = 0;
  virtual JobPage list_jobs(const JobFilter& filter) = 0;
  virtual std::vector<Job> jobs_of_study(const std::string& study_instance_uid) = 0;  // oldest first
  // Queued jobs in the order workers claim them: by priority (stat, high, routine), then first
  // queued first. A job waiting out a retry delay keeps its place but is passed over until then.
  virtual std::vector<Job> queued_jobs(int limit) = 0;
  virtual std::vector<JobImage> images_of(std::int64_t job_id) = 0;
  // The study's late arrivals that started no re-analysis, oldest first, each with its reason.
  virtual std::vector<NotReanalysed> not_reanalysed_of_study(const std::string& study_instance_uid) = 0;

  virtual std::optional<Delivery> delivery(std::int64_t delivery_id) = 0;
  virtual std::optional<Output> output(std::int64_t output_id) = 0;
  virtual std::vector<Delivery> deliveries_of_job(std::int64_t job_id) = 0;
  virtual std::vector<Output> outputs_of_job(std::int64_t job_id) = 0;
  virtual std::vector<DeliveryAttempt> attempts_of(std::int64_t delivery_id) = 0;
  // Every destination that has deliveries, by name.
  virtual std::vector<DestinationSummary> destination_summaries() = 0;

  // Every node that ever recorded itself, by id; `lease_seconds` decides which are alive.
  virtual std::vector<NodeStatus> nodes(int lease_seconds) = 0;

  // Each finding's probabilities over the analysed images received (instances.received_at) in
  // [since, until), ISO 8601 UTC prefixes ("2026-11-01"); an image analysed by several jobs
  // counts once, with its newest analysis. For drift monitoring.
  virtual std::map<std::string, std::vector<double>> finding_probabilities(const std::string& since, const std::string& until) = 0;

  // `recent_jobs` bounds the stage durations (the newest jobs).
  virtual NodeStatisticsSnapshot statistics(int recent_jobs = 10000) = 0;
  // Whether a write transaction can be opened and committed now; the reason when not.
  virtual std::pair<bool, std::string> database_writable() = 0;
};

}  // namespace evax::storage
