#include "../job_image_columns.h"
#include "rows.h"
#include "stores.h"

namespace evax::storage::sqlite {

namespace {

// The job's per-image decisions and results, replacing those of an earlier attempt.
void replace_images(Database& db, std::int64_t job_id, const std::vector<JobImage>& images) {
  Statement clear(db, "DELETE FROM job_images WHERE job_id = ?");
  clear.bind(1, job_id).run();
  for (const auto& image : images) {
    const auto& result = image.result;
    const auto columns = result_columns(image);
    Statement insert(db,
                     "INSERT INTO job_images (job_id, instance_id, decision, reason_code, detail, probabilities_json, "
                     "cams_json) VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, job_id).bind(2, result.instance_id).bind(3, result.decision).bind(4, result.reason_code);
    insert.bind(5, result.detail).bind(6, columns.probabilities_json).bind(7, columns.cams_json).run();
  }
}

// The write transaction in progress may change the job only while this node runs it.
void hold_job(Database& db, std::int64_t job_id, const std::string& node_id) {
  Statement held(db, "SELECT 1 FROM jobs WHERE id = ? AND state = 'running' AND claimed_by = ?");
  held.bind(1, job_id).bind(2, node_id);
  if (!held.step()) throw LostClaim("job " + std::to_string(job_id) + " is no longer held by this node");
}

}  // namespace

void mark_job_delivered_if_complete(Database& db, std::int64_t job_id, const std::string& now) {
  Statement mark(db,
                 "UPDATE jobs SET delivered_at = ?1 WHERE id = ?2 AND delivered_at IS NULL "
                 "AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN outputs o ON o.id = d.output_id "
                 "WHERE o.job_id = ?2 AND d.state <> 'delivered')");
  mark.bind(1, now).bind(2, job_id).run();
}

std::vector<PendingStudy> SqliteJobQueue::studies_awaiting_analysis() {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT s.id, s.study_instance_uid, MAX(i.id), s.last_received_at FROM studies s "
                  "JOIN instances i ON i.study_id = s.id LEFT JOIN study_coverage c ON c.study_id = s.id "
                  "GROUP BY s.id HAVING MAX(i.id) > MAX(COALESCE(c.covered_instance_id, 0))");
  std::vector<PendingStudy> out;
  while (query.step()) out.push_back({query.integer(0), query.text(1), query.integer(2), query.text(3)});
  return out;
}

std::vector<PendingStudy> SqliteJobQueue::studies_awaiting_analysis(const std::vector<std::int64_t>& among) {
  Transaction read(db_, Transaction::Mode::read);
  std::vector<PendingStudy> out;
  for (std::int64_t study_id : among) {
    // One indexed look-up per study (instances_by_study), whatever the size of the archive.
    Statement query(db_,
                    "SELECT s.id, s.study_instance_uid, MAX(i.id), s.last_received_at, "
                    "COALESCE((SELECT covered_instance_id FROM study_coverage WHERE study_id = s.id), 0) "
                    "FROM studies s JOIN instances i ON i.study_id = s.id WHERE s.id = ?");
    query.bind(1, study_id);
    if (query.step() && !query.is_null(2) && query.integer(2) > query.integer(4))
      out.push_back({query.integer(0), query.text(1), query.integer(2), query.text(3)});
  }
  return out;
}

std::vector<PendingStudy> SqliteJobQueue::studies_quiet_for(std::chrono::milliseconds quiet) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT s.id, s.study_instance_uid, MAX(i.id), s.last_received_at FROM studies s "
                  "JOIN instances i ON i.study_id = s.id LEFT JOIN study_coverage c ON c.study_id = s.id "
                  "WHERE (julianday('now') - julianday(s.last_received_at)) * 86400000.0 >= ?1 "
                  "AND julianday('now') - julianday(s.last_received_at) <= 7 "
                  "GROUP BY s.id HAVING MAX(i.id) > MAX(COALESCE(c.covered_instance_id, 0))");
  query.bind(1, static_cast<std::int64_t>(quiet.count()));
  std::vector<PendingStudy> out;
  while (query.step()) out.push_back({query.integer(0), query.text(1), query.integer(2), query.text(3)});
  return out;
}

