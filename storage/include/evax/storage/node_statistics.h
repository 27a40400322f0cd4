// NodeStatistics: what the node has done, counted from its database for the admin API's
// /metrics and /readyz: instances and bytes received, jobs by state, the per-stage durations of
// recent jobs, outputs, deliveries and delivery attempts by destination. Read-only except for
// the writability probe. Thread-safe; it has its own connection.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "evax/storage/file_store.h"

namespace evax::storage {

class Database;

struct NodeStatisticsSnapshot {
  std::int64_t instances = 0;        // received and indexed (purged files included: rows stay)
  std::int64_t instance_bytes = 0;
  std::int64_t studies = 0;
  std::int64_t quarantined = 0;
  std::map<std::string, std::int64_t> jobs_by_state;
  // Seconds per stage of the most recent jobs that reached it, by stage name: quiet_period
  // (received -> complete), queue (queued -> started), analysis (started -> inferred),
  // reporting (inferred -> reported), delivery (reported -> delivered), total (received -> delivered).
  std::map<std::string, std::vector<double>> stage_seconds;
  std::map<std::string, std::int64_t> outputs_by_kind;
  std::map<std::pair<std::string, std::string>, std::int64_t> deliveries;  // (destination, state)
  std::map<std::pair<std::string, std::string>, std::int64_t> attempts;    // (destination, outcome)
};

class NodeStatistics {
 public:
  // `files` must outlive this object. Throws on database failure.
  explicit NodeStatistics(const FileStore& files);
  ~NodeStatistics();
  NodeStatistics(const NodeStatistics&) = delete;
  NodeStatistics& operator=(const NodeStatistics&) = delete;

  // `recent_jobs` bounds the stage durations (the newest jobs).
  NodeStatisticsSnapshot snapshot(int recent_jobs = 10000);

  // Whether a write transaction can be opened and committed now; the reason when not.
  std::pair<bool, std::string> database_writable();

 private:
  std::unique_ptr<Database> db_;
};

}  // namespace evax::storage
