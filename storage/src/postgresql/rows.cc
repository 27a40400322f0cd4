#include "rows.h"

#include <algorithm>

namespace evax::storage::postgresql {

std::string with_now(std::string sql) {
  static const std::string marker = "NOW_ISO";
  for (std::size_t at = sql.find(marker); at != std::string::npos; at = sql.find(marker, at))
    sql.replace(at, marker.size(), kNowIso);
  return sql;
}

std::string seconds_between(const std::string& from, const std::string& to) {
  return "EXTRACT(EPOCH FROM ((" + to + ")::timestamptz - (" + from + ")::timestamptz))::float8";
}

std::string id_array(const std::set<std::int64_t>& ids) {
  std::string out = "{";
  for (std::int64_t id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "}";
}

Job read_job(const Result& r, int row) {
  Job job;
  job.id = r.integer(row, 0);
  job.study_id = r.integer(row, 1);
  job.study_instance_uid = r.text(row, 2);
  job.state = parse_job_state(r.text(row, 3)).value_or(JobState::failed);
  job.reason = r.text(row, 4);
  job.attempts = static_cast<int>(r.integer(row, 5));
  job.last_error = r.text(row, 6);
  job.max_instance_id = r.integer(row, 7);
  if (!r.is_null(row, 8)) job.supersedes_job_id = r.integer(row, 8);
  job.times = {r.text(row, 9),  r.text(row, 10), r.text(row, 11), r.text(row, 12),
               r.text(row, 13), r.text(row, 14), r.text(row, 15), r.text(row, 16)};
  job.priority = static_cast<Priority>(std::clamp<std::int64_t>(r.integer(row, 17), 0, 2));
  return job;
}

std::optional<Job> load_job(Connection& db, std::int64_t job_id) {
  const Result r = db.execute(std::string("SELECT ") + kJobColumns + " FROM jobs j JOIN studies s ON s.id = j.study_id WHERE j.id = $1",
                              {job_id});
  if (r.rows() == 0) return std::nullopt;
  return read_job(r, 0);
}

Output read_output(const Result& r, int row, int c) {
  return Output{r.integer(row, c),     r.integer(row, c + 1), r.text(row, c + 2), r.text(row, c + 3),
                r.text(row, c + 4),    r.text(row, c + 5),    r.text(row, c + 6),
                r.is_null(row, c + 7) ? std::nullopt : std::optional(r.integer(row, c + 7)),
                r.text(row, c + 8),    r.integer(row, c + 9), r.text(row, c + 10)};
}

namespace {

constexpr const char* kDeliveryColumns =
    "d.id, d.destination, d.state, d.attempts, d.last_status, d.created_at, d.next_attempt_at, d.finished_at, "
    "EXTRACT(EPOCH FROM (clock_timestamp() - d.created_at::timestamptz))::float8, d.substitution";

}  // namespace

std::string delivery_query(const char* where_and_order) {
  return std::string("SELECT ") + kDeliveryColumns + ", " + kOutputColumns +
         " FROM deliveries d JOIN outputs o ON o.id = d.output_id " + where_and_order;
}

Delivery read_delivery(const Result& r, int row) {
  Delivery d;
  d.id = r.integer(row, 0);
  d.destination = r.text(row, 1);
  d.state = parse_delivery_state(r.text(row, 2)).value_or(DeliveryState::dead);
  d.attempts = static_cast<int>(r.integer(row, 3));
  d.last_status = r.text(row, 4);
  d.created_at = r.text(row, 5);
  d.next_attempt_at = r.text(row, 6);
  d.finished_at = r.text(row, 7);
  d.age_seconds = std::stod(r.text(row, 8));
  d.substitution = r.text(row, 9);
  d.output = read_output(r, row, 10);
  return d;
}

}  // namespace evax::storage::postgresql
