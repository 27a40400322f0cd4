#include "evax/storage/job_store.h"

#include <array>

#include "database.h"
#include "output_rows.h"

namespace evax::storage {
namespace {

constexpr const char* kJobColumns =
    "j.id, j.study_id, s.study_instance_uid, j.state, j.reason, j.attempts, j.last_error, j.max_instance_id, "
    "j.supersedes_job_id, j.received_at, j.complete_at, j.queued_at, j.started_at, j.inferred_at, j.reported_at, "
    "j.delivered_at, j.finished_at";

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

// The job's per-image decisions and results, replacing those of an earlier attempt.
void replace_images(Database& db, std::int64_t job_id, const std::vector<JobImage>& images) {
  Statement clear(db, "DELETE FROM job_images WHERE job_id = ?");
  clear.bind(1, job_id).run();
  for (const auto& image : images) {
    Statement insert(db,
                     "INSERT INTO job_images (job_id, instance_id, decision, reason_code, detail, probabilities_json, "
                     "cams_json) VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, job_id).bind(2, image.instance_id).bind(3, image.decision).bind(4, image.reason_code);
    insert.bind(5, image.detail).bind(6, image.probabilities_json).bind(7, image.cams_json).run();
  }
}

}  // namespace

std::string_view job_state_name(JobState state) {
  switch (state) {
    case JobState::queued: return "queued";
    case JobState::running: return "running";
    case JobState::done: return "done";
    case JobState::skipped: return "skipped";
    case JobState::failed: return "failed";
  }
  return "failed";
}

std::optional<JobState> parse_job_state(std::string_view name) {
  for (JobState s : {JobState::queued, JobState::running, JobState::done, JobState::skipped, JobState::failed})
    if (job_state_name(s) == name) return s;
  return std::nullopt;
}

JobStore::JobStore(const FileStore& files) : db_(std::make_unique<Database>(files.database_path())) {}
JobStore::~JobStore() = default;

std::vector<PendingStudy> JobStore::studies_awaiting_analysis() {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_,
                  "SELECT s.id, s.study_instance_uid, MAX(i.id), s.last_received_at FROM studies s "
                  "JOIN instances i ON i.study_id = s.id GROUP BY s.id HAVING MAX(i.id) > s.covered_instance_id");
  std::vector<PendingStudy> out;
  while (query.step()) out.push_back({query.integer(0), query.text(1), query.integer(2), query.text(3)});
  return out;
}

std::vector<PendingStudy> JobStore::studies_awaiting_analysis(const std::vector<std::int64_t>& among) {
  Transaction read(*db_, Transaction::Mode::read);
  std::vector<PendingStudy> out;
  for (std::int64_t study_id : among) {
    // One indexed look-up per study (instances_by_study), whatever the size of the archive.
    Statement query(*db_,
                    "SELECT s.id, s.study_instance_uid, MAX(i.id), s.last_received_at, s.covered_instance_id "
                    "FROM studies s JOIN instances i ON i.study_id = s.id WHERE s.id = ?");
    query.bind(1, study_id);
    if (query.step() && !query.is_null(2) && query.integer(2) > query.integer(4))
      out.push_back({query.integer(0), query.text(1), query.integer(2), query.text(3)});
  }
  return out;
}

std::int64_t JobStore::enqueue(const PendingStudy& study) { return enqueue(study, nullptr).job_id; }

JobStore::LateEnqueue JobStore::enqueue(const PendingStudy& study, const SkipReason& skip_reason) {
  const std::string now = utc_now_iso();
  Transaction write(*db_);
  LateEnqueue result;
  Statement queued(*db_, "SELECT id FROM jobs WHERE study_id = ? AND state = 'queued' ORDER BY id DESC LIMIT 1");
  queued.bind(1, study.study_id);
  Statement latest(*db_, "SELECT MAX(id) FROM jobs WHERE study_id = ?");
  latest.bind(1, study.study_id);
  latest.step();
  const std::optional<std::int64_t> supersedes = latest.is_null(0) ? std::nullopt : std::optional(latest.integer(0));
  if (queued.step()) {
    result.job_id = queued.integer(0);
    Statement extend(*db_, "UPDATE jobs SET max_instance_id = ?, received_at = ?, complete_at = ? WHERE id = ?");
    extend.bind(1, study.max_instance_id).bind(2, study.last_received_at).bind(3, now).bind(4, result.job_id).run();
  } else {
    if (supersedes && skip_reason) {
      // A re-analysis only for an arrival that adds something analysable.
      Statement arrivals(*db_,
                         "SELECT i.id, i.sop_class_uid, i.sop_instance_uid, i.series_instance_uid, i.transfer_syntax_uid, "
                         "i.modality, i.body_part_examined, i.view_position, i.view_code, i.presentation_intent, i.manufacturer, "
                         "i.image_type, i.rows, i.columns FROM instances i JOIN studies s ON s.id = i.study_id "
                         "WHERE i.study_id = ? AND i.id > s.covered_instance_id AND i.id <= ? ORDER BY i.id");
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
      Statement insert(*db_,
                       "INSERT INTO jobs (study_id, state, max_instance_id, supersedes_job_id, received_at, complete_at, "
                       "queued_at) VALUES (?, 'queued', ?, ?, ?, ?, ?)");
      insert.bind(1, study.study_id).bind(2, study.max_instance_id).bind_optional(3, supersedes);
      insert.bind(4, study.last_received_at).bind(5, now).bind(6, now).run();
      result.job_id = db_->last_insert_id();
    }
    for (const auto& [instance_id, reason] : result.not_reanalysed) {
      Statement note(*db_, "UPDATE instances SET not_reanalysed_reason = ? WHERE id = ?");
      note.bind(1, reason).bind(2, instance_id).run();
    }
  }
  Statement cover(*db_, "UPDATE studies SET covered_instance_id = MAX(covered_instance_id, ?) WHERE id = ?");
  cover.bind(1, study.max_instance_id).bind(2, study.study_id).run();
  write.commit();
  return result;
}

std::optional<Job> JobStore::claim_next(const std::set<std::int64_t>& held_back) {
  Transaction write(*db_);
  Statement candidates(*db_, "SELECT id FROM jobs WHERE state = 'queued' ORDER BY id");
  std::optional<std::int64_t> chosen;
  while (candidates.step()) {
    if (!held_back.count(candidates.integer(0))) {
      chosen = candidates.integer(0);
      break;
    }
  }
  if (!chosen) return std::nullopt;
  Statement claim(*db_,
                  "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?, next_attempt_at = NULL "
                  "WHERE id = ? AND state = 'queued'");
  claim.bind(1, utc_now_iso()).bind(2, *chosen).run();
  auto job = load_job(*db_, *chosen);
  write.commit();
  return job;
}

int JobStore::requeue_running() {
  Transaction write(*db_);
  Statement requeue(*db_, "UPDATE jobs SET state = 'queued', last_error = 'interrupted by a restart' WHERE state = 'running'");
  requeue.run();
  const int changed = sqlite3_changes(db_->handle());
  write.commit();
  return changed;
}

std::vector<Instance> JobStore::instances_for(const Job& job) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_,
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

void JobStore::mark_inferred(std::int64_t job_id) {
  Transaction write(*db_);
  Statement mark(*db_, "UPDATE jobs SET inferred_at = ? WHERE id = ?");
  mark.bind(1, utc_now_iso()).bind(2, job_id).run();
  write.commit();
}

void JobStore::finish(std::int64_t job_id, JobState state, const std::string& reason, const std::vector<JobImage>& images) {
  Transaction write(*db_);
  replace_images(*db_, job_id, images);
  Statement update(*db_, "UPDATE jobs SET state = ?, reason = ?, finished_at = ? WHERE id = ?");
  update.bind(1, std::string(job_state_name(state))).bind(2, reason).bind(3, utc_now_iso()).bind(4, job_id).run();
  write.commit();
}

void JobStore::finish_with_outputs(std::int64_t job_id, const std::vector<JobImage>& images,
                                   const std::vector<Output>& outputs, const std::vector<std::string>& destinations) {
  const std::string now = utc_now_iso();
  Transaction write(*db_);
  replace_images(*db_, job_id, images);
  for (const auto& output : outputs) {
    Statement insert(*db_,
                     "INSERT INTO outputs (job_id, kind, sop_class_uid, sop_instance_uid, series_instance_uid, "
                     "study_instance_uid, source_instance_id, file_path, size_bytes, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, job_id).bind(2, output.kind).bind(3, output.sop_class_uid).bind(4, output.sop_instance_uid);
    insert.bind(5, output.series_instance_uid).bind(6, output.study_instance_uid).bind_optional(7, output.source_instance_id);
    insert.bind(8, output.file_path).bind(9, output.size_bytes).bind(10, now).run();
    const std::int64_t output_id = db_->last_insert_id();
    for (const auto& destination : destinations) {
      Statement queue(*db_, "INSERT INTO deliveries (output_id, destination, state, created_at) VALUES (?, ?, 'pending', ?)");
      queue.bind(1, output_id).bind(2, destination).bind(3, now).run();
    }
  }
  Statement update(*db_, "UPDATE jobs SET state = 'done', reason = '', reported_at = ?, finished_at = ? WHERE id = ?");
  update.bind(1, now).bind(2, now).bind(3, job_id).run();
  write.commit();
}

std::optional<Output> JobStore::previous_report(const Job& job) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, (std::string("SELECT ") + kOutputColumns +
                         " FROM outputs o JOIN jobs j ON j.id = o.job_id "
                         "WHERE j.study_id = ? AND o.job_id < ? AND o.kind = 'sr' ORDER BY o.id DESC LIMIT 1")
                            .c_str());
  query.bind(1, job.study_id).bind(2, job.id);
  if (!query.step()) return std::nullopt;
  return read_output(query, 0);
}

