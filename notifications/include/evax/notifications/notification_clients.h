// Sending a study's notification to the RIS: an HL7 v2 message over MLLP (waiting for its ACK)
// and a FHIR Bundle to a FHIR server over HTTP(S). Each send is one attempt and its outcome,
// told apart the way the outbox needs: sent, worth retrying, or refused for good. Socket and
// Poco types stay inside this module. Stateless functions; thread-safe.
//
// MLLP (HL7 v2 over TCP, framed 0x0B ... 0x1C 0x0D): the ACK's MSA-1 decides
//   AA / CA          sent
//   AE / CE          retryable (the receiver had an error processing it; it may succeed later)
//   AR / CR          permanent (the receiver rejects the message itself)
//   no connection, a dropped connection, no ACK within ack_timeout_s, an ACK that is not HL7 or
//   acknowledges another control id: retryable.
// FHIR (as STOW-RS): 2xx sent; 408, 429, 5xx and connection errors or timeouts retryable; any
// other 4xx (and 3xx) permanent.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace evax::notifications {

enum class Outcome { sent, retryable, permanent };

struct SendResult {
  Outcome outcome = Outcome::retryable;
  std::string detail;              // what happened, for the attempt record (no patient data)
  std::optional<int> http_status;  // FHIR: the server's status; none for MLLP or no answer
  std::string ack_code;            // MLLP: MSA-1 of the ACK ("" when none came)
};

struct MllpTarget {
  std::string host;
  int port = 2575;
  int connect_timeout_s = 10;
  int ack_timeout_s = 30;
};

// Sends `message` (segments ended by CR; its MSH-10 is the control id the ACK must echo) and
// waits for the ACK.
SendResult send_mllp(const MllpTarget& target, std::string_view message);

struct FhirTarget {
  std::string base_url;      // http(s)://host[:port]/path of the FHIR server's base
  std::string bearer_token;  // "" = no Authorization header
  bool transaction = true;   // one transaction Bundle POSTed to the base; else each resource POSTed
  int timeout_s = 30;
};

// Sends a transaction Bundle (reporting::build_fhir_bundle): as itself, or resource by resource
// (each entry POSTed to base/<type> with its If-None-Exist, the urn:uuid references between
// them rewritten to the ids the server gave in its Location headers).
SendResult send_fhir(const FhirTarget& target, std::string_view bundle_json);

// The outcome an HTTP status means for a FHIR send.
Outcome classify_http_status(int status);

}  // namespace evax::notifications
