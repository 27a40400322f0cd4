#include <algorithm>

#include "../job_image_columns.h"
#include "rows.h"
#include "stores.h"

namespace evax::storage::sqlite {

std::optional<Job> SqliteReadModel::job(std::int64_t job_id) {
  Transaction read(db_, Transaction::Mode::read);
  return load_job(db_, job_id);
}

std::vector<Job> SqliteReadModel::recent_jobs(int limit) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, (std::string("SELECT ") + kJobColumns +
                         " FROM jobs j JOIN studies s ON s.id = j.study_id ORDER BY j.id DESC LIMIT ?")
                            .c_str());
  query.bind(1, limit);
  std::vector<Job> out;
  while (query.step()) out.push_back(read_job(query));
  return out;
}

std::vector<JobImage> SqliteReadModel::images_of(std::int64_t job_id) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT ji.job_id, ji.instance_id, i.sop_instance_uid, ji.decision, ji.reason_code, ji.detail, "
                  "ji.probabilities_json, ji.cams_json FROM job_images ji JOIN instances i ON i.id = ji.instance_id "
                  "WHERE ji.job_id = ? ORDER BY ji.instance_id");
  query.bind(1, job_id);
  std::vector<JobImage> out;
  while (query.step())
    out.push_back(job_image_from_row({query.integer(0), query.integer(1), query.text(2), query.text(3), query.text(4),
                                      query.text(5), {query.text(6), query.text(7)}}));
  return out;
}

JobPage SqliteReadModel::list_jobs(const JobFilter& filter) {
  std::string where = " WHERE 1 = 1";
  if (filter.state) where += " AND j.state = ?1";
  if (!filter.study_instance_uid.empty()) where += " AND s.study_instance_uid = ?2";
  if (!filter.received_since.empty()) where += " AND j.received_at >= ?3";
  if (!filter.received_until.empty()) where += " AND j.received_at < ?4";
  auto bind_filters = [&](Statement& query) {
    if (filter.state) query.bind(1, std::string(job_state_name(*filter.state)));
    if (!filter.study_instance_uid.empty()) query.bind(2, filter.study_instance_uid);
    if (!filter.received_since.empty()) query.bind(3, filter.received_since);
    if (!filter.received_until.empty()) query.bind(4, filter.received_until);
  };
  Transaction read(db_, Transaction::Mode::read);
  JobPage page;
  Statement count(db_, ("SELECT COUNT(*) FROM jobs j JOIN studies s ON s.id = j.study_id" + where).c_str());
  bind_filters(count);
  if (count.step()) page.total = count.integer(0);
  Statement query(db_, (std::string("SELECT ") + kJobColumns + " FROM jobs j JOIN studies s ON s.id = j.study_id" + where +
                         " ORDER BY j.id DESC LIMIT ?5 OFFSET ?6")
                            .c_str());
  bind_filters(query);
  query.bind(5, filter.limit).bind(6, filter.offset);
  while (query.step()) page.jobs.push_back(read_job(query));
  return page;
}

std::vector<Job> SqliteReadModel::jobs_of_study(const std::string& study_instance_uid) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, (std::string("SELECT ") + kJobColumns +
                         " FROM jobs j JOIN studies s ON s.id = j.study_id WHERE s.study_instance_uid = ? ORDER BY j.id")
                            .c_str());
  query.bind(1, study_instance_uid);
  std::vector<Job> out;
  while (query.step()) out.push_back(read_job(query));
  return out;
}

std::vector<Job> SqliteReadModel::queued_jobs(int limit) {
  Transaction read(db_, Transaction::Mode::read);
  // The claim's order (job_queue.cc).
  Statement query(db_, (std::string("SELECT ") + kJobColumns +
                         " FROM jobs j JOIN studies s ON s.id = j.study_id WHERE j.state = 'queued' "
                         "ORDER BY j.priority DESC, j.id LIMIT ?")
                            .c_str());
  query.bind(1, limit);
  std::vector<Job> out;
  while (query.step()) out.push_back(read_job(query));
  return out;
}

std::vector<NotReanalysed> SqliteReadModel::not_reanalysed_of_study(const std::string& study_instance_uid) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT i.sop_instance_uid, i.received_at, n.reason FROM arrivals_not_reanalysed n "
                  "JOIN instances i ON i.id = n.instance_id JOIN studies s ON s.id = i.study_id "
                  "WHERE s.study_instance_uid = ? ORDER BY i.id");
  query.bind(1, study_instance_uid);
  std::vector<NotReanalysed> out;
  while (query.step()) out.push_back({query.text(0), query.text(1), query.text(2)});
  return out;
}

