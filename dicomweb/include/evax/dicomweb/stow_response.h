// The STOW-RS response (PS3.18 10.5.3): the HTTP status from what became of each instance
// (200 all stored, 202 some failed, 409 none stored), and the body listing them: the
// ReferencedSOPSequence of those stored and the FailedSOPSequence, each with its
// FailureReason, as DICOM JSON (PS3.18 F.2) or, when the Accept header asks, as the Native
// DICOM Model in XML (PS3.19 A.1). Also the plain error answers a request gets before any
// instance is looked at. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace evax::dicomweb {

struct StowResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// What became of one instance of the request. UIDs are "" where they could not be read.
struct StowInstanceOutcome {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::uint16_t failure_reason = 0;  // 0: stored; else 0xA700, 0xA900, 0xC000, 0xC122, 0x0110, 0x0122
};

enum class StowFormat { json, xml };

// The format the Accept header asks for ("" or */*: JSON); an error when it accepts neither
// application/dicom+json (or application/json) nor application/dicom+xml (answered 406).
std::expected<StowFormat, std::string> stow_response_format(std::string_view accept);

// The response for a request whose instances were each stored or refused (at least one).
StowResponse stow_response(const std::vector<StowInstanceOutcome>& instances, StowFormat format);

// A request refused as a whole (400, 406, 413, 415, 503): {"error": {"code", "message"}},
// as the admin API's errors read.
StowResponse stow_error(int status, const std::string& code, const std::string& message);

}  // namespace evax::dicomweb
