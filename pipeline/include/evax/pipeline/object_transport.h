// ObjectTransport: how the outbox hands one claimed batch to one destination. The outbox
// (DeliveryWorkers) owns the schedule: batches, backoff, pausing a destination that does not
// answer, dead-lettering, the per-attempt record. A transport only sends and says, per object,
// what happened: sent, worth retrying, or refused for good (with a readable detail and the
// protocol's own status code when there is one). One transport serves one destination and is
// used by that destination's sender thread only; it may keep a connection between batches.
// Implementations: C-STORE (make_dicom_transport, below), STOW-RS (dicomweb/); a message
// transport (HL7 MLLP, FHIR over HTTP) fits the same shape: one outbox object, one message.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evax/config/node_config.h"
#include "evax/dicom_node/storage_scu.h"
#include "evax/storage/records.h"

namespace evax::pipeline {

enum class TransportOutcome { sent, retryable, permanent };

struct ObjectResult {
  TransportOutcome outcome = TransportOutcome::retryable;
  // The protocol's status for this object when the destination gave one: the C-STORE response
  // status, the STOW-RS FailureReason; recorded with the attempt.
  std::optional<int> status;
  std::string detail;  // readable, e.g. "HTTP 503 Service Unavailable"; never a secret
  // C-STORE only: the destination accepted no presentation context for the object's SOP class
  // (the outbox then sends a carrier of the same content instead, where the job has one).
  bool refused_sop_class = false;
  // When the destination got a compatible alternative form instead: what was sent, readable,
  // and the SOP Instance UID sent.
  std::string substitution;
  std::string sent_sop_instance_uid;
};

struct BatchResult {
  std::vector<ObjectResult> objects;  // one per object of the batch, in order
  // False when the destination did not answer at all (connection refused, timed out, TLS
  // failed): the outbox pauses the destination as a whole rather than each object.
  bool answered = true;
};

class ObjectTransport {
 public:
  virtual ~ObjectTransport() = default;

  // Sends `batch` (deliveries whose outputs have a file) and returns one result per delivery.
  // `on_sent` (if set) is called with an index as soon as that object is known to be sent, so
  // the outbox records it before the next one goes (a crash then resends only the one in
  // flight); results it was called for need not be recorded again.
  virtual BatchResult send(const std::vector<storage::Delivery>& batch,
                           const std::function<void(std::size_t, const ObjectResult&)>& on_sent) = 0;

  // Where the objects go, for the audit log: "AE@host:port", a URL without credentials.
  virtual std::string address() const = 0;
};

// Makes the transport for one destination; empty when its kind is not one this factory knows.
using TransportFactory = std::function<std::unique_ptr<ObjectTransport>(const config::Destination&)>;

// How the storage SCU reaches a configured destination (TLS included).
dicom_node::Peer peer_of(const config::Destination& destination);

// C-STORE over one association per batch (dicom_node::send_files), for kind "dicom".
std::unique_ptr<ObjectTransport> make_dicom_transport(const dicom_node::ScuSettings& scu,
                                                      const config::Destination& destination);

}  // namespace evax::pipeline