void JobStore::retry_later(std::int64_t job_id, const std::string& error, const std::string& next_attempt_at) {
  Transaction write(*db_);
  Statement update(*db_, "UPDATE jobs SET state = 'queued', last_error = ?, next_attempt_at = ? WHERE id = ?");
  update.bind(1, error).bind(2, next_attempt_at).bind(3, job_id).run();
  write.commit();
}

std::optional<Job> JobStore::job(std::int64_t job_id) {
  Transaction read(*db_, Transaction::Mode::read);
  return load_job(*db_, job_id);
}

std::vector<Job> JobStore::recent_jobs(int limit) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, (std::string("SELECT ") + kJobColumns +
                         " FROM jobs j JOIN studies s ON s.id = j.study_id ORDER BY j.id DESC LIMIT ?")
                            .c_str());
  query.bind(1, limit);
  std::vector<Job> out;
  while (query.step()) out.push_back(read_job(query));
  return out;
}

std::vector<JobImage> JobStore::images_of(std::int64_t job_id) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_,
                  "SELECT ji.job_id, ji.instance_id, i.sop_instance_uid, ji.decision, ji.reason_code, ji.detail, "
                  "ji.probabilities_json, ji.cams_json FROM job_images ji JOIN instances i ON i.id = ji.instance_id "
                  "WHERE ji.job_id = ? ORDER BY ji.instance_id");
  query.bind(1, job_id);
  std::vector<JobImage> out;
  while (query.step())
    out.push_back({query.integer(0), query.integer(1), query.text(2), query.text(3), query.text(4), query.text(5),
                   query.text(6), query.text(7)});
  return out;
}

