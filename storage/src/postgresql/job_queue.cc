#include "../job_image_columns.h"
#include "rows.h"
#include "stores.h"

namespace evax::storage::postgresql {
namespace {

void replace_images(Connection& db, std::int64_t job_id, const std::vector<JobImage>& images) {
  db.execute("DELETE FROM job_images WHERE job_id = $1", {job_id});
  for (const auto& image : images) {
    const auto& result = image.result;
    const auto columns = result_columns(image);
    db.execute(
        "INSERT INTO job_images (job_id, instance_id, decision, reason_code, detail, probabilities_json, cams_json) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {job_id, result.instance_id, result.decision, result.reason_code, result.detail, columns.probabilities_json,
         columns.cams_json});
  }
}

ActionResult apply_action(Connection& db, std::int64_t job_id, const Result& update) {
  if (update.affected_rows() > 0) return ActionResult::changed;
  return db.execute("SELECT 1 FROM jobs WHERE id = $1", {job_id}).rows() > 0 ? ActionResult::wrong_state
                                                                             : ActionResult::not_found;
}

// The transaction in progress may change the job only while this node runs it. The row stays
// locked until the commit, so a take-over cannot slip in between.
void hold_job(Connection& db, std::int64_t job_id, const std::string& node_id) {
  if (db.execute("SELECT 1 FROM jobs WHERE id = $1 AND state = 'running' AND claimed_by = $2 FOR UPDATE", {job_id, node_id}).rows() == 0)
    throw LostClaim("job " + std::to_string(job_id) + " is no longer held by this node");
}

}  // namespace

void mark_job_delivered_if_complete(Connection& db, std::int64_t job_id) {
  db.execute(with_now("UPDATE jobs SET delivered_at = NOW_ISO WHERE id = $1 AND delivered_at IS NULL "
                      "AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN outputs o ON o.id = d.output_id "
                      "WHERE o.job_id = $1 AND d.state <> 'delivered')"),
             {job_id});
}

std::vector<PendingStudy> PgJobQueue::studies_awaiting_analysis() {
  const Result r = session_.hold()->execute(
      "SELECT s.id, s.study_instance_uid, MAX(i.id), s.last_received_at FROM studies s "
      "JOIN instances i ON i.study_id = s.id LEFT JOIN study_coverage c ON c.study_id = s.id "
      "GROUP BY s.id, c.covered_instance_id HAVING MAX(i.id) > COALESCE(c.covered_instance_id, 0)");
  std::vector<PendingStudy> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back({r.integer(row, 0), r.text(row, 1), r.integer(row, 2), r.text(row, 3)});
  return out;
}

std::vector<PendingStudy> PgJobQueue::studies_awaiting_analysis(const std::vector<std::int64_t>& among) {
  std::set<std::int64_t> ids(among.begin(), among.end());
  const Result r = session_.hold()->execute(
      "SELECT s.id, s.study_instance_uid, MAX(i.id), s.last_received_at FROM studies s "
      "JOIN instances i ON i.study_id = s.id LEFT JOIN study_coverage c ON c.study_id = s.id "
      "WHERE s.id = ANY($1::bigint[]) "
      "GROUP BY s.id, c.covered_instance_id HAVING MAX(i.id) > COALESCE(c.covered_instance_id, 0)",
      {id_array(ids)});
  std::vector<PendingStudy> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back({r.integer(row, 0), r.text(row, 1), r.integer(row, 2), r.text(row, 3)});
  return out;
}

std::vector<PendingStudy> PgJobQueue::studies_quiet_for(std::chrono::milliseconds quiet) {
  const Result r = session_.hold()->execute(
      "SELECT s.id, s.study_instance_uid, m.max_id, s.last_received_at FROM studies s "
      "LEFT JOIN study_coverage c ON c.study_id = s.id "
      "CROSS JOIN LATERAL (SELECT MAX(i.id) AS max_id FROM instances i WHERE i.study_id = s.id) m "
      "WHERE s.last_received_ts <= clock_timestamp() - make_interval(secs => $1::float8 / 1000) "
      "AND s.last_received_ts > clock_timestamp() - interval '7 days' "
      "AND m.max_id > COALESCE(c.covered_instance_id, 0) ORDER BY s.id",
      {static_cast<std::int64_t>(quiet.count())});
  std::vector<PendingStudy> out;
  for (int row = 0; row < r.rows(); ++row) out.push_back({r.integer(row, 0), r.text(row, 1), r.integer(row, 2), r.text(row, 3)});
  return out;
}