JobQueue::LateEnqueue SqliteJobQueue::enqueue(const PendingStudy& study, const SkipReason& skip_reason) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  LateEnqueue result;
  Statement covered(db_, "SELECT covered_instance_id FROM study_coverage WHERE study_id = ?");
  covered.bind(1, study.study_id);
  if (covered.step() && covered.integer(0) >= study.max_instance_id) return result;  // queued already
  Statement queued(db_, "SELECT id FROM jobs WHERE study_id = ? AND state = 'queued' ORDER BY id DESC LIMIT 1");
  queued.bind(1, study.study_id);
  Statement latest(db_, "SELECT MAX(id) FROM jobs WHERE study_id = ?");
  latest.bind(1, study.study_id);
  latest.step();
  const std::optional<std::int64_t> supersedes = latest.is_null(0) ? std::nullopt : std::optional(latest.integer(0));
  if (queued.step()) {
    result.job_id = queued.integer(0);
    // An arrival may have raised the study's priority: the queued job takes it.
    Statement extend(db_,
                     "UPDATE jobs SET max_instance_id = ?1, received_at = ?2, complete_at = ?3, "
                     "priority = MAX(priority, (SELECT priority FROM studies WHERE id = ?5)) WHERE id = ?4");
    extend.bind(1, study.max_instance_id).bind(2, study.last_received_at).bind(3, now).bind(4, result.job_id);
    extend.bind(5, study.study_id).run();
  } else {
    if (supersedes && skip_reason) {
      // A re-analysis only for an arrival that adds something analysable.
      Statement arrivals(db_,
                         "SELECT i.id, i.sop_class_uid, i.sop_instance_uid, i.series_instance_uid, i.transfer_syntax_uid, "
                         "i.modality, i.body_part_examined, i.view_position, i.view_code, i.presentation_intent, i.manufacturer, "
                         "i.image_type, i.rows, i.columns FROM instances i WHERE i.study_id = ?1 "
                         "AND i.id > COALESCE((SELECT covered_instance_id FROM study_coverage WHERE study_id = ?1), 0) "
                         "AND i.id <= ?2 ORDER BY i.id");
      arrivals.bind(1, study.study_id).bind(2, study.max_instance_id);
      while (arrivals.step()) {
        const InstanceAttributes a{arrivals.text(1), arrivals.text(2), study.study_instance_uid, arrivals.text(3),
                                   arrivals.text(4), arrivals.text(5), arrivals.text(6), arrivals.text(7), arrivals.text(8),
                                   arrivals.text(9), arrivals.text(10), arrivals.text(11),
                                   static_cast<int>(arrivals.integer(12)), static_cast<int>(arrivals.integer(13))};
        std::string reason = skip_reason(a);
        if (reason.empty()) {
          result.not_reanalysed.clear();
          break;
        }
        result.not_reanalysed.emplace_back(arrivals.integer(0), std::move(reason));
      }
    }
    if (result.not_reanalysed.empty()) {
      Statement insert(db_,
                       "INSERT INTO jobs (study_id, state, max_instance_id, supersedes_job_id, received_at, complete_at, "
                       "queued_at, priority) VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, "
                       "(SELECT priority FROM studies WHERE id = ?1))");
      insert.bind(1, study.study_id).bind(2, study.max_instance_id).bind_optional(3, supersedes);
      insert.bind(4, study.last_received_at).bind(5, now).bind(6, now).run();
      result.job_id = db_.last_insert_id();
    }
    for (const auto& [instance_id, reason] : result.not_reanalysed) {
      Statement note(db_, "INSERT OR REPLACE INTO arrivals_not_reanalysed (instance_id, reason) VALUES (?, ?)");
      note.bind(1, instance_id).bind(2, reason).run();
    }
  }
  Statement cover(db_,
                  "INSERT INTO study_coverage (study_id, covered_instance_id) VALUES (?1, ?2) ON CONFLICT(study_id) "
                  "DO UPDATE SET covered_instance_id = MAX(covered_instance_id, excluded.covered_instance_id)");
  cover.bind(1, study.study_id).bind(2, study.max_instance_id).run();
  write.commit();
  return result;
}

std::optional<Job> SqliteJobQueue::claim_next(const std::set<std::int64_t>& held_back) {
  Transaction write(db_);
  // Strict priority (stat, high, routine), first queued first within one (jobs_by_claim_order).
  Statement candidates(db_, "SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id");
  std::optional<std::int64_t> chosen;
  while (candidates.step()) {
    if (!held_back.count(candidates.integer(0))) {
      chosen = candidates.integer(0);
      break;
    }
  }
  if (!chosen) return std::nullopt;
  Statement claim(db_,
                  "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?, next_attempt_at = NULL, "
                  "claimed_by = ? WHERE id = ? AND state = 'queued'");
  claim.bind(1, utc_now_iso()).bind(2, node_id_).bind(3, *chosen).run();
  auto job = load_job(db_, *chosen);
  write.commit();
  return job;
}

int SqliteJobQueue::requeue_running(const std::set<std::int64_t>& in_hand) {
  Transaction write(db_);
  int changed = 0;
  Statement running(db_, "SELECT id FROM jobs WHERE state = 'running'");
  std::vector<std::int64_t> ids;
  while (running.step())
    if (!in_hand.count(running.integer(0))) ids.push_back(running.integer(0));
  for (std::int64_t id : ids) {
    Statement requeue(db_, "UPDATE jobs SET state = 'queued', last_error = 'interrupted by a restart' WHERE id = ?");
    requeue.bind(1, id).run();
    changed += db_.changes();
  }
  write.commit();
  return changed;
}