JobPage JobStore::list_jobs(const JobFilter& filter) {
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
  Transaction read(*db_, Transaction::Mode::read);
  JobPage page;
  Statement count(*db_, ("SELECT COUNT(*) FROM jobs j JOIN studies s ON s.id = j.study_id" + where).c_str());
  bind_filters(count);
  if (count.step()) page.total = count.integer(0);
  Statement query(*db_, (std::string("SELECT ") + kJobColumns + " FROM jobs j JOIN studies s ON s.id = j.study_id" + where +
                         " ORDER BY j.id DESC LIMIT ?5 OFFSET ?6")
                            .c_str());
  bind_filters(query);
  query.bind(5, filter.limit).bind(6, filter.offset);
  while (query.step()) page.jobs.push_back(read_job(query));
  return page;
}

std::vector<Job> JobStore::jobs_of_study(const std::string& study_instance_uid) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, (std::string("SELECT ") + kJobColumns +
                         " FROM jobs j JOIN studies s ON s.id = j.study_id WHERE s.study_instance_uid = ? ORDER BY j.id")
                            .c_str());
  query.bind(1, study_instance_uid);
  std::vector<Job> out;
  while (query.step()) out.push_back(read_job(query));
  return out;
}

std::vector<JobStore::NotReanalysed> JobStore::not_reanalysed_of_study(const std::string& study_instance_uid) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_,
                  "SELECT i.sop_instance_uid, i.received_at, i.not_reanalysed_reason FROM instances i JOIN studies s ON s.id = "
                  "i.study_id WHERE s.study_instance_uid = ? AND i.not_reanalysed_reason IS NOT NULL ORDER BY i.id");
  query.bind(1, study_instance_uid);
  std::vector<NotReanalysed> out;
  while (query.step()) out.push_back({query.text(0), query.text(1), query.text(2)});
  return out;
}

namespace {

// Runs `update` (which must carry its own state condition) and tells whether it applied.
ActionResult apply_action(Database& db, std::int64_t job_id, Statement& update) {
  update.run();
  if (sqlite3_changes(db.handle()) > 0) return ActionResult::changed;
  Statement exists(db, "SELECT 1 FROM jobs WHERE id = ?");
  exists.bind(1, job_id);
  return exists.step() ? ActionResult::wrong_state : ActionResult::not_found;
}

}  // namespace

ActionResult JobStore::retry(std::int64_t job_id) {
  Transaction write(*db_);
  Statement update(*db_,
                   "UPDATE jobs SET state = 'queued', attempts = 0, reason = '', last_error = '', queued_at = ?, "
                   "started_at = NULL, inferred_at = NULL, reported_at = NULL, delivered_at = NULL, finished_at = NULL "
                   "WHERE id = ? AND state IN ('failed', 'skipped')");
  update.bind(1, utc_now_iso()).bind(2, job_id);
  const ActionResult result = apply_action(*db_, job_id, update);
  write.commit();
  return result;
}

ActionResult JobStore::cancel(std::int64_t job_id, const std::string& why) {
  Transaction write(*db_);
  Statement update(*db_, "UPDATE jobs SET state = 'failed', reason = ?, finished_at = ? WHERE id = ? AND state = 'queued'");
  update.bind(1, "cancelled: " + why).bind(2, utc_now_iso()).bind(3, job_id);
  const ActionResult result = apply_action(*db_, job_id, update);
  write.commit();
  return result;
}

}  // namespace evax::storage