std::vector<Delivery> SqliteReadModel::deliveries_of_job(std::int64_t job_id) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, delivery_query("WHERE o.job_id = ? ORDER BY o.id, d.destination").c_str());
  query.bind(1, job_id);
  std::vector<Delivery> out;
  while (query.step()) out.push_back(read_delivery(query));
  return out;
}

std::vector<Output> SqliteReadModel::outputs_of_job(std::int64_t job_id) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, (std::string("SELECT ") + kOutputColumns + " FROM outputs o WHERE o.job_id = ? ORDER BY o.id").c_str());
  query.bind(1, job_id);
  std::vector<Output> out;
  while (query.step()) out.push_back(read_output(query, 0));
  return out;
}

std::vector<DeliveryAttempt> SqliteReadModel::attempts_of(std::int64_t delivery_id) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT id, delivery_id, started_at, finished_at, outcome, dimse_status, detail FROM delivery_attempts "
                  "WHERE delivery_id = ? ORDER BY id");
  query.bind(1, delivery_id);
  std::vector<DeliveryAttempt> out;
  while (query.step())
    out.push_back({query.integer(0), query.integer(1), query.text(2), query.text(3), query.text(4),
                   query.is_null(5) ? std::nullopt : std::optional(static_cast<int>(query.integer(5))), query.text(6)});
  return out;
}

std::optional<Delivery> SqliteReadModel::delivery(std::int64_t delivery_id) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, delivery_query("WHERE d.id = ?").c_str());
  query.bind(1, delivery_id);
  if (!query.step()) return std::nullopt;
  return read_delivery(query);
}

std::optional<Output> SqliteReadModel::output(std::int64_t output_id) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, (std::string("SELECT ") + kOutputColumns + " FROM outputs o WHERE o.id = ?").c_str());
  query.bind(1, output_id);
  if (!query.step()) return std::nullopt;
  return read_output(query, 0);
}

std::vector<DestinationSummary> SqliteReadModel::destination_summaries() {
  Transaction read(db_, Transaction::Mode::read);
  std::map<std::string, DestinationSummary> by_name;
  Statement counts(db_, "SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state");
  while (counts.step()) {
    DestinationSummary& summary = by_name[counts.text(0)];
    summary.name = counts.text(0);
    summary.deliveries[counts.text(1)] = counts.integer(2);
  }
  for (auto& [name, summary] : by_name) {
    Statement last(db_,
                   "SELECT a.id, a.delivery_id, a.started_at, a.finished_at, a.outcome, a.dimse_status, a.detail "
                   "FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
                   "WHERE d.destination = ? AND a.finished_at IS NOT NULL ORDER BY a.id DESC LIMIT 1");
    last.bind(1, name);
    if (last.step()) {
      DeliveryAttempt attempt{last.integer(0), last.integer(1), last.text(2), last.text(3), last.text(4), std::nullopt, last.text(6)};
      if (!last.is_null(5)) attempt.dimse_status = static_cast<int>(last.integer(5));
      summary.last_attempt = attempt;
    }
  }
  std::vector<DestinationSummary> out;
  for (auto& [name, summary] : by_name) out.push_back(std::move(summary));
  return out;
}

std::map<std::string, std::vector<double>> SqliteReadModel::finding_probabilities(const std::string& since,
                                                                                  const std::string& until) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT ji.instance_id, ji.probabilities_json FROM job_images ji JOIN instances i ON i.id = ji.instance_id "
                  "WHERE ji.decision = 'analysed' AND i.received_at >= ?1 AND i.received_at < ?2 "
                  "ORDER BY ji.instance_id, ji.job_id DESC");
  query.bind(1, since).bind(2, until);
  std::map<std::string, std::vector<double>> out;
  std::int64_t previous = 0;
  while (query.step()) {
    if (query.integer(0) == previous) continue;  // an older analysis of the same image
    previous = query.integer(0);
    add_finding_probabilities(query.text(1), out);
  }
  return out;
}

