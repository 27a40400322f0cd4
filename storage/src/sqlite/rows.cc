#include "rows.h"

#include <algorithm>

namespace evax::storage::sqlite {

Job read_job(const Statement& row) {
  Job job;
  job.id = row.integer(0);
  job.study_id = row.integer(1);
  job.study_instance_uid = row.text(2);
  job.state = parse_job_state(row.text(3)).value_or(JobState::failed);
  job.reason = row.text(4);
  job.attempts = static_cast<int>(row.integer(5));
  job.last_error = row.text(6);
  job.max_instance_id = row.integer(7);
  if (!row.is_null(8)) job.supersedes_job_id = row.integer(8);
  job.times = {row.text(9), row.text(10), row.text(11), row.text(12), row.text(13), row.text(14), row.text(15), row.text(16)};
  job.priority = static_cast<Priority>(std::clamp<std::int64_t>(row.integer(17), 0, 2));
  return job;
}

std::optional<Job> load_job(Database& db, std::int64_t job_id) {
  Statement query(db, (std::string("SELECT ") + kJobColumns +
                       " FROM jobs j JOIN studies s ON s.id = j.study_id WHERE j.id = ?")
                          .c_str());
  query.bind(1, job_id);
  if (!query.step()) return std::nullopt;
  return read_job(query);
}

Output read_output(const Statement& row, int first) {
  const int c = first;
  return Output{row.integer(c), row.integer(c + 1), row.text(c + 2), row.text(c + 3), row.text(c + 4), row.text(c + 5),
                row.text(c + 6), row.is_null(c + 7) ? std::nullopt : std::optional(row.integer(c + 7)),
                row.text(c + 8), row.integer(c + 9), row.text(c + 10)};
}

namespace {

constexpr const char* kDeliveryColumns =
    "d.id, d.destination, d.state, d.attempts, d.last_status, d.created_at, d.next_attempt_at, d.finished_at, "
    "(julianday('now') - julianday(d.created_at)) * 86400.0, d.substitution";

}  // namespace

Delivery read_delivery(const Statement& row) {
  Delivery d;
  d.id = row.integer(0);
  d.destination = row.text(1);
  d.state = parse_delivery_state(row.text(2)).value_or(DeliveryState::dead);
  d.attempts = static_cast<int>(row.integer(3));
  d.last_status = row.text(4);
  d.created_at = row.text(5);
  d.next_attempt_at = row.text(6);
  d.finished_at = row.text(7);
  d.age_seconds = row.real(8);
  d.substitution = row.text(9);
  d.output = read_output(row, 10);
  return d;
}

std::string delivery_query(const char* where_and_order) {
  return std::string("SELECT ") + kDeliveryColumns + ", " + kOutputColumns +
         " FROM deliveries d JOIN outputs o ON o.id = d.output_id " + where_and_order;
}

}  // namespace evax::storage::sqlite