JobQueue::LateEnqueue PgJobQueue::enqueue(const PendingStudy& study, const SkipReason& skip_reason) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  LateEnqueue result;
  // One enqueue per study at a time, on any node: the second finds the instances covered.
  db.execute("SELECT id FROM studies WHERE id = $1 FOR UPDATE", {study.study_id});
  const Result covered = db.execute("SELECT covered_instance_id FROM study_coverage WHERE study_id = $1", {study.study_id});
  const std::int64_t covered_up_to = covered.rows() ? covered.integer(0, 0) : 0;
  if (covered_up_to >= study.max_instance_id) return result;  // another node queued them already

  const Result queued = db.execute("SELECT id FROM jobs WHERE study_id = $1 AND state = 'queued' ORDER BY id DESC LIMIT 1",
                                   {study.study_id});
  const Result latest = db.execute("SELECT MAX(id) FROM jobs WHERE study_id = $1", {study.study_id});
  const std::optional<std::int64_t> supersedes = latest.is_null(0, 0) ? std::nullopt : std::optional(latest.integer(0, 0));
  if (queued.rows() > 0) {
    result.job_id = queued.integer(0, 0);
    // An arrival may have raised the study's priority: the queued job takes it.
    db.execute(with_now("UPDATE jobs SET max_instance_id = $1, received_at = $2, complete_at = NOW_ISO, "
                        "priority = GREATEST(priority, (SELECT priority FROM studies WHERE id = $4)) WHERE id = $3"),
               {study.max_instance_id, study.last_received_at, result.job_id, study.study_id});
  } else {
    if (supersedes && skip_reason) {
      const Result arrivals = db.execute(
          "SELECT id, sop_class_uid, sop_instance_uid, series_instance_uid, transfer_syntax_uid, modality, "
          "body_part_examined, view_position, view_code, presentation_intent, manufacturer, image_type, rows, columns "
          "FROM instances WHERE study_id = $1 AND id > $2 AND id <= $3 ORDER BY id",
          {study.study_id, covered_up_to, study.max_instance_id});
      for (int row = 0; row < arrivals.rows(); ++row) {
        const InstanceAttributes a{arrivals.text(row, 1), arrivals.text(row, 2), study.study_instance_uid,
                                   arrivals.text(row, 3), arrivals.text(row, 4), arrivals.text(row, 5),
                                   arrivals.text(row, 6), arrivals.text(row, 7), arrivals.text(row, 8),
                                   arrivals.text(row, 9), arrivals.text(row, 10), arrivals.text(row, 11),
                                   static_cast<int>(arrivals.integer(row, 12)), static_cast<int>(arrivals.integer(row, 13))};
        std::string reason = skip_reason(a);
        if (reason.empty()) {
          result.not_reanalysed.clear();
          break;
        }
        result.not_reanalysed.emplace_back(arrivals.integer(row, 0), std::move(reason));
      }
    }
    if (result.not_reanalysed.empty()) {
      const Result inserted = db.execute(
          with_now("INSERT INTO jobs (study_id, state, max_instance_id, supersedes_job_id, received_at, complete_at, queued_at, "
                   "priority) VALUES ($1, 'queued', $2, $3, $4, NOW_ISO, NOW_ISO, "
                   "(SELECT priority FROM studies WHERE id = $1)) RETURNING id"),
          {study.study_id, study.max_instance_id, supersedes, study.last_received_at});
      result.job_id = inserted.integer(0, 0);
    }
    for (const auto& [instance_id, reason] : result.not_reanalysed)
      db.execute("INSERT INTO arrivals_not_reanalysed (instance_id, reason) VALUES ($1, $2) "
                 "ON CONFLICT (instance_id) DO UPDATE SET reason = EXCLUDED.reason",
                 {instance_id, reason});
  }
  db.execute("INSERT INTO study_coverage (study_id, covered_instance_id) VALUES ($1, $2) ON CONFLICT (study_id) "
             "DO UPDATE SET covered_instance_id = GREATEST(study_coverage.covered_instance_id, EXCLUDED.covered_instance_id)",
             {study.study_id, study.max_instance_id});
  write.commit();
  return result;
}

std::optional<Job> PgJobQueue::claim_next(const std::set<std::int64_t>& held_back) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  // SKIP LOCKED: workers of every node take different jobs without waiting on each other.
  // Strict priority (stat, high, routine), first queued first within one (jobs_by_claim_order).
  const Result claimed = db.execute(
      with_now("UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = NOW_ISO, next_attempt_at = NULL, "
               "claimed_by = $1 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND NOT (id = ANY($2::bigint[])) "
               "ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"),
      {node_id_, id_array(held_back)});
  if (claimed.rows() == 0) return std::nullopt;
  auto job = load_job(db, claimed.integer(0, 0));
  write.commit();
  return job;
}

int PgJobQueue::requeue_running(const std::set<std::int64_t>& in_hand) {
  // This node's own jobs from before its restart; other nodes' running jobs are theirs.
  const Result r = session_.hold()->execute(
      "UPDATE jobs SET state = 'queued', last_error = 'interrupted by a restart', claimed_by = NULL "
      "WHERE state = 'running' AND claimed_by = $1 AND NOT (id = ANY($2::bigint[]))",
      {node_id_, id_array(in_hand)});
  return static_cast<int>(r.affected_rows());
}