NodeStatisticsSnapshot SqliteReadModel::statistics(int recent_jobs) {
  NodeStatisticsSnapshot s;
  Transaction read(db_, Transaction::Mode::read);
  Statement instances(db_, "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM instances");
  if (instances.step()) s.instances = instances.integer(0), s.instance_bytes = instances.integer(1);
  Statement studies(db_, "SELECT (SELECT COUNT(*) FROM studies), (SELECT COUNT(*) FROM quarantine)");
  if (studies.step()) s.studies = studies.integer(0), s.quarantined = studies.integer(1);
  Statement jobs(db_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
  while (jobs.step()) s.jobs_by_state[jobs.text(0)] = jobs.integer(1);
  Statement queued(db_, "SELECT priority, COUNT(*) FROM jobs WHERE state = 'queued' GROUP BY priority");
  while (queued.step())
    s.queued_by_priority[std::string(priority_name(static_cast<Priority>(std::clamp<std::int64_t>(queued.integer(0), 0, 2))))] =
        queued.integer(1);

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
    Statement query(db_, (std::string("SELECT ") + difference + " * 86400.0 FROM (SELECT * FROM jobs ORDER BY id DESC LIMIT ?) WHERE " +
                           difference + " IS NOT NULL")
                              .c_str());
    query.bind(1, recent_jobs);
    std::vector<double>& values = s.stage_seconds[name];
    while (query.step()) values.push_back(std::max(0.0, query.real(0)));
  }
  Statement outputs(db_, "SELECT kind, COUNT(*) FROM outputs GROUP BY kind");
  while (outputs.step()) s.outputs_by_kind[outputs.text(0)] = outputs.integer(1);
  Statement deliveries(db_, "SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state");
  while (deliveries.step()) s.deliveries[{deliveries.text(0), deliveries.text(1)}] = deliveries.integer(2);
  Statement attempts(db_,
                     "SELECT d.destination, a.outcome, COUNT(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
                     "GROUP BY d.destination, a.outcome");
  while (attempts.step()) s.attempts[{attempts.text(0), attempts.text(1)}] = attempts.integer(2);
  Statement skipped(db_,
                    "SELECT ji.reason_code, i.calling_ae_title, COUNT(*) FROM job_images ji JOIN instances i ON i.id = ji.instance_id "
                    "WHERE ji.decision = 'skipped' GROUP BY ji.reason_code, i.calling_ae_title");
  while (skipped.step()) s.skipped_images[{skipped.text(0), skipped.text(1)}] = skipped.integer(2);
  return s;
}

std::pair<bool, std::string> SqliteReadModel::database_writable() {
  try {
    Transaction write(db_);  // BEGIN IMMEDIATE: takes the write lock, as a store would
    Statement probe(db_, "SELECT COUNT(*) FROM jobs");
    probe.run();
    write.commit();
    return {true, "write transaction committed"};
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
}

std::vector<NodeStatus> SqliteReadModel::nodes(int lease_seconds) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT id, address, version, started_at, last_heartbeat, "
                  "(julianday('now') - julianday(last_heartbeat)) * 86400.0, "
                  "(SELECT COUNT(*) FROM deliveries WHERE state = 'sending' AND claimed_by = nodes.id) FROM nodes ORDER BY id");
  std::vector<NodeStatus> out;
  while (query.step()) {
    NodeStatus n{query.text(0), query.text(1), query.text(2), query.text(3), query.text(4), std::max(0.0, query.real(5))};
    n.alive = n.seconds_since_heartbeat <= lease_seconds;
    n.sending_deliveries = query.integer(6);
    Statement jobs(db_, "SELECT id FROM jobs WHERE state = 'running' AND claimed_by = ? ORDER BY id");
    jobs.bind(1, n.id);
    while (jobs.step()) n.running_jobs.push_back(jobs.integer(0));
    out.push_back(std::move(n));
  }
  return out;
}

void SqliteNodeRegistry::heartbeat(const NodeAnnouncement& self) {
  Transaction write(db_);
  Statement upsert(db_,
                   "INSERT INTO nodes (id, address, version, started_at, last_heartbeat) VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT(id) DO UPDATE SET address = ?2, version = ?3, started_at = ?4, last_heartbeat = ?5");
  upsert.bind(1, self.id).bind(2, self.address).bind(3, self.version).bind(4, self.started_at).bind(5, utc_now_iso()).run();
  write.commit();
}

}  // namespace evax::storage::sqlite
