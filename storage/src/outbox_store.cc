#include "evax/storage/outbox_store.h"

#include <cstdio>

#include "database.h"
#include "output_rows.h"

namespace evax::storage {
namespace {

constexpr const char* kDeliveryColumns =
    "d.id, d.destination, d.state, d.attempts, d.last_status, d.created_at, d.next_attempt_at, d.finished_at, "
    "(julianday('now') - julianday(d.created_at)) * 86400.0";

DeliveryState parse_state(const std::string& name) {
  for (auto s : {DeliveryState::pending, DeliveryState::sending, DeliveryState::delivered, DeliveryState::dead})
    if (delivery_state_name(s) == name) return s;
  return DeliveryState::dead;
}

Delivery read_delivery(const Statement& row) {
  Delivery d;
  d.id = row.integer(0);
  d.destination = row.text(1);
  d.state = parse_state(row.text(2));
  d.attempts = static_cast<int>(row.integer(3));
  d.last_status = row.text(4);
  d.created_at = row.text(5);
  d.next_attempt_at = row.text(6);
  d.finished_at = row.text(7);
  d.age_seconds = row.real(8);
  d.output = read_output(row, 9);
  return d;
}

std::string delivery_query(const char* where_and_order) {
  return std::string("SELECT ") + kDeliveryColumns + ", " + kOutputColumns +
         " FROM deliveries d JOIN outputs o ON o.id = d.output_id " + where_and_order;
}

std::string status_text(std::optional<int> dimse_status, const std::string& detail) {
  if (!dimse_status) return detail;
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%04X", static_cast<unsigned>(*dimse_status));
  return detail.empty() ? std::string(hex) : std::string(hex) + " " + detail;
}

// Closes the delivery's open attempt with its outcome.
void close_attempt(Database& db, std::int64_t delivery_id, const char* outcome, std::optional<int> dimse_status,
                   const std::string& detail, const std::string& now) {
  Statement close(db,
                  "UPDATE delivery_attempts SET outcome = ?, dimse_status = ?, detail = ?, finished_at = ? "
                  "WHERE delivery_id = ? AND outcome = 'sending'");
  close.bind(1, outcome).bind_optional(2, dimse_status ? std::optional<std::int64_t>(*dimse_status) : std::nullopt);
  close.bind(3, detail).bind(4, now).bind(5, delivery_id).run();
}

// A job is delivered when every delivery of every output it made has been.
void mark_job_if_delivered(Database& db, std::int64_t delivery_id, const std::string& now) {
  Statement mark(db,
                 "UPDATE jobs SET delivered_at = ?1 WHERE delivered_at IS NULL AND id = "
                 "(SELECT o.job_id FROM deliveries d JOIN outputs o ON o.id = d.output_id WHERE d.id = ?2) "
                 "AND NOT EXISTS (SELECT 1 FROM deliveries d JOIN outputs o ON o.id = d.output_id "
                 "WHERE o.job_id = jobs.id AND d.state <> 'delivered')");
  mark.bind(1, now).bind(2, delivery_id).run();
}

}  // namespace

std::string_view delivery_state_name(DeliveryState state) {
  switch (state) {
    case DeliveryState::pending: return "pending";
    case DeliveryState::sending: return "sending";
    case DeliveryState::delivered: return "delivered";
    case DeliveryState::dead: return "dead";
  }
  return "dead";
}

OutboxStore::OutboxStore(const FileStore& files) : db_(std::make_unique<Database>(files.database_path())) {}
OutboxStore::~OutboxStore() = default;

std::vector<Delivery> OutboxStore::claim_due(const std::string& destination, const std::set<std::int64_t>& held_back,
                                             int limit) {
  const std::string now = utc_now_iso();
  Transaction write(*db_);
  std::vector<Delivery> claimed;
  {
    Statement query(*db_, delivery_query("WHERE d.destination = ? AND d.state = 'pending' ORDER BY d.id").c_str());
    query.bind(1, destination);
    while (static_cast<int>(claimed.size()) < limit && query.step()) {
      if (held_back.count(query.integer(0))) continue;
      claimed.push_back(read_delivery(query));
    }
  }
  for (auto& d : claimed) {
    Statement claim(*db_, "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = NULL WHERE id = ?");
    claim.bind(1, d.id).run();
    Statement attempt(*db_, "INSERT INTO delivery_attempts (delivery_id, started_at, outcome) VALUES (?, ?, 'sending')");
    attempt.bind(1, d.id).bind(2, now).run();
    d.state = DeliveryState::sending;
    d.attempts += 1;
  }
  write.commit();
  return claimed;
}

void OutboxStore::record_delivered(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail) {
  const std::string now = utc_now_iso();
  Transaction write(*db_);
  close_attempt(*db_, delivery_id, "delivered", dimse_status, detail, now);
  Statement update(*db_, "UPDATE deliveries SET state = 'delivered', last_status = ?, finished_at = ? WHERE id = ?");
  update.bind(1, status_text(dimse_status, detail.empty() ? "delivered" : detail)).bind(2, now).bind(3, delivery_id).run();
  mark_job_if_delivered(*db_, delivery_id, now);
  write.commit();
}

void OutboxStore::record_retry(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                               const std::string& next_attempt_at) {
  const std::string now = utc_now_iso();
  Transaction write(*db_);
  close_attempt(*db_, delivery_id, "retryable", dimse_status, detail, now);
  Statement update(*db_, "UPDATE deliveries SET state = 'pending', last_status = ?, next_attempt_at = ? WHERE id = ?");
  update.bind(1, status_text(dimse_status, detail)).bind(2, next_attempt_at).bind(3, delivery_id).run();
  write.commit();
}

void OutboxStore::record_dead(std::int64_t delivery_id, bool permanent, std::optional<int> dimse_status,
                              const std::string& detail) {
  const std::string now = utc_now_iso();
  Transaction write(*db_);
  close_attempt(*db_, delivery_id, permanent ? "permanent" : "retryable", dimse_status, detail, now);
  Statement update(*db_, "UPDATE deliveries SET state = 'dead', last_status = ?, finished_at = ? WHERE id = ?");
  update.bind(1, status_text(dimse_status, detail)).bind(2, now).bind(3, delivery_id).run();
  write.commit();
}

int OutboxStore::requeue_sending() {
  const std::string now = utc_now_iso();
  Transaction write(*db_);
  Statement attempts(*db_,
                     "UPDATE delivery_attempts SET outcome = 'interrupted', finished_at = ?, detail = 'interrupted by a restart' "
                     "WHERE outcome = 'sending'");
  attempts.bind(1, now).run();
  Statement requeue(*db_, "UPDATE deliveries SET state = 'pending', last_status = 'interrupted by a restart' WHERE state = 'sending'");
  requeue.run();
  const int changed = sqlite3_changes(db_->handle());
  write.commit();
  return changed;
}

std::map<std::string, int> OutboxStore::unfinished_by_destination() {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, "SELECT destination, COUNT(*) FROM deliveries WHERE state IN ('pending', 'sending') GROUP BY destination");
  std::map<std::string, int> out;
  while (query.step()) out[query.text(0)] = static_cast<int>(query.integer(1));
  return out;
}

