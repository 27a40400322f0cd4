// How the PostgreSQL backend selects and reads jobs, outputs and deliveries, and its SQL
// helpers. Internal to the storage module.
#pragma once

#include <set>
#include <string>

#include "connection.h"
#include "evax/storage/records.h"

namespace evax::storage::postgresql {

// The database's clock as ISO 8601 UTC text (the format every time column holds): every node
// stamps with the same clock.
inline constexpr const char* kNowIso = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";
// `sql` with every NOW_ISO replaced by kNowIso.
std::string with_now(std::string sql);

// Seconds between two ISO 8601 text columns (NULL when either is).
std::string seconds_between(const std::string& from, const std::string& to);

// A set of ids as one array parameter ("{1,2,3}") for `= ANY($n::bigint[])`.
std::string id_array(const std::set<std::int64_t>& ids);

inline constexpr const char* kJobColumns =
    "j.id, j.study_id, s.study_instance_uid, j.state, j.reason, j.attempts, j.last_error, j.max_instance_id, "
    "j.supersedes_job_id, j.received_at, j.complete_at, j.queued_at, j.started_at, j.inferred_at, j.reported_at, "
    "j.delivered_at, j.finished_at, j.priority";
Job read_job(const Result& rows, int row);
std::optional<Job> load_job(Connection& db, std::int64_t job_id);

inline constexpr const char* kOutputColumns =
    "o.id, o.job_id, o.kind, o.sop_class_uid, o.sop_instance_uid, o.series_instance_uid, o.study_instance_uid, "
    "o.source_instance_id, o.file_path, o.size_bytes, o.created_at";
Output read_output(const Result& rows, int row, int first);

std::string delivery_query(const char* where_and_order);
Delivery read_delivery(const Result& rows, int row);

inline std::optional<int> optional_int(const Result& rows, int row, int column) {
  return rows.is_null(row, column) ? std::nullopt : std::optional(static_cast<int>(rows.integer(row, column)));
}

}  // namespace evax::storage::postgresql
