#include <filesystem>

#include "../delivery_status.h"
#include "rows.h"
#include "schema.h"
#include "stores.h"

namespace evax::storage::postgresql {
namespace {

void close_attempt(Connection& db, std::int64_t delivery_id, const char* outcome, std::optional<int> dimse_status,
                   const std::string& detail) {
  db.execute(with_now("UPDATE delivery_attempts SET outcome = $1, dimse_status = $2, detail = $3, finished_at = NOW_ISO "
                      "WHERE delivery_id = $4 AND outcome = 'sending'"),
             {outcome, dimse_status ? Param(std::int64_t{*dimse_status}) : Param(std::nullopt), detail, delivery_id});
}

// The transaction in progress may record the attempt only while this node sends the delivery;
// the row stays locked until the commit.
void hold_delivery(Connection& db, std::int64_t delivery_id, const std::string& node_id) {
  if (db.execute("SELECT 1 FROM deliveries WHERE id = $1 AND state = 'sending' AND claimed_by = $2 FOR UPDATE",
                 {delivery_id, node_id}).rows() == 0)
    throw LostClaim("delivery " + std::to_string(delivery_id) + " is no longer held by this node");
}

}  // namespace

void queue_outputs(Connection& db, std::int64_t job_id, const std::vector<Output>& outputs,
                   const std::vector<DeliveryRoute>& routes) {
  for (const auto& output : outputs) {
    const Result inserted = db.execute(
        with_now("INSERT INTO outputs (job_id, kind, sop_class_uid, sop_instance_uid, series_instance_uid, study_instance_uid, "
                 "source_instance_id, file_path, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NOW_ISO) "
                 "RETURNING id"),
        {job_id, output.kind, output.sop_class_uid, output.sop_instance_uid, output.series_instance_uid,
         output.study_instance_uid, output.source_instance_id, output.file_path, output.size_bytes});
    const std::int64_t output_id = inserted.integer(0, 0);
    for (const auto& route : routes)
      if (route.takes(output.kind))
        db.execute(with_now("INSERT INTO deliveries (output_id, destination, state, created_at) VALUES ($1, $2, 'pending', NOW_ISO)"),
                   {output_id, route.destination});
  }
}

std::vector<Delivery> PgOutbox::claim_due(const std::string& destination, const std::set<std::int64_t>& held_back,
                                          int limit) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  const Result claimed = db.execute(
      "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = NULL, claimed_by = $1 "
      "WHERE id IN (SELECT id FROM deliveries WHERE destination = $2 AND state = 'pending' AND NOT (id = ANY($3::bigint[])) "
      "ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id",
      {node_id_, destination, id_array(held_back), limit});
  std::set<std::int64_t> ids;
  for (int row = 0; row < claimed.rows(); ++row) ids.insert(claimed.integer(row, 0));
  std::vector<Delivery> out;
  if (ids.empty()) return out;
  for (std::int64_t id : ids)
    db.execute(with_now("INSERT INTO delivery_attempts (delivery_id, started_at, outcome) VALUES ($1, NOW_ISO, 'sending')"), {id});
  const Result rows = db.execute(delivery_query("WHERE d.id = ANY($1::bigint[]) ORDER BY d.id"), {id_array(ids)});
  for (int row = 0; row < rows.rows(); ++row) out.push_back(read_delivery(rows, row));
  write.commit();
  return out;
}

void PgOutbox::record_delivered(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail) {
  record_delivered_as(delivery_id, dimse_status, detail, "");
}

void PgOutbox::record_delivered_as(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                                   const std::string& substitution) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_delivery(db, delivery_id, node_id_);
  close_attempt(db, delivery_id, "delivered", dimse_status, detail);
  const Result updated = db.execute(
      with_now("UPDATE deliveries d SET state = 'delivered', last_status = $1, finished_at = NOW_ISO, substitution = $3 "
               "FROM outputs o WHERE d.id = $2 AND o.id = d.output_id RETURNING o.job_id"),
      {attempt_status_text(dimse_status, detail.empty() ? "delivered" : detail), delivery_id, substitution});
  if (updated.rows() > 0) mark_job_delivered_if_complete(db, updated.integer(0, 0));
  write.commit();
}

int PgOutbox::substitute_with(std::int64_t delivery_id, const std::string& carrier_kind, const std::string& substitution) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_delivery(db, delivery_id, node_id_);
  const Result carriers = db.execute(
      "SELECT c.id, d.destination FROM deliveries d JOIN outputs o ON o.id = d.output_id "
      "JOIN outputs c ON c.job_id = o.job_id AND c.kind = $2 "
      "AND (o.source_instance_id IS NULL OR c.source_instance_id = o.source_instance_id) "
      "WHERE d.id = $1 ORDER BY c.id",
      {delivery_id, carrier_kind});
  if (carriers.rows() == 0) return 0;  // rolled back: nothing changed
  for (int row = 0; row < carriers.rows(); ++row)
    db.execute(with_now("INSERT INTO deliveries (output_id, destination, state, created_at) VALUES ($1, $2, 'pending', NOW_ISO) "
                        "ON CONFLICT (output_id, destination) DO NOTHING"),
               {carriers.integer(row, 0), carriers.text(row, 1)});
  close_attempt(db, delivery_id, "permanent", std::nullopt, substitution);
  db.execute(with_now("UPDATE deliveries SET state = 'delivered', last_status = $1, finished_at = NOW_ISO, substitution = $1 "
                      "WHERE id = $2"),
             {substitution, delivery_id});
  write.commit();
  return carriers.rows();
}