std::vector<Instance> SqliteJobQueue::instances_for(const Job& job) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_,
                  "SELECT id, study_id, sop_class_uid, sop_instance_uid, series_instance_uid, transfer_syntax_uid, modality, "
                  "body_part_examined, view_position, view_code, presentation_intent, manufacturer, image_type, rows, "
                  "columns, file_path, size_bytes, received_at FROM instances WHERE study_id = ? AND id <= ? ORDER BY id");
  query.bind(1, job.study_id).bind(2, job.max_instance_id);
  std::vector<Instance> out;
  while (query.step()) {
    Instance i;
    i.id = query.integer(0);
    i.study_id = query.integer(1);
    i.attributes = {query.text(2), query.text(3), job.study_instance_uid, query.text(4), query.text(5), query.text(6),
                    query.text(7), query.text(8), query.text(9), query.text(10), query.text(11), query.text(12),
                    static_cast<int>(query.integer(13)), static_cast<int>(query.integer(14))};
    i.file_path = query.text(15);
    i.size_bytes = query.integer(16);
    i.received_at = query.text(17);
    out.push_back(std::move(i));
  }
  return out;
}

void SqliteJobQueue::mark_inferred(std::int64_t job_id) {
  Transaction write(db_);
  hold_job(db_, job_id, node_id_);
  Statement mark(db_, "UPDATE jobs SET inferred_at = ? WHERE id = ?");
  mark.bind(1, utc_now_iso()).bind(2, job_id).run();
  write.commit();
}

void SqliteJobQueue::finish(std::int64_t job_id, JobState state, const std::string& reason, const std::vector<JobImage>& images) {
  Transaction write(db_);
  hold_job(db_, job_id, node_id_);
  replace_images(db_, job_id, images);
  Statement update(db_, "UPDATE jobs SET state = ?, reason = ?, finished_at = ? WHERE id = ?");
  update.bind(1, std::string(job_state_name(state))).bind(2, reason).bind(3, utc_now_iso()).bind(4, job_id).run();
  write.commit();
}

void SqliteJobQueue::finish_with_outputs(std::int64_t job_id, const std::vector<JobImage>& images,
                                   const std::vector<Output>& outputs, const std::vector<DeliveryRoute>& routes) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  hold_job(db_, job_id, node_id_);
  replace_images(db_, job_id, images);
  queue_outputs(db_, job_id, outputs, routes, now);
  Statement update(db_, "UPDATE jobs SET state = 'done', reason = '', reported_at = ?, finished_at = ? WHERE id = ?");
  update.bind(1, now).bind(2, now).bind(3, job_id).run();
  write.commit();
}

std::optional<Output> SqliteJobQueue::previous_report(const Job& job) {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, (std::string("SELECT ") + kOutputColumns +
                         " FROM outputs o JOIN jobs j ON j.id = o.job_id "
                         "WHERE j.study_id = ? AND o.job_id < ? AND o.kind = 'sr' ORDER BY o.id DESC LIMIT 1")
                            .c_str());
  query.bind(1, job.study_id).bind(2, job.id);
  if (!query.step()) return std::nullopt;
  return read_output(query, 0);
}

void SqliteJobQueue::retry_later(std::int64_t job_id, const std::string& error, const std::string& next_attempt_at) {
  Transaction write(db_);
  hold_job(db_, job_id, node_id_);
  Statement update(db_, "UPDATE jobs SET state = 'queued', last_error = ?, next_attempt_at = ? WHERE id = ?");
  update.bind(1, error).bind(2, next_attempt_at).bind(3, job_id).run();
  write.commit();
}

namespace {

// Runs `update` (which must carry its own state condition) and tells whether it applied.
ActionResult apply_action(Database& db, std::int64_t job_id, Statement& update) {
  update.run();
  if (db.changes() > 0) return ActionResult::changed;
  Statement exists(db, "SELECT 1 FROM jobs WHERE id = ?");
  exists.bind(1, job_id);
  return exists.step() ? ActionResult::wrong_state : ActionResult::not_found;
}

}  // namespace

ActionResult SqliteJobQueue::retry(std::int64_t job_id) {
  Transaction write(db_);
  Statement update(db_,
                   "UPDATE jobs SET state = 'queued', attempts = 0, reason = '', last_error = '', queued_at = ?, "
                   "started_at = NULL, inferred_at = NULL, reported_at = NULL, delivered_at = NULL, finished_at = NULL "
                   "WHERE id = ? AND state IN ('failed', 'skipped')");
  update.bind(1, utc_now_iso()).bind(2, job_id);
  const ActionResult result = apply_action(db_, job_id, update);
  write.commit();
  return result;
}

ActionResult SqliteJobQueue::cancel(std::int64_t job_id, const std::string& why) {
  Transaction write(db_);
  Statement update(db_, "UPDATE jobs SET state = 'failed', reason = ?, finished_at = ? WHERE id = ? AND state = 'queued'");
  update.bind(1, "cancelled: " + why).bind(2, utc_now_iso()).bind(3, job_id);
  const ActionResult result = apply_action(db_, job_id, update);
  write.commit();
  return result;
}

}  // namespace evax::storage::sqlite
