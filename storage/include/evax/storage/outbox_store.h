// OutboxStore: the delivery queue in SQLite. Each output goes to each destination as one
// delivery: pending until a sender claims it (sending, with a new attempt row), then delivered,
// back to pending for a later attempt, or dead-lettered. Every attempt keeps its outcome and
// DIMSE status. After a crash, deliveries left sending go back to pending: the only case in
// which an object can be sent twice (with the same SOP Instance UID, so the PACS keeps one).
// Thread-safe; each OutboxStore has its own connection.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "evax/storage/file_store.h"
#include "evax/storage/records.h"

namespace evax::storage {

class Database;

// One destination's deliveries as the admin sees them.
struct DestinationSummary {
  std::string name;
  std::map<std::string, std::int64_t> deliveries;  // by state: pending, sending, delivered, dead
  std::optional<DeliveryAttempt> last_attempt;     // the newest finished attempt
};

class OutboxStore {
 public:
  // `files` must outlive this object. Throws on database failure.
  explicit OutboxStore(const FileStore& files);
  ~OutboxStore();
  OutboxStore(const OutboxStore&) = delete;
  OutboxStore& operator=(const OutboxStore&) = delete;

  // Up to `limit` pending deliveries to `destination` (oldest first, not in `held_back`), now
  // sending, each with a new attempt row.
  std::vector<Delivery> claim_due(const std::string& destination, const std::set<std::int64_t>& held_back, int limit);

  // The attempt in progress ended. `dimse_status` is the C-STORE response status, if one came.
  void record_delivered(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail);
  void record_retry(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                    const std::string& next_attempt_at);
  // `permanent`: the destination refused the object itself (else: attempts or age ran out).
  void record_dead(std::int64_t delivery_id, bool permanent, std::optional<int> dimse_status, const std::string& detail);

  // After a crash: sending deliveries back to pending, their open attempts marked interrupted.
  int requeue_sending();

  // Pending and sending deliveries per destination name (start-up warns about names that are
  // no longer configured: nothing sends to them).
  std::map<std::string, int> unfinished_by_destination();

  // A dead-lettered delivery back to pending with a fresh age and attempt count.
  bool resend(std::int64_t delivery_id);

  std::optional<Delivery> delivery(std::int64_t delivery_id);
  std::optional<Output> output(std::int64_t output_id);
  // Every destination that has deliveries, by name.
  std::vector<DestinationSummary> destination_summaries();

  std::vector<Delivery> deliveries_of_job(std::int64_t job_id);
  std::vector<Output> outputs_of_job(std::int64_t job_id);
  std::vector<DeliveryAttempt> attempts_of(std::int64_t delivery_id);

  // Every output file the database refers to (the start-up sweep keeps these).
  std::set<std::string> output_paths();

 private:
  std::unique_ptr<Database> db_;
};

}  // namespace evax::storage
