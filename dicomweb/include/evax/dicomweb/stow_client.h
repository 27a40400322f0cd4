// StowClient: stores DICOM files in a DICOMweb service with STOW-RS (PS3.18 10.5): one POST of
// multipart/related; type="application/dicom" to {url}/studies/{StudyInstanceUID} per study,
// with bearer or basic authentication and TLS (trusted certificates, optional client
// certificate), and tells per instance whether it was stored, may be sent again later, or was
// refused for good:
// - no HTTP answer (connection refused or dropped, timeout, TLS failure): retryable, and the
//   service counts as not answering;
// - HTTP 408, 429, 5xx: retryable; 400, 401, 403, 404, 409, 413, 415 and any other 4xx or 3xx:
//   permanent (the same request would be refused again);
// - 200, 202 (and 409 where the body lists the instance): the response body (DICOM JSON or
//   XML) decides per instance: ReferencedSOPSequence: stored; FailedSOPSequence: its
//   FailureReason, classified as a C-STORE status (0xA7xx out of resources: retryable; 0xA9xx,
//   0xCxxx, 0x0122, 0x0124: permanent; others retryable). An instance a 200 answer does not
//   list was stored (200 means all were); one a 202 answer does not list is retryable.
// Secrets never appear in a detail or a log line. Not thread-safe: one client per sender thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evax/config/node_config.h"

namespace evax::dicomweb {

struct StowInstance {
  std::string path;  // a DICOM Part 10 file
  std::string sop_class_uid;
  std::string sop_instance_uid;
};

enum class StowOutcome { stored, retryable, permanent };

struct StowInstanceResult {
  StowOutcome outcome = StowOutcome::retryable;
  std::optional<int> failure_reason;  // FailureReason (0008,1197) when the body gave one
  std::string detail;                 // readable: "HTTP 503 Service Unavailable", "failure reason 0xC122"
};

struct StowResult {
  bool answered = false;  // an HTTP response came back
  int http_status = 0;
  std::vector<StowInstanceResult> instances;  // one per instance, in order
};

// The per-instance outcomes of one STOW-RS answer (pure: no network); exposed for tests.
// `content_type` picks the body's parser (…json or …xml); an unparseable body is treated as
// no body, with the reason in each detail.
std::vector<StowInstanceResult> interpret_stow_response(int http_status, const std::string& reason,
                                                        const std::string& content_type, const std::string& body,
                                                        const std::vector<StowInstance>& instances);

// The base URL without credentials or query, for logs and the audit: "https://pacs:8443/dicom-web".
std::string redacted_url(const std::string& url);

class StowClient {
 public:
  // `destination` is a validated kind "dicomweb" destination (url, tls, auth, timeout_s);
  // `connect_timeout_s` bounds making the connection.
  StowClient(const config::Destination& destination, int connect_timeout_s);
  ~StowClient();
  StowClient(const StowClient&) = delete;
  StowClient& operator=(const StowClient&) = delete;

  // POSTs `instances` (all of study `study_instance_uid`) in one request.
  StowResult store(const std::string& study_instance_uid, const std::vector<StowInstance>& instances);

  std::string address() const;

 private:
  struct Impl;  // Poco's session and TLS context stay behind this
  std::unique_ptr<Impl> impl_;
};

// Whether a client TLS setup can be made from the destination's tls block: "" when it can,
// else why not (checked at start-up, so a bad path is a config error, not a retry loop).
std::string check_stow_tls(const config::Destination& destination);

}  // namespace evax::dicomweb