int PgJobQueue::take_over_from_silent_nodes(int lease_seconds) {
  // A node silent past its lease is dead (or cut off: then its commits are refused, see finish).
  const Result r = session_.hold()->execute(
      "UPDATE jobs j SET state = 'queued', claimed_by = NULL, "
      "last_error = 'taken over: node ' || j.claimed_by || ' stopped answering' "
      "FROM nodes n WHERE j.state = 'running' AND n.id = j.claimed_by "
      "AND n.last_heartbeat < clock_timestamp() - make_interval(secs => $1::int)",
      {lease_seconds});
  return static_cast<int>(r.affected_rows());
}

std::vector<Instance> PgJobQueue::instances_for(const Job& job) {
  const Result r = session_.hold()->execute(
      "SELECT id, study_id, sop_class_uid, sop_instance_uid, series_instance_uid, transfer_syntax_uid, modality, "
      "body_part_examined, view_position, view_code, presentation_intent, manufacturer, image_type, rows, columns, "
      "file_path, size_bytes, received_at FROM instances WHERE study_id = $1 AND id <= $2 ORDER BY id",
      {job.study_id, job.max_instance_id});
  std::vector<Instance> out;
  for (int row = 0; row < r.rows(); ++row) {
    Instance i;
    i.id = r.integer(row, 0);
    i.study_id = r.integer(row, 1);
    i.attributes = {r.text(row, 2), r.text(row, 3), job.study_instance_uid, r.text(row, 4), r.text(row, 5),
                    r.text(row, 6), r.text(row, 7), r.text(row, 8), r.text(row, 9), r.text(row, 10),
                    r.text(row, 11), r.text(row, 12), static_cast<int>(r.integer(row, 13)),
                    static_cast<int>(r.integer(row, 14))};
    i.file_path = r.text(row, 15);
    i.size_bytes = r.integer(row, 16);
    i.received_at = r.text(row, 17);
    out.push_back(std::move(i));
  }
  return out;
}

void PgJobQueue::mark_inferred(std::int64_t job_id) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_job(db, job_id, node_id_);
  db.execute(with_now("UPDATE jobs SET inferred_at = NOW_ISO WHERE id = $1"), {job_id});
  write.commit();
}

void PgJobQueue::finish(std::int64_t job_id, JobState state, const std::string& reason, const std::vector<JobImage>& images) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_job(db, job_id, node_id_);
  replace_images(db, job_id, images);
  db.execute(with_now("UPDATE jobs SET state = $1, reason = $2, finished_at = NOW_ISO WHERE id = $3"),
             {std::string(job_state_name(state)), reason, job_id});
  write.commit();
}

void PgJobQueue::finish_with_outputs(std::int64_t job_id, const std::vector<JobImage>& images,
                                     const std::vector<Output>& outputs, const std::vector<DeliveryRoute>& routes) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_job(db, job_id, node_id_);
  replace_images(db, job_id, images);
  queue_outputs(db, job_id, outputs, routes);
  db.execute(with_now("UPDATE jobs SET state = 'done', reason = '', reported_at = NOW_ISO, finished_at = NOW_ISO WHERE id = $1"),
             {job_id});
  write.commit();
}

std::optional<Output> PgJobQueue::previous_report(const Job& job) {
  const Result r = session_.hold()->execute(
      std::string("SELECT ") + kOutputColumns +
          " FROM outputs o JOIN jobs j ON j.id = o.job_id WHERE j.study_id = $1 AND o.job_id < $2 AND o.kind = 'sr' "
          "ORDER BY o.id DESC LIMIT 1",
      {job.study_id, job.id});
  if (r.rows() == 0) return std::nullopt;
  return read_output(r, 0, 0);
}

void PgJobQueue::retry_later(std::int64_t job_id, const std::string& error, const std::string& next_attempt_at) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_job(db, job_id, node_id_);
  db.execute("UPDATE jobs SET state = 'queued', last_error = $1, next_attempt_at = $2, claimed_by = NULL WHERE id = $3",
             {error, next_attempt_at, job_id});
  write.commit();
}

ActionResult PgJobQueue::retry(std::int64_t job_id) {
  const auto held = session_.hold();
  Connection& db = *held;
  const Result update = db.execute(
      with_now("UPDATE jobs SET state = 'queued', attempts = 0, reason = '', last_error = '', queued_at = NOW_ISO, "
               "started_at = NULL, inferred_at = NULL, reported_at = NULL, delivered_at = NULL, finished_at = NULL, "
               "claimed_by = NULL WHERE id = $1 AND state IN ('failed', 'skipped')"),
      {job_id});
  return apply_action(db, job_id, update);
}

ActionResult PgJobQueue::cancel(std::int64_t job_id, const std::string& why) {
  const auto held = session_.hold();
  Connection& db = *held;
  const Result update = db.execute(
      with_now("UPDATE jobs SET state = 'failed', reason = $1, finished_at = NOW_ISO WHERE id = $2 AND state = 'queued'"),
      {"cancelled: " + why, job_id});
  return apply_action(db, job_id, update);
}

}  // namespace evax::storage::postgresql
