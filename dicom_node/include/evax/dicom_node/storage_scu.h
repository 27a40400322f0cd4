// Sends stored DICOM files to a destination with C-STORE (DCMTK's DcmSCU): one association
// per batch, one presentation context per SOP class (explicit and implicit little endian, so
// the file is sent as stored or converted by DCMTK). Each file's outcome says whether sending
// it again can help: connection failures, refused associations, timeouts and 0xA7xx
// ("out of resources") are retryable; 0xA9xx, 0xCxxx and a SOP class the peer does not accept
// are permanent. A 3D or Enhanced SR whose SOP class the peer refuses at negotiation is sent as
// Comprehensive SR instead (proposed alongside; same content, a SOP Instance UID derived from
// the original) when that is accepted and the content has no 3D coordinates.
// Stateless; call from any thread (each call has its own association).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace evax::dicom_node {

struct ScuSettings {
  std::string calling_ae_title;
  int connect_timeout_s = 10;
  int dimse_timeout_s = 60;
  int max_pdu = 65536;
};

// TLS with the BCP 195 profile, as the listener uses.
struct PeerTls {
  std::vector<std::string> trusted_certificates;  // the peer's certificate must chain to one
  std::string certificate;                        // the node's own (optional, with private_key)
  std::string private_key;
  bool verify_peer = true;
};

struct Peer {
  std::string ae_title;
  std::string host;
  int port = 104;
  std::optional<PeerTls> tls;
};

struct OutgoingFile {
  std::string path;
  std::string sop_class_uid;
  std::string sop_instance_uid;
};

enum class SendOutcome { delivered, retryable, permanent };

struct SendResult {
  SendOutcome outcome = SendOutcome::retryable;
  std::optional<int> dimse_status;  // the C-STORE response status, when one came
  std::string detail;               // readable, e.g. "association rejected: called AE title not recognized"
  // The peer accepted no presentation context for the file's SOP class (nor an alternative's).
  bool refused_sop_class = false;
  // When the peer refused the file's SOP class and got the alternative form instead: what was
  // sent, readable, and its SOP class and instance UIDs.
  std::string substitution;
  std::string sent_sop_class_uid;
  std::string sent_sop_instance_uid;
};

// What a C-STORE response status means for the object (PS3.4 B.2.3).
SendOutcome classify_store_status(int dimse_status);

// Whether a TLS setup can be made from these files (unreadable or mismatched files): "" when it
// can, else why not. Checked at start-up, so a bad path is a config error, not a retry loop.
std::string check_peer_tls(const PeerTls& tls);

// Sends `files` in one association; one result per file, in order. `on_delivered` (if set) is
// called with a file's index as soon as the peer has accepted it, within the association (so
// the caller can record it before the next one is sent).
std::vector<SendResult> send_files(const ScuSettings& settings, const Peer& peer, const std::vector<OutgoingFile>& files,
                                   const std::function<void(std::size_t, const SendResult&)>& on_delivered = {});

}  // namespace evax::dicom_node
