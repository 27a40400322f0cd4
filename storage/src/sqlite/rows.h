// How jobs, outputs and deliveries are selected and read, shared by the stores that hand them
// out (the job queue, the outbox) and the read model. Internal to the SQLite backend.
#pragma once

#include <string>

#include "database.h"
#include "evax/storage/records.h"

namespace evax::storage::sqlite {

// The job columns, for a query that names the jobs table `j` joined with studies `s`.
inline constexpr const char* kJobColumns =
    "j.id, j.study_id, s.study_instance_uid, j.state, j.reason, j.attempts, j.last_error, j.max_instance_id, "
    "j.supersedes_job_id, j.received_at, j.complete_at, j.queued_at, j.started_at, j.inferred_at, j.reported_at, "
    "j.delivered_at, j.finished_at, j.priority";
Job read_job(const Statement& row);
std::optional<Job> load_job(Database& db, std::int64_t job_id);

// The output columns, for a query that names the outputs table `o`.
inline constexpr const char* kOutputColumns =
    "o.id, o.job_id, o.kind, o.sop_class_uid, o.sop_instance_uid, o.series_instance_uid, o.study_instance_uid, "
    "o.source_instance_id, o.file_path, o.size_bytes, o.created_at";
// Reads the 11 output columns starting at `first`.
Output read_output(const Statement& row, int first);

// SELECT of deliveries `d` joined with their outputs `o`, then `where_and_order`.
std::string delivery_query(const char* where_and_order);
Delivery read_delivery(const Statement& row);

}  // namespace evax::storage::sqlite
