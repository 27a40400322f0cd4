// What both backends' RetrievalLog share: whether a stored image analysis is the running
// model's, and a sweep's state from its retrievals. Internal to the storage module.
#pragma once

#include <string>

#include "evax/results/codec.h"
#include "evax/storage/retrieval_log.h"

namespace evax::storage {

// True when a job_images row's probabilities_json was written by `model` (name, task, demo
// and checkpoint digest all equal). A row that does not decode is not the model's.
inline bool analysed_by(const std::string& probabilities_json, const results::Provenance& model) {
  auto decoded = results::decode_columns({probabilities_json, ""});
  if (!decoded || !*decoded) return false;
  const results::Provenance& p = (*decoded)->provenance;
  return p.model == model.model && p.task == model.task && p.demo == model.demo && p.checkpoint_digest == model.checkpoint_digest;
}

inline void settle_sweep_state(Sweep& sweep) { sweep.state = sweep.waiting + sweep.running > 0 ? "running" : "done"; }

// The columns every query of retrievals reads, in the order read_retrieval expects.
inline constexpr const char* kRetrievalColumns =
    "id, source, method, study_instance_uid, accession_number, sweep_id, state, attempts, completed, failed, warning, "
    "detail, requested_by, created_at, started_at, finished_at";
inline constexpr const char* kSweepColumns =
    "s.id, s.source, s.modalities, s.body_part, s.date_from, s.date_to, s.max_studies, s.found, s.already_analysed, "
    "s.queued, s.requested_by, s.created_at, "
    "(SELECT COUNT(*) FROM retrievals r WHERE r.sweep_id = s.id AND r.state = 'queued'), "
    "(SELECT COUNT(*) FROM retrievals r WHERE r.sweep_id = s.id AND r.state = 'running'), "
    "(SELECT COUNT(*) FROM retrievals r WHERE r.sweep_id = s.id AND r.state = 'done'), "
    "(SELECT COUNT(*) FROM retrievals r WHERE r.sweep_id = s.id AND r.state = 'failed'), "
    "(SELECT COALESCE(SUM(r.completed), 0) FROM retrievals r WHERE r.sweep_id = s.id), "
    "(SELECT COALESCE(SUM(r.failed), 0) FROM retrievals r WHERE r.sweep_id = s.id)";

// Reads one row of kRetrievalColumns / kSweepColumns through `text(column)`, `integer(column)`
// and `is_null(column)` of either backend's row type.
template <class Row>
Retrieval read_retrieval(const Row& row) {
  Retrieval r;
  r.id = row.integer(0);
  r.source = row.text(1);
  r.method = row.text(2);
  r.study_instance_uid = row.text(3);
  r.accession_number = row.text(4);
  if (!row.is_null(5)) r.sweep_id = row.integer(5);
  r.state = row.text(6);
  r.attempts = static_cast<int>(row.integer(7));
  r.completed = static_cast<int>(row.integer(8));
  r.failed = static_cast<int>(row.integer(9));
  r.warning = static_cast<int>(row.integer(10));
  r.detail = row.text(11);
  r.requested_by = row.text(12);
  r.created_at = row.text(13);
  r.started_at = row.text(14);
  r.finished_at = row.text(15);
  return r;
}

template <class Row>
Sweep read_sweep(const Row& row) {
  Sweep s;
  s.id = row.integer(0);
  s.source = row.text(1);
  s.modalities = row.text(2);
  s.body_part = row.text(3);
  s.date_from = row.text(4);
  s.date_to = row.text(5);
  s.max_studies = static_cast<int>(row.integer(6));
  s.found = static_cast<int>(row.integer(7));
  s.already_analysed = static_cast<int>(row.integer(8));
  s.queued = static_cast<int>(row.integer(9));
  s.requested_by = row.text(10);
  s.created_at = row.text(11);
  s.waiting = static_cast<int>(row.integer(12));
  s.running = static_cast<int>(row.integer(13));
  s.done = static_cast<int>(row.integer(14));
  s.failed = static_cast<int>(row.integer(15));
  s.instances_retrieved = static_cast<int>(row.integer(16));
  s.instances_failed = static_cast<int>(row.integer(17));
  settle_sweep_state(s);
  return s;
}

}  // namespace evax::storage
