// How an `outputs` row is selected and read, shared by the job store (a job's previous report)
// and the outbox. Internal to the storage module.
#pragma once

#include "database.h"
#include "evax/storage/records.h"

namespace evax::storage {

// The output columns, for a query that names the outputs table `o`.
inline constexpr const char* kOutputColumns =
    "o.id, o.job_id, o.kind, o.sop_class_uid, o.sop_instance_uid, o.series_instance_uid, o.study_instance_uid, "
    "o.source_instance_id, o.file_path, o.size_bytes, o.created_at";

// Reads the 11 output columns starting at `first`.
inline Output read_output(const Statement& row, int first) {
  const int c = first;
  return Output{row.integer(c), row.integer(c + 1), row.text(c + 2), row.text(c + 3), row.text(c + 4), row.text(c + 5),
                row.text(c + 6), row.is_null(c + 7) ? std::nullopt : std::optional(row.integer(c + 7)),
                row.text(c + 8), row.integer(c + 9), row.text(c + 10)};
}

}  // namespace evax::storage
