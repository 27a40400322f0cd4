// DeliveryWorkers: send the outbox to the destinations. One thread per destination claims its
// due deliveries in batches, sends each batch through the destination's transport (C-STORE over
// one association, STOW-RS in one request: ObjectTransport) and records every attempt's outcome. Retryable failures wait out a capped exponential delay
// per delivery; a destination that cannot be reached at all pauses as a whole (same schedule,
// so a PACS down for hours sees one connection attempt per delay, not one per object). A
// delivery is dead-lettered when the destination refuses the object itself, or after
// max_attempts or max_age_h. A destination that refuses an object's SOP class at association
// negotiation (C-STORE) gets a compatible alternative instead where there is one: a 3D or Enhanced
// SR is sent as Comprehensive SR (dicom_node's SCU), and a Parametric Map's delivery is replaced by the
// job's Secondary Capture of the same image, which carries the same heatmap (queued for the
// destination if it did not take SCs); the delivery records the substitution. Delays run on the monotonic clock; the age is the database's
// wall clock since the output was made (it must survive restarts).
// Owns its threads: start() starts them, stop() / the destructor join them after the batch in
// hand is recorded.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "evax/config/node_config.h"
#include "evax/dicom_node/storage_scu.h"
#include "evax/logging/audit_log.h"
#include "evax/logging/logger.h"
#include "evax/pipeline/clock.h"
#include "evax/pipeline/object_transport.h"
#include "evax/storage/storage_backend.h"

namespace evax::pipeline {

struct DeliverySettings {
  config::DeliverySettings retry;
  std::vector<config::Destination> destinations;
  dicom_node::ScuSettings scu;  // for the C-STORE transport when no factory is given
  int batch_size = 16;          // objects per association or request
};

class DeliveryWorkers {
 public:
  // Everything passed in must outlive this object; with `audit`, every send is recorded there.
  // `transports` makes each destination's transport (its thread's own); without it every
  // destination gets C-STORE with settings.scu.
  DeliveryWorkers(storage::StorageBackend& storage, DeliverySettings settings, const Clock& clock, logging::Logger& log,
                  logging::AuditLog* audit = nullptr, TransportFactory transports = {});
  ~DeliveryWorkers();
  DeliveryWorkers(const DeliveryWorkers&) = delete;
  DeliveryWorkers& operator=(const DeliveryWorkers&) = delete;

  void start();
  void stop();
  // New outputs are queued: idle senders look at once.
  void wake();

  // The delay after `attempt` failed attempts (1, 2, ...): initial * 2^(attempt-1), capped.
  static std::chrono::seconds retry_delay(const config::DeliverySettings& settings, int attempt);

 private:
  struct Sender;  // one destination's state, touched only by its thread
  void run(const config::Destination& destination);
  // Sends one claimed batch and records the outcomes; returns whether the destination answered.
  bool deliver(storage::Outbox& outbox, const config::Destination& destination, ObjectTransport& transport,
               Sender& sender);
  // Sleeps until `deadline`, a wake-up or stop; false when stopping.
  bool wait_until(Clock::time_point deadline, std::uint64_t seen_generation);

  storage::StorageBackend& storage_;
  const DeliverySettings settings_;
  const Clock& clock_;
  logging::Logger& log_;
  logging::AuditLog* const audit_;
  const TransportFactory transports_;
  std::mutex mutex_;  // guards stopping_ and wake_generation_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::uint64_t wake_generation_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace evax::pipeline
