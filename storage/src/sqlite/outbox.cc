#include <filesystem>

#include "../delivery_status.h"
#include "rows.h"
#include "stores.h"

namespace evax::storage::sqlite {
namespace {

// Closes the delivery's open attempt with its outcome.
void close_attempt(Database& db, std::int64_t delivery_id, const char* outcome, std::optional<int> dimse_status,
                   const std::string& detail, const std::string& now) {
  Statement close(db,
                  "UPDATE delivery_attempts SET outcome = ?, dimse_status = ?, detail = ?, finished_at = ? "
                  "WHERE delivery_id = ? AND outcome = 'sending'");
  close.bind(1, outcome).bind_optional(2, dimse_status ? std::optional<std::int64_t>(*dimse_status) : std::nullopt);
  close.bind(3, detail).bind(4, now).bind(5, delivery_id).run();
}

// The write transaction in progress may record the attempt only while this node sends it.
void hold_delivery(Database& db, std::int64_t delivery_id, const std::string& node_id) {
  Statement held(db, "SELECT 1 FROM deliveries WHERE id = ? AND state = 'sending' AND claimed_by = ?");
  held.bind(1, delivery_id).bind(2, node_id);
  if (!held.step()) throw LostClaim("delivery " + std::to_string(delivery_id) + " is no longer held by this node");
}

}  // namespace

std::vector<Delivery> SqliteOutbox::claim_due(const std::string& destination, const std::set<std::int64_t>& held_back,
                                             int limit) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  std::vector<Delivery> claimed;
  {
    Statement query(db_, delivery_query("WHERE d.destination = ? AND d.state = 'pending' ORDER BY d.id").c_str());
    query.bind(1, destination);
    while (static_cast<int>(claimed.size()) < limit && query.step()) {
      if (held_back.count(query.integer(0))) continue;
      claimed.push_back(read_delivery(query));
    }
  }
  for (auto& d : claimed) {
    Statement claim(db_,
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = NULL, claimed_by = ? "
                    "WHERE id = ?");
    claim.bind(1, node_id_).bind(2, d.id).run();
    Statement attempt(db_, "INSERT INTO delivery_attempts (delivery_id, started_at, outcome) VALUES (?, ?, 'sending')");
    attempt.bind(1, d.id).bind(2, now).run();
    d.state = DeliveryState::sending;
    d.attempts += 1;
  }
  write.commit();
  return claimed;
}

void SqliteOutbox::record_delivered(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail) {
  record_delivered_as(delivery_id, dimse_status, detail, "");
}

void SqliteOutbox::record_delivered_as(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                                       const std::string& substitution) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  hold_delivery(db_, delivery_id, node_id_);
  close_attempt(db_, delivery_id, "delivered", dimse_status, detail, now);
  Statement update(db_, "UPDATE deliveries SET state = 'delivered', last_status = ?, finished_at = ?, substitution = ? WHERE id = ?");
  update.bind(1, attempt_status_text(dimse_status, detail.empty() ? "delivered" : detail)).bind(2, now);
  update.bind(3, substitution).bind(4, delivery_id).run();
  Statement job(db_, "SELECT o.job_id FROM deliveries d JOIN outputs o ON o.id = d.output_id WHERE d.id = ?");
  job.bind(1, delivery_id);
  if (job.step()) mark_job_delivered_if_complete(db_, job.integer(0), now);
  write.commit();
}

int SqliteOutbox::substitute_with(std::int64_t delivery_id, const std::string& carrier_kind, const std::string& substitution) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  hold_delivery(db_, delivery_id, node_id_);
  std::vector<std::int64_t> carriers;
  std::string destination;
  {
    Statement query(db_,
                    "SELECT c.id, d.destination FROM deliveries d JOIN outputs o ON o.id = d.output_id "
                    "JOIN outputs c ON c.job_id = o.job_id AND c.kind = ?2 "
                    "AND (o.source_instance_id IS NULL OR c.source_instance_id = o.source_instance_id) "
                    "WHERE d.id = ?1 ORDER BY c.id");
    query.bind(1, delivery_id).bind(2, carrier_kind);
    while (query.step()) {
      carriers.push_back(query.integer(0));
      destination = query.text(1);
    }
  }
  if (carriers.empty()) return 0;  // rolled back: nothing changed
  for (const std::int64_t output_id : carriers) {
    Statement queue(db_,
                    "INSERT INTO deliveries (output_id, destination, state, created_at) VALUES (?, ?, 'pending', ?) "
                    "ON CONFLICT (output_id, destination) DO NOTHING");
    queue.bind(1, output_id).bind(2, destination).bind(3, now).run();
  }
  close_attempt(db_, delivery_id, "permanent", std::nullopt, substitution, now);
  Statement update(db_,
                   "UPDATE deliveries SET state = 'delivered', last_status = ?, finished_at = ?, substitution = ? WHERE id = ?");
  update.bind(1, substitution).bind(2, now).bind(3, substitution).bind(4, delivery_id).run();
  write.commit();
  return static_cast<int>(carriers.size());
}

void SqliteOutbox::record_retry(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                               const std::string& next_attempt_at) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  hold_delivery(db_, delivery_id, node_id_);
  close_attempt(db_, delivery_id, "retryable", dimse_status, detail, now);
  Statement update(db_, "UPDATE deliveries SET state = 'pending', last_status = ?, next_attempt_at = ? WHERE id = ?");
  update.bind(1, attempt_status_text(dimse_status, detail)).bind(2, next_attempt_at).bind(3, delivery_id).run();
  write.commit();
}

