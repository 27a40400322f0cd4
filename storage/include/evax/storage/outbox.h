// Outbox: the delivery queue. Each output goes to each destination as one delivery: pending
// until a sender claims it (sending, with a new attempt row), then delivered, back to pending for
// a later attempt, or dead-lettered. Every attempt keeps its outcome and DIMSE status. After a
// crash, deliveries left sending go back to pending: the only case in which an object can be
// sent twice (with the same SOP Instance UID, so the PACS keeps one).
// Owns the tables outputs, deliveries and delivery_attempts. Thread-safe: calls from several
// threads are serialised on the Outbox's connection (open one per thread to run them in parallel).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "evax/storage/errors.h"
#include "evax/storage/records.h"

namespace evax::storage {

class Outbox {
 public:
  virtual ~Outbox() = default;

  // Up to `limit` pending deliveries to `destination` (oldest first, not in `held_back`), now
  // sending, each with a new attempt row.
  virtual std::vector<Delivery> claim_due(const std::string& destination, const std::set<std::int64_t>& held_back,
                                          int limit) = 0;

  // The attempt in progress ended (only while this node holds the delivery; otherwise nothing
  // changes and LostClaim is thrown: another node sends it again, with the same SOP Instance UID). `dimse_status` is the C-STORE response status, if one came.
  // The last delivery of a job's last output marks the job delivered.
  virtual void record_delivered(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail) = 0;
  virtual void record_retry(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                            const std::string& next_attempt_at) = 0;
  // The destination refused the output's SOP class at association negotiation and took a
  // compatible alternative instead: delivered, with `substitution` saying what was sent.
  virtual void record_delivered_as(std::int64_t delivery_id, std::optional<int> dimse_status, const std::string& detail,
                                   const std::string& substitution) = 0;
  // The destination refused the output's SOP class at association negotiation, and the job's
  // outputs of `carrier_kind` (for the same source image, when the output has one) carry its
  // content: they are queued for this destination unless they already are, and this delivery
  // ends delivered (nothing more to send) with `substitution` recorded. Returns how many carriers
  // there are; 0: nothing changed (the caller dead-letters it).
  virtual int substitute_with(std::int64_t delivery_id, const std::string& carrier_kind, const std::string& substitution) = 0;
  // `permanent`: the destination refused the object itself (else: attempts or age ran out).
  virtual void record_dead(std::int64_t delivery_id, bool permanent, std::optional<int> dimse_status,
                           const std::string& detail) = 0;

  // After a crash: this node's sending deliveries back to pending, their open attempts marked
  // interrupted.
  virtual int requeue_sending() = 0;

  // This node's sending deliveries to `destination` back to pending (their sender lost the
  // database mid-batch and does not know what it recorded). Returns how many.
  virtual int requeue_sending_to(const std::string& destination) = 0;

  // The same for the sending deliveries of nodes silent for longer than `lease_seconds`.
  virtual int take_over_from_silent_nodes(int lease_seconds) = 0;

  // Pending and sending deliveries per destination name (start-up warns about names that are
  // no longer configured: nothing sends to them).
  virtual std::map<std::string, int> unfinished_by_destination() = 0;

  // A dead-lettered delivery back to pending with a fresh age and attempt count.
  virtual bool resend(std::int64_t delivery_id) = 0;

  // Every output file the database refers to (the start-up sweep keeps these).
  virtual std::set<std::string> output_paths() = 0;

  // Deletes the result files made before `cutoff_iso` that every destination has (dead-lettered
  // ones stay for a re-send). Returns how many.
  virtual int purge_outputs_before(const std::string& cutoff_iso) = 0;
};

}  // namespace evax::storage
