// StowIntake: STOW-RS (PS3.18 10.5, POST /dicomweb/studies[/{StudyInstanceUID}]) as another
// way in for the same StoreHandler the DICOM listener uses. A request's multipart/related body
// is streamed, part by part, into temp files (never held in memory); once the whole body has
// arrived and parsed, each part gets the SCP's own inspection (dicom_node::inspect_received_file)
// and then the handler, which makes it durable and indexed and tells the study assembler, as for
// a C-STORE. A malformed body stores nothing. The answer is the standard STOW-RS response.
// StowIntake is thread-safe (one per node, every request calls it); a StowUpload belongs to one
// request and is not.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "evax/config/node_config.h"
#include "evax/dicom_node/store_handler.h"
#include "evax/dicomweb/stow_response.h"
#include "evax/logging/audit_log.h"
#include "evax/logging/logger.h"

namespace evax::dicomweb {

struct StowRequest {
  std::string study_instance_uid;  // from the path; "" for POST /dicomweb/studies
  std::string content_type;        // the request's Content-Type
  std::string accept;              // its Accept, "" if none
  std::string client;              // the peer's address
  std::string caller;              // the bearer token's name, for the audit log
};

class StowUpload;

class StowIntake {
 public:
  // Everything passed in must outlive this object and its uploads.
  StowIntake(const config::StowSettings& settings, dicom_node::StoreHandler& handler, logging::Logger& log,
             logging::AuditLog* audit = nullptr)
      : settings_(settings), handler_(handler), log_(log), audit_(audit) {}

  // Checks what can be checked before the body is read: the content type (415), the Accept
  // header (406), the study UID in the path (400), free space (503). The upload to stream the
  // body into, or the answer that refuses the request.
  std::expected<std::unique_ptr<StowUpload>, StowResponse> open(const StowRequest& request);

  const config::StowSettings& settings() const { return settings_; }

 private:
  friend class StowUpload;
  const config::StowSettings settings_;
  dicom_node::StoreHandler& handler_;
  logging::Logger& log_;
  logging::AuditLog* const audit_;
};

class StowUpload {
 public:
  ~StowUpload();  // removes every part file that was not handed to the store handler
  StowUpload(const StowUpload&) = delete;
  StowUpload& operator=(const StowUpload&) = delete;

  // The next bytes of the body. An answer ends the request now (400 malformed, 413 too many
  // instances, 415 a part that is not application/dicom): nothing is stored.
  std::optional<StowResponse> write(std::string_view bytes);
  // The whole body has arrived: each instance inspected and stored, and the answer.
  StowResponse finish();

 private:
  friend class StowIntake;
  struct Impl;
  explicit StowUpload(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace evax::dicomweb
