#include <algorithm>

#include "../job_image_columns.h"
#include "rows.h"
#include "stores.h"

namespace evax::storage::postgresql {
namespace {

std::vector<Job> jobs_of(const Result& r) {
  std::vector<Job> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back(read_job(r, row));
  return out;
}

std::vector<Delivery> deliveries_of(const Result& r) {
  std::vector<Delivery> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back(read_delivery(r, row));
  return out;
}

DeliveryAttempt read_attempt(const Result& r, int row) {
  return {r.integer(row, 0), r.integer(row, 1), r.text(row, 2), r.text(row, 3), r.text(row, 4), optional_int(r, row, 5),
          r.text(row, 6)};
}

}  // namespace

std::optional<Job> PgReadModel::job(std::int64_t job_id) { return load_job(*session_.hold(), job_id); }

std::vector<Job> PgReadModel::recent_jobs(int limit) {
  return jobs_of(session_.hold()->execute(
      std::string("SELECT ") + kJobColumns + " FROM jobs j JOIN studies s ON s.id = j.study_id ORDER BY j.id DESC LIMIT $1",
      {limit}));
}

JobPage PgReadModel::list_jobs(const JobFilter& filter) {
  // Every filter is a parameter; an unset one is NULL and matches everything.
  const std::string where =
      " WHERE ($1::text IS NULL OR j.state = $1) AND ($2::text IS NULL OR s.study_instance_uid = $2) "
      "AND ($3::text IS NULL OR j.received_at >= $3) AND ($4::text IS NULL OR j.received_at < $4)";
  const auto optional_text = [](const std::string& value) {
    return value.empty() ? std::optional<std::string>() : std::optional<std::string>(value);
  };
  std::vector<Param> params{filter.state ? Param(std::string(job_state_name(*filter.state))) : Param(std::nullopt),
                            Param(optional_text(filter.study_instance_uid)), Param(optional_text(filter.received_since)),
                            Param(optional_text(filter.received_until))};
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction read(db, Isolation::repeatable_read);  // the count and the page from one snapshot
  JobPage page;
  page.total = db.execute("SELECT COUNT(*) FROM jobs j JOIN studies s ON s.id = j.study_id" + where, params).integer(0, 0);
  params.emplace_back(filter.limit);
  params.emplace_back(filter.offset);
  page.jobs = jobs_of(db.execute(std::string("SELECT ") + kJobColumns + " FROM jobs j JOIN studies s ON s.id = j.study_id" +
                                     where + " ORDER BY j.id DESC LIMIT $5 OFFSET $6",
                                 params));
  read.commit();
  return page;
}

std::vector<Job> PgReadModel::jobs_of_study(const std::string& study_instance_uid) {
  return jobs_of(session_.hold()->execute(std::string("SELECT ") + kJobColumns +
                                            " FROM jobs j JOIN studies s ON s.id = j.study_id WHERE s.study_instance_uid = $1 "
                                            "ORDER BY j.id",
                                        {study_instance_uid}));
}

std::vector<Job> PgReadModel::queued_jobs(int limit) {
  // The claim's order (job_queue.cc).
  return jobs_of(session_.hold()->execute(std::string("SELECT ") + kJobColumns +
                                            " FROM jobs j JOIN studies s ON s.id = j.study_id WHERE j.state = 'queued' "
                                            "ORDER BY j.priority DESC, j.id LIMIT $1",
                                        {limit}));
}

std::vector<JobImage> PgReadModel::images_of(std::int64_t job_id) {
  const Result r = session_.hold()->execute(
      "SELECT ji.job_id, ji.instance_id, i.sop_instance_uid, ji.decision, ji.reason_code, ji.detail, ji.probabilities_json, "
      "ji.cams_json FROM job_images ji JOIN instances i ON i.id = ji.instance_id WHERE ji.job_id = $1 ORDER BY ji.instance_id",
      {job_id});
  std::vector<JobImage> out;
  for (int row = 0; row < r.rows(); ++row)
    out.push_back(job_image_from_row({r.integer(row, 0), r.integer(row, 1), r.text(row, 2), r.text(row, 3), r.text(row, 4),
                                      r.text(row, 5), {r.text(row, 6), r.text(row, 7)}}));
  return out;
}

std::vector<NotReanalysed> PgReadModel::not_reanalysed_of_study(const std::string& study_instance_uid) {
  const Result r = session_.hold()->execute(
      "SELECT i.sop_instance_uid, i.received_at, n.reason FROM arrivals_not_reanalysed n JOIN instances i ON i.id = n.instance_id "
      "JOIN studies s ON s.id = i.study_id WHERE s.study_instance_uid = $1 ORDER BY i.id",
      {study_instance_uid});
  std::vector<NotReanalysed> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back({r.text(row, 0), r.text(row, 1), r.text(row, 2)});
  return out;
}

std::optional<Delivery> PgReadModel::delivery(std::int64_t delivery_id) {
  const auto found = deliveries_of(session_.hold()->execute(delivery_query("WHERE d.id = $1"), {delivery_id}));
  if (found.empty()) return std::nullopt;
  return found[0];
}

std::optional<Output> PgReadModel::output(std::int64_t output_id) {
  const Result r = session_.hold()->execute(std::string("SELECT ") + kOutputColumns + " FROM outputs o WHERE o.id = $1", {output_id});
  if (r.rows() == 0) return std::nullopt;
  return read_output(r, 0, 0);
}

std::vector<Delivery> PgReadModel::deliveries_of_job(std::int64_t job_id) {
  return deliveries_of(session_.hold()->execute(delivery_query("WHERE o.job_id = $1 ORDER BY o.id, d.destination"), {job_id}));
}

std::vector<Output> PgReadModel::outputs_of_job(std::int64_t job_id) {
  const Result r =
      session_.hold()->execute(std::string("SELECT ") + kOutputColumns + " FROM outputs o WHERE o.job_id = $1 ORDER BY o.id", {job_id});
  std::vector<Output> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back(read_output(r, row, 0));
  return out;
}

std::vector<DeliveryAttempt> PgReadModel::attempts_of(std::int64_t delivery_id) {
  const Result r = session_.hold()->execute(
      "SELECT id, delivery_id, started_at, finished_at, outcome, dimse_status, detail FROM delivery_attempts "
      "WHERE delivery_id = $1 ORDER BY id",
      {delivery_id});
  std::vector<DeliveryAttempt> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back(read_attempt(r, row));
  return out;
}

std::vector<DestinationSummary> PgReadModel::destination_summaries() {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction read(db, Isolation::repeatable_read);
  std::map<std::string, DestinationSummary> by_name;
  const Result counts = db.execute("SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state");
  for (int row = 0; row < counts.rows(); ++row) {
    DestinationSummary& summary = by_name[counts.text(row, 0)];
    summary.name = counts.text(row, 0);
    summary.deliveries[counts.text(row, 1)] = counts.integer(row, 2);
  }
  for (auto& [name, summary] : by_name) {
    const Result last = db.execute(
        "SELECT a.id, a.delivery_id, a.started_at, a.finished_at, a.outcome, a.dimse_status, a.detail "
        "FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
        "WHERE d.destination = $1 AND a.finished_at IS NOT NULL ORDER BY a.id DESC LIMIT 1",
        {name});
    if (last.rows() > 0) summary.last_attempt = read_attempt(last, 0);
  }
  read.commit();
  std::vector<DestinationSummary> out;
  for (auto& [name, summary] : by_name) out.push_back(std::move(summary));
  return out;
}

std::map<std::string, std::vector<double>> PgReadModel::finding_probabilities(const std::string& since, const std::string& until) {
  const Result rows = session_.hold()->execute(
      "SELECT DISTINCT ON (ji.instance_id) ji.probabilities_json FROM job_images ji JOIN instances i ON i.id = ji.instance_id "
      "WHERE ji.decision = 'analysed' AND i.received_at >= $1 AND i.received_at < $2 ORDER BY ji.instance_id, ji.job_id DESC",
      {since, until});
  std::map<std::string, std::vector<double>> out;
  for (int row = 0; row < rows.rows(); ++row) add_finding_probabilities(rows.text(row, 0), out);
  return out;
}

NodeStatisticsSnapshot PgReadModel::statistics(int recent_jobs) {
  NodeStatisticsSnapshot s;
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction read(db, Isolation::repeatable_read);
  const Result instances = db.execute(
      "SELECT (SELECT COUNT(*) FROM instances), (SELECT COALESCE(SUM(size_bytes), 0) FROM instances), "
      "(SELECT COUNT(*) FROM studies), (SELECT COUNT(*) FROM quarantine)");
  s.instances = instances.integer(0, 0);
  s.instance_bytes = instances.integer(0, 1);
  s.studies = instances.integer(0, 2);
  s.quarantined = instances.integer(0, 3);
  const Result jobs = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state");
  for (int row = 0; row < jobs.rows(); ++row) s.jobs_by_state[jobs.text(row, 0)] = jobs.integer(row, 1);
  const Result queued = db.execute("SELECT priority, COUNT(*) FROM jobs WHERE state = 'queued' GROUP BY priority");
  for (int row = 0; row < queued.rows(); ++row)
    s.queued_by_priority[std::string(priority_name(static_cast<Priority>(std::clamp<std::int64_t>(queued.integer(row, 0), 0, 2))))] =
        queued.integer(row, 1);
  const std::pair<const char*, std::pair<const char*, const char*>> stages[] = {
      {"quiet_period", {"received_at", "complete_at"}}, {"queue", {"queued_at", "started_at"}},
      {"analysis", {"started_at", "inferred_at"}},      {"reporting", {"inferred_at", "reported_at"}},
      {"delivery", {"reported_at", "delivered_at"}},    {"total", {"received_at", "delivered_at"}},
  };
  for (const auto& [name, ends] : stages) {
    const std::string difference = seconds_between(ends.first, ends.second);
    const Result r = db.execute("SELECT " + difference + " FROM (SELECT * FROM jobs ORDER BY id DESC LIMIT $1) recent WHERE " +
                                    ends.first + " IS NOT NULL AND " + ends.second + " IS NOT NULL",
                                {recent_jobs});
    std::vector<double>& values = s.stage_seconds[name];
    for (int row = 0; row < r.rows(); ++row) values.push_back(std::max(0.0, std::stod(r.text(row, 0))));
  }
  const Result outputs = db.execute("SELECT kind, COUNT(*) FROM outputs GROUP BY kind");
  for (int row = 0; row < outputs.rows(); ++row) s.outputs_by_kind[outputs.text(row, 0)] = outputs.integer(row, 1);
  const Result deliveries = db.execute("SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state");
  for (int row = 0; row < deliveries.rows(); ++row)
    s.deliveries[{deliveries.text(row, 0), deliveries.text(row, 1)}] = deliveries.integer(row, 2);
  const Result attempts = db.execute(
      "SELECT d.destination, a.outcome, COUNT(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
      "GROUP BY d.destination, a.outcome");
  for (int row = 0; row < attempts.rows(); ++row)
    s.attempts[{attempts.text(row, 0), attempts.text(row, 1)}] = attempts.integer(row, 2);
  const Result skipped = db.execute(
      "SELECT ji.reason_code, i.calling_ae_title, COUNT(*) FROM job_images ji JOIN instances i ON i.id = ji.instance_id "
      "WHERE ji.decision = 'skipped' GROUP BY ji.reason_code, i.calling_ae_title");
  for (int row = 0; row < skipped.rows(); ++row)
    s.skipped_images[{skipped.text(row, 0), skipped.text(row, 1)}] = skipped.integer(row, 2);
  read.commit();
  return s;
}

std::pair<bool, std::string> PgReadModel::database_writable() {
  // A connection lost before this probe (a restarted server) is reopened and probed once more:
  // the answer is about the database now, not about this session's old connection.
  for (int attempt = 1;; ++attempt) {
    try {
      const auto held = session_.hold();
      Connection& db = *held;
      Transaction write(db);
      db.execute("SELECT id FROM jobs WHERE id = 0 FOR UPDATE");  // refused by a read-only server
      write.commit();
      return {true, "write transaction committed"};
    } catch (const PostgresError& e) {
      if (attempt == 1 && e.connection_lost()) continue;
      return {false, e.what()};
    } catch (const std::exception& e) {
      return {false, e.what()};
    }
  }
}

std::vector<NodeStatus> PgReadModel::nodes(int lease_seconds) {
  const auto held = session_.hold();
  Connection& db = *held;
  const Result r = db.execute(
      "SELECT n.id, n.address, n.version, n.started_at, "
      "to_char(n.last_heartbeat AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
      "GREATEST(0, EXTRACT(EPOCH FROM (clock_timestamp() - n.last_heartbeat)))::float8, "
      "(SELECT COUNT(*) FROM deliveries d WHERE d.state = 'sending' AND d.claimed_by = n.id), "
      "COALESCE((SELECT string_agg(j.id::text, ',' ORDER BY j.id) FROM jobs j WHERE j.state = 'running' AND j.claimed_by = n.id), '') "
      "FROM nodes n ORDER BY n.id");
  std::vector<NodeStatus> out;
  for (int row = 0; row < r.rows(); ++row) {
    NodeStatus n{r.text(row, 0), r.text(row, 1), r.text(row, 2), r.text(row, 3), r.text(row, 4), std::stod(r.text(row, 5))};
    n.alive = n.seconds_since_heartbeat <= lease_seconds;
    n.sending_deliveries = r.integer(row, 6);
    const std::string jobs = r.text(row, 7);
    for (std::size_t start = 0; start < jobs.size();) {
      const std::size_t comma = std::min(jobs.find(',', start), jobs.size());
      n.running_jobs.push_back(std::stoll(jobs.substr(start, comma - start)));
      start = comma + 1;
    }
    out.push_back(std::move(n));
  }
  return out;
}

void PgNodeRegistry::heartbeat(const NodeAnnouncement& self) {
  session_.hold()->execute(
      "INSERT INTO nodes (id, address, version, started_at, last_heartbeat) VALUES ($1, $2, $3, $4, clock_timestamp()) "
      "ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, version = EXCLUDED.version, "
      "started_at = EXCLUDED.started_at, last_heartbeat = EXCLUDED.last_heartbeat",
      {self.id, self.address, self.version, self.started_at});
}

}  // namespace evax::storage::postgresql