bool OutboxStore::resend(std::int64_t delivery_id) {
  Transaction write(*db_);
  Statement update(*db_,
                   "UPDATE deliveries SET state = 'pending', attempts = 0, created_at = ?, finished_at = NULL, "
                   "last_status = 'queued again by an admin' WHERE id = ? AND state = 'dead'");
  update.bind(1, utc_now_iso()).bind(2, delivery_id).run();
  const bool changed = sqlite3_changes(db_->handle()) > 0;
  write.commit();
  return changed;
}

std::vector<Delivery> OutboxStore::deliveries_of_job(std::int64_t job_id) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, delivery_query("WHERE o.job_id = ? ORDER BY o.id, d.destination").c_str());
  query.bind(1, job_id);
  std::vector<Delivery> out;
  while (query.step()) out.push_back(read_delivery(query));
  return out;
}

std::vector<Output> OutboxStore::outputs_of_job(std::int64_t job_id) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, (std::string("SELECT ") + kOutputColumns + " FROM outputs o WHERE o.job_id = ? ORDER BY o.id").c_str());
  query.bind(1, job_id);
  std::vector<Output> out;
  while (query.step()) out.push_back(read_output(query, 0));
  return out;
}

std::vector<DeliveryAttempt> OutboxStore::attempts_of(std::int64_t delivery_id) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_,
                  "SELECT id, delivery_id, started_at, finished_at, outcome, dimse_status, detail FROM delivery_attempts "
                  "WHERE delivery_id = ? ORDER BY id");
  query.bind(1, delivery_id);
  std::vector<DeliveryAttempt> out;
  while (query.step())
    out.push_back({query.integer(0), query.integer(1), query.text(2), query.text(3), query.text(4),
                   query.is_null(5) ? std::nullopt : std::optional(static_cast<int>(query.integer(5))), query.text(6)});
  return out;
}

std::set<std::string> OutboxStore::output_paths() {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, "SELECT file_path FROM outputs WHERE file_path IS NOT NULL");
  std::set<std::string> out;
  while (query.step()) out.insert(query.text(0));
  return out;
}

std::optional<Delivery> OutboxStore::delivery(std::int64_t delivery_id) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, delivery_query("WHERE d.id = ?").c_str());
  query.bind(1, delivery_id);
  if (!query.step()) return std::nullopt;
  return read_delivery(query);
}

std::optional<Output> OutboxStore::output(std::int64_t output_id) {
  Transaction read(*db_, Transaction::Mode::read);
  Statement query(*db_, (std::string("SELECT ") + kOutputColumns + " FROM outputs o WHERE o.id = ?").c_str());
  query.bind(1, output_id);
  if (!query.step()) return std::nullopt;
  return read_output(query, 0);
}

std::vector<DestinationSummary> OutboxStore::destination_summaries() {
  Transaction read(*db_, Transaction::Mode::read);
  std::map<std::string, DestinationSummary> by_name;
  Statement counts(*db_, "SELECT destination, state, COUNT(*) FROM deliveries GROUP BY destination, state");
  while (counts.step()) {
    DestinationSummary& summary = by_name[counts.text(0)];
    summary.name = counts.text(0);
    summary.deliveries[counts.text(1)] = counts.integer(2);
  }
  for (auto& [name, summary] : by_name) {
    Statement last(*db_,
                   "SELECT a.id, a.delivery_id, a.started_at, a.finished_at, a.outcome, a.dimse_status, a.detail "
                   "FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
                   "WHERE d.destination = ? AND a.finished_at IS NOT NULL ORDER BY a.id DESC LIMIT 1");
    last.bind(1, name);
    if (last.step()) {
      DeliveryAttempt attempt{last.integer(0), last.integer(1), last.text(2), last.text(3), last.text(4), std::nullopt, last.text(6)};
      if (!last.is_null(5)) attempt.dimse_status = static_cast<int>(last.integer(5));
      summary.last_attempt = attempt;
    }
  }
  std::vector<DestinationSummary> out;
  for (auto& [name, summary] : by_name) out.push_back(std::move(summary));
  return out;
}

}  // namespace evax::storage
