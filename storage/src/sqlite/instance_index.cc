#include <cerrno>
#include <filesystem>
#include <set>

#include "stores.h"

namespace evax::storage {

std::string_view outcome_name(StoreOutcome outcome) {
  switch (outcome) {
    case StoreOutcome::stored: return "stored";
    case StoreOutcome::duplicate: return "duplicate";
    case StoreOutcome::quarantined: return "quarantined";
    case StoreOutcome::out_of_space: return "out-of-space";
    case StoreOutcome::unavailable: return "database-unavailable";
    case StoreOutcome::failed: return "failed";
  }
  return "failed";
}

}  // namespace evax::storage

namespace evax::storage::sqlite {
namespace fs = std::filesystem;
namespace {

struct KnownInstance {
  std::int64_t instance_id = 0;
  std::int64_t study_id = 0;
  std::string study_instance_uid;
};

std::optional<KnownInstance> find_known(Database& db, const std::string& sop_instance_uid) {
  Statement query(db,
                  "SELECT i.id, i.study_id, s.study_instance_uid FROM instances i JOIN studies s ON s.id = i.study_id "
                  "WHERE i.sop_instance_uid = ?");
  query.bind(1, sop_instance_uid);
  if (!query.step()) return std::nullopt;
  return KnownInstance{query.integer(0), query.integer(1), query.text(2)};
}

// A study's priority is the highest any of its instances asked for.
std::int64_t upsert_study(Database& db, const std::string& study_uid, const std::string& now, Priority priority) {
  Statement upsert(db,
                   "INSERT INTO studies (study_instance_uid, instance_count, first_received_at, last_received_at, priority) "
                   "VALUES (?1, 1, ?2, ?2, ?3) ON CONFLICT(study_instance_uid) DO UPDATE SET "
                   "instance_count = instance_count + 1, last_received_at = ?2, priority = MAX(priority, ?3) RETURNING id");
  upsert.bind(1, study_uid).bind(2, now).bind(3, static_cast<std::int64_t>(priority));
  upsert.step();
  return upsert.integer(0);
}

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

}  // namespace

SqliteInstanceIndex::SqliteInstanceIndex(const FileStore& files, std::int64_t min_free_bytes)
    : files_(files), min_free_bytes_(min_free_bytes), db_(files.database_path()) {}

bool SqliteInstanceIndex::below_watermark(std::int64_t incoming_bytes) const {
  return files_.available_bytes() - incoming_bytes < min_free_bytes_;
}

StoreResult SqliteInstanceIndex::store(const StoreRequest& request) {
  const InstanceAttributes& a = request.attributes;
  const std::string& temp = request.temp_path;
  std::string placed;  // where the file went, once it left tmp/
  try {
    // A copy we already hold for this study: answer stored, keep nothing new.
    {
      Transaction read(db_, Transaction::Mode::read);
      if (auto known = find_known(db_, a.sop_instance_uid); known && known->study_instance_uid == a.study_instance_uid) {
        remove_quietly(temp);
        return {StoreOutcome::duplicate, known->study_id, known->instance_id, ""};
      }
    }
    auto committed = files_.commit(temp, FileArea::instances, a.sop_instance_uid);
    if (!committed) {
      remove_quietly(temp);
      const bool full = committed.error().out_of_space || below_watermark(0);
      return {full ? StoreOutcome::out_of_space : StoreOutcome::failed, 0, 0, committed.error().message};
    }
    placed = *committed;
    const std::string& path = placed;
    const std::int64_t size = static_cast<std::int64_t>(fs::file_size(path));
    const std::string now = utc_now_iso();

    Transaction write(db_);
    // Checked again under the write lock: another association may have stored it meanwhile.
    if (auto known = find_known(db_, a.sop_instance_uid)) {
      if (known->study_instance_uid == a.study_instance_uid) {
        write.commit();
        remove_quietly(path);
        return {StoreOutcome::duplicate, known->study_id, known->instance_id, ""};
      }
      auto quarantined = files_.commit(path, FileArea::quarantine, a.sop_instance_uid + "|" + a.study_instance_uid);
      if (!quarantined) {
        remove_quietly(path);
        return {StoreOutcome::failed, 0, 0, quarantined.error().message};
      }
      Statement insert(db_,
                       "INSERT INTO quarantine (sop_instance_uid, claimed_study_instance_uid, known_study_instance_uid, "
                       "file_path, calling_ae_title, peer_address, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
      insert.bind(1, a.sop_instance_uid).bind(2, a.study_instance_uid).bind(3, known->study_instance_uid);
      insert.bind(4, *quarantined).bind(5, request.from.calling_ae_title).bind(6, request.from.peer_address).bind(7, now);
      insert.run();
      write.commit();
      return {StoreOutcome::quarantined, 0, 0, "SOP Instance UID already stored for another study"};
    }
    const std::int64_t study_id = upsert_study(db_, a.study_instance_uid, now, a.priority);
    Statement insert(db_,
                     "INSERT INTO instances (study_id, sop_instance_uid, sop_class_uid, series_instance_uid, "
                     "transfer_syntax_uid, modality, body_part_examined, view_position, view_code, presentation_intent, "
                     "manufacturer, image_type, rows, columns, file_path, size_bytes, calling_ae_title, peer_address, "
                     "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, study_id).bind(2, a.sop_instance_uid).bind(3, a.sop_class_uid).bind(4, a.series_instance_uid);
    insert.bind(5, a.transfer_syntax_uid).bind(6, a.modality).bind(7, a.body_part_examined).bind(8, a.view_position);
    insert.bind(9, a.view_code).bind(10, a.presentation_intent).bind(11, a.manufacturer).bind(12, a.image_type);
    insert.bind(13, a.rows).bind(14, a.columns).bind(15, path).bind(16, size).bind(17, request.from.calling_ae_title);
    insert.bind(18, request.from.peer_address).bind(19, now);
    insert.run();
    const std::int64_t instance_id = db_.last_insert_id();
    write.commit();
    return {StoreOutcome::stored, study_id, instance_id, ""};
  } catch (const UnavailableError& e) {
    remove_quietly(temp);
    if (!placed.empty()) remove_quietly(placed);
    return {StoreOutcome::unavailable, 0, 0, e.what()};
  } catch (const std::exception& e) {
    // Nothing is indexed, so nothing is kept: the sender will be told to try again.
    remove_quietly(temp);
    if (!placed.empty()) remove_quietly(placed);
    return {StoreOutcome::failed, 0, 0, e.what()};
  }
}

InstanceIndex::Sweep SqliteInstanceIndex::sweep_at_startup() {
  Sweep sweep;
  sweep.temp_files = files_.sweep_temp();
  std::set<std::string> referenced;
  {
    Transaction read(db_, Transaction::Mode::read);
    Statement paths(db_,
                    "SELECT file_path FROM instances WHERE file_path IS NOT NULL "
                    "UNION ALL SELECT file_path FROM outputs WHERE file_path IS NOT NULL");
    while (paths.step()) referenced.insert(paths.text(0));
  }
  // Received files renamed into place but never indexed, and results written by a job whose
  // outcome never committed (the job runs again and makes new ones). One node: whatever age.
  sweep.orphan_files = files_.sweep_unreferenced(referenced, std::chrono::seconds(0));
  return sweep;
}

int SqliteInstanceIndex::purge_instances_before(const std::string& cutoff_iso) {
  // Received files go once their study has no pending work: every instance covered by a job,
  // every job final, and every result delivered or dead-lettered.
  std::vector<std::pair<std::int64_t, std::string>> instances;
  {
    Transaction read(db_, Transaction::Mode::read);
    Statement query(db_,
                    "SELECT i.id, i.file_path FROM instances i JOIN studies s ON s.id = i.study_id "
                    "WHERE i.file_path IS NOT NULL AND i.received_at < ?1 "
                    "AND COALESCE((SELECT covered_instance_id FROM study_coverage WHERE study_id = s.id), 0) "
                    "  >= (SELECT MAX(id) FROM instances WHERE study_id = s.id) "
                    "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.study_id = s.id AND j.state IN ('queued', 'running')) "
                    "AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN outputs o ON o.id = d.output_id "
                    "  JOIN jobs j ON j.id = o.job_id WHERE j.study_id = s.id AND d.state IN ('pending', 'sending'))");
    query.bind(1, cutoff_iso);
    while (query.step()) instances.emplace_back(query.integer(0), query.text(1));
  }
  const std::string now = utc_now_iso();
  for (const auto& [id, path] : instances) {
    Transaction write(db_);
    Statement mark(db_, "UPDATE instances SET file_path = NULL, purged_at = ? WHERE id = ?");
    mark.bind(1, now).bind(2, id).run();
    write.commit();
    remove_quietly(path);  // after the commit: a crash in between leaves an orphan, swept at start-up
  }
  return static_cast<int>(instances.size());
}

}  // namespace evax::storage::sqlite