void SqliteOutbox::record_dead(std::int64_t delivery_id, bool permanent, std::optional<int> dimse_status,
                              const std::string& detail) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  hold_delivery(db_, delivery_id, node_id_);
  close_attempt(db_, delivery_id, permanent ? "permanent" : "retryable", dimse_status, detail, now);
  Statement update(db_, "UPDATE deliveries SET state = 'dead', last_status = ?, finished_at = ? WHERE id = ?");
  update.bind(1, attempt_status_text(dimse_status, detail)).bind(2, now).bind(3, delivery_id).run();
  write.commit();
}

int SqliteOutbox::requeue_sending() {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  Statement attempts(db_,
                     "UPDATE delivery_attempts SET outcome = 'interrupted', finished_at = ?, detail = 'interrupted by a restart' "
                     "WHERE outcome = 'sending'");
  attempts.bind(1, now).run();
  Statement requeue(db_, "UPDATE deliveries SET state = 'pending', last_status = 'interrupted by a restart' WHERE state = 'sending'");
  requeue.run();
  const int changed = db_.changes();
  write.commit();
  return changed;
}

int SqliteOutbox::requeue_sending_to(const std::string& destination) {
  const std::string now = utc_now_iso();
  Transaction write(db_);
  Statement attempts(db_,
                     "UPDATE delivery_attempts SET outcome = 'interrupted', finished_at = ?1, detail = 'the database was "
                     "unreachable' WHERE outcome = 'sending' AND delivery_id IN (SELECT id FROM deliveries WHERE "
                     "state = 'sending' AND destination = ?2 AND claimed_by = ?3)");
  attempts.bind(1, now).bind(2, destination).bind(3, node_id_).run();
  Statement requeue(db_,
                    "UPDATE deliveries SET state = 'pending', last_status = 'the database was unreachable' "
                    "WHERE state = 'sending' AND destination = ? AND claimed_by = ?");
  requeue.bind(1, destination).bind(2, node_id_).run();
  const int changed = db_.changes();
  write.commit();
  return changed;
}

std::map<std::string, int> SqliteOutbox::unfinished_by_destination() {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, "SELECT destination, COUNT(*) FROM deliveries WHERE state IN ('pending', 'sending') GROUP BY destination");
  std::map<std::string, int> out;
  while (query.step()) out[query.text(0)] = static_cast<int>(query.integer(1));
  return out;
}

bool SqliteOutbox::resend(std::int64_t delivery_id) {
  Transaction write(db_);
  Statement update(db_,
                   "UPDATE deliveries SET state = 'pending', attempts = 0, created_at = ?, finished_at = NULL, "
                   "last_status = 'queued again by an admin' WHERE id = ? AND state = 'dead'");
  update.bind(1, utc_now_iso()).bind(2, delivery_id).run();
  const bool changed = db_.changes() > 0;
  write.commit();
  return changed;
}

std::set<std::string> SqliteOutbox::output_paths() {
  Transaction read(db_, Transaction::Mode::read);
  Statement query(db_, "SELECT file_path FROM outputs WHERE file_path IS NOT NULL");
  std::set<std::string> out;
  while (query.step()) out.insert(query.text(0));
  return out;
}

void queue_outputs(Database& db, std::int64_t job_id, const std::vector<Output>& outputs,
                   const std::vector<DeliveryRoute>& routes, const std::string& now) {
  for (const auto& output : outputs) {
    Statement insert(db,
                     "INSERT INTO outputs (job_id, kind, sop_class_uid, sop_instance_uid, series_instance_uid, "
                     "study_instance_uid, source_instance_id, file_path, size_bytes, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, job_id).bind(2, output.kind).bind(3, output.sop_class_uid).bind(4, output.sop_instance_uid);
    insert.bind(5, output.series_instance_uid).bind(6, output.study_instance_uid).bind_optional(7, output.source_instance_id);
    insert.bind(8, output.file_path).bind(9, output.size_bytes).bind(10, now).run();
    const std::int64_t output_id = db.last_insert_id();
    for (const auto& route : routes) {
      if (!route.takes(output.kind)) continue;
      Statement queue(db, "INSERT INTO deliveries (output_id, destination, state, created_at) VALUES (?, ?, 'pending', ?)");
      queue.bind(1, output_id).bind(2, route.destination).bind(3, now).run();
    }
  }
}

int SqliteOutbox::purge_outputs_before(const std::string& cutoff_iso) {
  // Result files go once every destination has them (dead-lettered ones stay for a re-send).
  std::vector<std::pair<std::int64_t, std::string>> outputs;
  {
    Transaction read(db_, Transaction::Mode::read);
    Statement results(db_,
                      "SELECT o.id, o.file_path FROM outputs o WHERE o.file_path IS NOT NULL AND o.created_at < ?1 "
                      "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.output_id = o.id AND d.state <> 'delivered')");
    results.bind(1, cutoff_iso);
    while (results.step()) outputs.emplace_back(results.integer(0), results.text(1));
  }
  for (const auto& [id, path] : outputs) {
    Transaction write(db_);
    Statement mark(db_, "UPDATE outputs SET file_path = NULL WHERE id = ?");
    mark.bind(1, id).run();
    write.commit();
    std::error_code ignored;
    std::filesystem::remove(path, ignored);  // after the commit: a crash in between leaves an orphan, swept at start-up
  }
  return static_cast<int>(outputs.size());
}

}  // namespace evax::storage::sqlite
