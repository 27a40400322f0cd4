#include "evax/storage/node_statistics.h"

#include <algorithm>

#include "database.h"

namespace evax::storage {

NodeStatistics::NodeStatistics(const FileStore& files) : db_(std::make_unique<Database>(files.database_path())) {}
NodeStatistics::~NodeStatistics() = default;

NodeStatisticsSnapshot NodeStatistics::snapshot(int recent_jobs) {
  NodeStatisticsSnapshot s;
  Transaction read(*db_, Transaction::Mode::read);
  Statement instances(*db_, "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM instances");
  if (instances.step()) s.instances = instances.integer(0), s.instance_bytes = instances.integer(1);
  Statement studies(*db_, "SELECT (SELECT COUNT(*) FROM studies), (SELECT COUNT(*) FROM quarantine)");
  if (studies.step()) s.studies = studies.integer(0), s.quarantined = studies.integer(1);
  Statement jobs(*db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  while (jobs.step()) s.jobs_by_state[jobs.text(0)] = jobs.integer(1);

  // Differences of ISO 8601 times in seconds, for the newest jobs that have both ends.
  const std::pair<const char*, const char*> stages[] = {
      {"quiet_period", "(julianday(complete_at) - julianday(received_at))"},
      {"queue", "(julianday(started_at) - julianday(queued_at))"},
      {"analysis", "(julianday(inferred_at) - julianday(started_at))"},
      {"reporting", "(julianday(reported_at) - julianday(inferred_at))"},
      {"delivery", "(julianday(delivered_at) - julianday(reported_at))"},
      {"total", "(julianday(delivered_at) - julianday(received_at))"},
  };
  for (const auto& [name, difference] : stages) {
    Statement query(*db_, (std::string("SELECT ") + difference + " * 86400.0 FROM (SELECT * FROM jobs ORDER BY id DESC LIMIT ?) WHERE " +
                           difference + " IS NOT NULL")
                              .c_str());
    query.bind(1, recent_jobs);
    std::vector<double>& values = s.stage_seconds[name];
    while (query.step()) values.push_back(std::max(0.0, query.real(0)));
  }
  Statement outputs(*db_, "SELECT kind, COUNT(*) FROM outputs GROUP BY kind");
  while (outputs.step()) s.outputs_by_kind[outputs.text(0)] = outputs.integer(1);
  Statement deliveries(*db_, "SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state");
  while (deliveries.step()) s.deliveries[{deliveries.text(0), deliveries.text(1)}] = deliveries.integer(2);
  Statement attempts(*db_,
                     "SELECT d.destination, a.outcome, COUNT(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
                     "GROUP BY d.destination, a.outcome");
  while (attempts.step()) s.attempts[{attempts.text(0), attempts.text(1)}] = attempts.integer(2);
  return s;
}

std::pair<bool, std::string> NodeStatistics::database_writable() {
  try {
    Transaction write(*db_);  // BEGIN IMMEDIATE: takes the write lock, as a store would
    Statement probe(*db_, "SELECT COUNT(*) FROM jobs");
    probe.run();
    write.commit();
    return {true, "write transaction committed"};
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
}

}  // namespace evax::storage