void PgOutbox::record_retry(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                            const std::string& next_attempt_at) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_delivery(db, delivery_id, node_id_);
  close_attempt(db, delivery_id, "retryable", dimse_status, detail);
  db.execute("UPDATE deliveries SET state = 'pending', last_status = $1, next_attempt_at = $2, claimed_by = NULL WHERE id = $3",
             {attempt_status_text(dimse_status, detail), next_attempt_at, delivery_id});
  write.commit();
}

void PgOutbox::record_dead(std::int64_t delivery_id, bool permanent, std::optional<int> dimse_status, const std::string& detail) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  hold_delivery(db, delivery_id, node_id_);
  close_attempt(db, delivery_id, permanent ? "permanent" : "retryable", dimse_status, detail);
  db.execute(with_now("UPDATE deliveries SET state = 'dead', last_status = $1, finished_at = NOW_ISO WHERE id = $2"),
             {attempt_status_text(dimse_status, detail), delivery_id});
  write.commit();
}

int PgOutbox::requeue_sending() {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  db.execute(with_now("UPDATE delivery_attempts a SET outcome = 'interrupted', finished_at = NOW_ISO, "
                      "detail = 'interrupted by a restart' FROM deliveries d WHERE d.id = a.delivery_id "
                      "AND a.outcome = 'sending' AND d.state = 'sending' AND d.claimed_by = $1"),
             {node_id_});
  const Result requeued = db.execute(
      "UPDATE deliveries SET state = 'pending', last_status = 'interrupted by a restart', claimed_by = NULL "
      "WHERE state = 'sending' AND claimed_by = $1",
      {node_id_});
  write.commit();
  return static_cast<int>(requeued.affected_rows());
}

int PgOutbox::requeue_sending_to(const std::string& destination) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  db.execute(with_now("UPDATE delivery_attempts a SET outcome = 'interrupted', finished_at = NOW_ISO, "
                      "detail = 'the database was unreachable' FROM deliveries d WHERE d.id = a.delivery_id "
                      "AND a.outcome = 'sending' AND d.state = 'sending' AND d.destination = $1 AND d.claimed_by = $2"),
             {destination, node_id_});
  const Result requeued = db.execute(
      "UPDATE deliveries SET state = 'pending', last_status = 'the database was unreachable', claimed_by = NULL "
      "WHERE state = 'sending' AND destination = $1 AND claimed_by = $2",
      {destination, node_id_});
  write.commit();
  return static_cast<int>(requeued.affected_rows());
}

int PgOutbox::take_over_from_silent_nodes(int lease_seconds) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  const std::string silent =
      "SELECT id FROM nodes WHERE last_heartbeat < clock_timestamp() - make_interval(secs => $1::int)";
  db.execute(with_now("UPDATE delivery_attempts a SET outcome = 'interrupted', finished_at = NOW_ISO, "
                      "detail = 'taken over: the sending node stopped answering' FROM deliveries d "
                      "WHERE d.id = a.delivery_id AND a.outcome = 'sending' AND d.state = 'sending' AND d.claimed_by IN (" +
                      silent + ")"),
             {lease_seconds});
  const Result requeued = db.execute(
      "UPDATE deliveries SET state = 'pending', claimed_by = NULL, last_status = 'taken over: the sending node stopped answering' "
      "WHERE state = 'sending' AND claimed_by IN (" + silent + ")",
      {lease_seconds});
  write.commit();
  return static_cast<int>(requeued.affected_rows());
}

std::map<std::string, int> PgOutbox::unfinished_by_destination() {
  const Result r = session_.hold()->execute(
      "SELECT destination, COUNT(*) FROM deliveries WHERE state IN ('pending', 'sending') GROUP BY destination");
  std::map<std::string, int> out;
  for (int row = 0; row < r.rows(); ++row) out[r.text(row, 0)] = static_cast<int>(r.integer(row, 1));
  return out;
}

bool PgOutbox::resend(std::int64_t delivery_id) {
  const Result r = session_.hold()->execute(
      with_now("UPDATE deliveries SET state = 'pending', attempts = 0, created_at = NOW_ISO, finished_at = NULL, "
               "claimed_by = NULL, last_status = 'queued again by an admin' WHERE id = $1 AND state = 'dead'"),
      {delivery_id});
  return r.affected_rows() > 0;
}

std::set<std::string> PgOutbox::output_paths() {
  const Result r = session_.hold()->execute("SELECT file_path FROM outputs WHERE file_path IS NOT NULL");
  std::set<std::string> out;
  for (int row = 0; row < r.rows(); ++row) out.insert(r.text(row, 0));
  return out;
}

int PgOutbox::purge_outputs_before(const std::string& cutoff_iso) {
  const auto held = session_.hold();
  Connection& db = *held;
  Transaction write(db);
  // Retention runs on one node at a time; the others skip this round.
  if (db.execute("SELECT pg_try_advisory_xact_lock($1::bigint)", {kRetentionLock}).text(0, 0) != "t") return 0;
  const Result r = db.execute(
      "SELECT o.id, o.file_path FROM outputs o WHERE o.file_path IS NOT NULL AND o.created_at < $1 "
      "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.output_id = o.id AND d.state <> 'delivered')",
      {cutoff_iso});
  std::vector<std::string> paths;
  for (int row = 0; row < r.rows(); ++row) {
    db.execute("UPDATE outputs SET file_path = NULL WHERE id = $1", {r.integer(row, 0)});
    paths.push_back(r.text(row, 1));
  }
  write.commit();
  for (const auto& path : paths) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);  // after the commit: a crash in between leaves an orphan
  }
  return static_cast<int>(paths.size());
}

}  // namespace evax::storage::postgresql
