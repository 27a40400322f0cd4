// StorageScp: the node's DICOM listener (DCMTK). Verification and Storage for CR and DX (for
// presentation and for processing), the transfer syntaxes DCMTK can decode (no JPEG 2000),
// optional TLS. It checks the called AE title, the calling AE title and peer address against
// the allow-list, and refuses associations beyond the limit; ACSE and DIMSE timeouts free the
// slots of idle or stalled peers. Each received dataset is written, exactly as received, to a
// file the StoreHandler names, parsed, and handed to the handler, whose answer is the
// C-STORE status.
//
// Threads, all owned here and joined by stop() or the destructor: the connection gate's
// thread (accepts connections and holds them, thread-free, until their association request has
// arrived) and max_associations + 2 session threads, each serving one association at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "evax/config/node_config.h"
#include "evax/dicom_node/store_handler.h"
#include "evax/dicom_node/study_priority.h"
#include "evax/logging/audit_log.h"
#include "evax/logging/logger.h"

namespace evax::dicom_node {

class StorageScp {
 public:
  // Binds the port and starts listening; throws std::runtime_error if it cannot (port taken,
  // unreadable TLS key). `handler`, `log` and `audit` must outlive this object; with `audit`,
  // every association accepted or refused is recorded there. `priority` sets each received
  // instance's InstanceAttributes::priority.
  StorageScp(const config::DicomSettings& settings, StoreHandler& handler, logging::Logger& log,
             logging::AuditLog* audit = nullptr, PriorityRules priority = {});
  ~StorageScp();
  StorageScp(const StorageScp&) = delete;
  StorageScp& operator=(const StorageScp&) = delete;

  // Stops accepting, lets associations in progress finish (each is bounded by the DIMSE
  // timeout), joins every thread. Idempotent.
  void stop();

  struct Stats {
    std::uint64_t associations_accepted = 0;
    std::uint64_t associations_refused = 0;
    std::uint64_t instances_received = 0;
    std::uint64_t bytes_received = 0;
    int active_associations = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sets DCMTK's own logging to errors only (its debug output would print dataset contents,
// patient names included) and turns off reverse DNS for peer addresses. Call once in main.
void configure_dcmtk_globals();

}  // namespace evax::dicom_node
