#include <filesystem>
#include <set>

#include "rows.h"
#include "schema.h"
#include "stores.h"

namespace evax::storage::postgresql {
namespace fs = std::filesystem;
namespace {

struct KnownInstance {
  std::int64_t instance_id = 0;
  std::int64_t study_id = 0;
  std::string study_instance_uid;
};

std::optional<KnownInstance> find_known(Connection& db, const std::string& sop_instance_uid) {
  const Result r = db.execute(
      "SELECT i.id, i.study_id, s.study_instance_uid FROM instances i JOIN studies s ON s.id = i.study_id "
      "WHERE i.sop_instance_uid = $1",
      {sop_instance_uid});
  if (r.rows() == 0) return std::nullopt;
  return KnownInstance{r.integer(0, 0), r.integer(0, 1), r.text(0, 2)};
}

void remove_quietly(const std::string& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

// Files another node may have just renamed into place and not yet committed are left alone:
// only files older than this are orphans.
constexpr auto kOrphanAge = std::chrono::seconds(600);

}  // namespace

bool PgInstanceIndex::below_watermark(std::int64_t incoming_bytes) const {
  return files_.available_bytes() - incoming_bytes < min_free_bytes_;
}

StoreResult PgInstanceIndex::store(const StoreRequest& request) {
  const InstanceAttributes& a = request.attributes;
  const std::string& temp = request.temp_path;
  std::string placed;
  bool commit_sent = false;  // from here on the row may exist even if COMMIT's answer was lost
  try {
    auto lease = pool_.take();
    std::optional<KnownInstance> known_before;
    try {
      known_before = find_known(lease.connection(), a.sop_instance_uid);
    } catch (const PostgresError& e) {
      // A pooled connection that died while idle (the server restarted): nothing is written yet,
      // so ask again on a new one rather than refuse a store the database could take.
      if (!e.connection_lost()) throw;
      known_before = find_known(lease.connection(), a.sop_instance_uid);
    }
    Connection& db = lease.connection();
    if (auto known = known_before; known && known->study_instance_uid == a.study_instance_uid) {
      remove_quietly(temp);
      return {StoreOutcome::duplicate, known->study_id, known->instance_id, ""};
    }
    auto committed = files_.commit(temp, FileArea::instances, a.sop_instance_uid);
    if (!committed) {
      remove_quietly(temp);
      const bool full = committed.error().out_of_space || below_watermark(0);
      return {full ? StoreOutcome::out_of_space : StoreOutcome::failed, 0, 0, committed.error().message};
    }
    placed = *committed;
    const std::int64_t size = static_cast<std::int64_t>(fs::file_size(placed));
    {
      Transaction write(db);
      // The study's row is locked until the commit: the instances of one study are numbered in
      // the order they commit, on every node, so "covered up to id N" never skips one. A study's
      // priority is the highest any of its instances asked for.
      const Result study = db.execute(with_now(
          "INSERT INTO studies (study_instance_uid, instance_count, first_received_at, last_received_at, last_received_ts, "
          "priority) VALUES ($1, 1, NOW_ISO, NOW_ISO, clock_timestamp(), $2) ON CONFLICT (study_instance_uid) DO UPDATE SET "
          "instance_count = studies.instance_count + 1, last_received_at = EXCLUDED.last_received_at, "
          "last_received_ts = EXCLUDED.last_received_ts, priority = GREATEST(studies.priority, EXCLUDED.priority) "
          "RETURNING id"), {a.study_instance_uid, static_cast<int>(a.priority)});
      const std::int64_t study_id = study.integer(0, 0);
      const Result inserted = db.execute(with_now(
          "INSERT INTO instances (study_id, sop_instance_uid, sop_class_uid, series_instance_uid, transfer_syntax_uid, "
          "modality, body_part_examined, view_position, view_code, presentation_intent, manufacturer, image_type, rows, "
          "columns, file_path, size_bytes, calling_ae_title, peer_address, received_at, received_by) VALUES ($1, $2, $3, "
          "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, NOW_ISO, $19) "
          "ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING id"),
          {study_id, a.sop_instance_uid, a.sop_class_uid, a.series_instance_uid, a.transfer_syntax_uid, a.modality,
           a.body_part_examined, a.view_position, a.view_code, a.presentation_intent, a.manufacturer, a.image_type,
           a.rows, a.columns, placed, size, request.from.calling_ae_title, request.from.peer_address, node_id_});
      if (inserted.rows() == 1) {
        const std::int64_t instance_id = inserted.integer(0, 0);
        commit_sent = true;
        write.commit();
        return {StoreOutcome::stored, study_id, instance_id, ""};
      }
      // Another node stored this SOP Instance UID meanwhile: the transaction rolls back here.
    }
    const auto known = find_known(db, a.sop_instance_uid);
    if (known && known->study_instance_uid == a.study_instance_uid) {
      remove_quietly(placed);
      return {StoreOutcome::duplicate, known->study_id, known->instance_id, ""};
    }
    auto quarantined = files_.commit(placed, FileArea::quarantine, a.sop_instance_uid + "|" + a.study_instance_uid);
    if (!quarantined) {
      remove_quietly(placed);
      return {StoreOutcome::failed, 0, 0, quarantined.error().message};
    }
    placed = *quarantined;
    db.execute(with_now(
                   "INSERT INTO quarantine (sop_instance_uid, claimed_study_instance_uid, known_study_instance_uid, file_path, "
                   "calling_ae_title, peer_address, received_at) VALUES ($1, $2, $3, $4, $5, $6, NOW_ISO)"),
               {a.sop_instance_uid, a.study_instance_uid, known ? known->study_instance_uid : std::string(), placed,
                request.from.calling_ae_title, request.from.peer_address});
    return {StoreOutcome::quarantined, 0, 0, "SOP Instance UID already stored for another study"};
  } catch (const std::exception& e) {
    // Nothing is acknowledged: the sender will try again. If the commit's answer was lost it
    // may have committed: the file stays (the retry finds the row and answers it as a duplicate;
    // a file no row refers to is swept later).
    remove_quietly(temp);
    if (!placed.empty() && !commit_sent) remove_quietly(placed);
    const auto* lost = dynamic_cast<const PostgresError*>(&e);
    const bool unreachable = lost && lost->connection_lost();
    return {unreachable ? StoreOutcome::unavailable : StoreOutcome::failed, 0, 0, e.what()};
  }
}

InstanceIndex::Sweep PgInstanceIndex::sweep_at_startup() {
  Sweep sweep;
  sweep.temp_files = files_.sweep_temp();
  std::set<std::string> referenced;
  {
    auto lease = pool_.take();
    Connection& db = lease.connection();
    const Result paths = db.execute(
        "SELECT file_path FROM instances WHERE file_path IS NOT NULL "
        "UNION ALL SELECT file_path FROM outputs WHERE file_path IS NOT NULL "
        "UNION ALL SELECT file_path FROM quarantine");
    for (int row = 0; row < paths.rows(); ++row) referenced.insert(paths.text(row, 0));
  }
  sweep.orphan_files = files_.sweep_unreferenced(referenced, kOrphanAge);
  return sweep;
}

int PgInstanceIndex::purge_instances_before(const std::string& cutoff_iso) {
  auto lease = pool_.take();
  Connection& db = lease.connection();
  Transaction write(db);
  // Retention runs on one node at a time; the others skip this round.
  if (db.execute("SELECT pg_try_advisory_xact_lock($1::bigint)", {kRetentionLock}).text(0, 0) != "t") return 0;
  const Result r = db.execute(
      "SELECT i.id, i.file_path FROM instances i JOIN studies s ON s.id = i.study_id "
      "WHERE i.file_path IS NOT NULL AND i.received_at < $1 "
      "AND COALESCE((SELECT covered_instance_id FROM study_coverage WHERE study_id = s.id), 0) "
      "  >= (SELECT MAX(id) FROM instances WHERE study_id = s.id) "
      "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.study_id = s.id AND j.state IN ('queued', 'running')) "
      "AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN outputs o ON o.id = d.output_id "
      "  JOIN jobs j ON j.id = o.job_id WHERE j.study_id = s.id AND d.state IN ('pending', 'sending'))",
      {cutoff_iso});
  std::vector<std::string> paths;
  for (int row = 0; row < r.rows(); ++row) {
    db.execute(with_now("UPDATE instances SET file_path = NULL, purged_at = NOW_ISO WHERE id = $1"), {r.integer(row, 0)});
    paths.push_back(r.text(row, 1));
  }
  write.commit();
  for (const auto& path : paths) remove_quietly(path);  // after the commit: a crash in between leaves an orphan
  return static_cast<int>(paths.size());
}

}  // namespace evax::storage::postgresql
