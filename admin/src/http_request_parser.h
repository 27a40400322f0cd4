// The admin server's HTTP/1.x request parsing (RFC 9112), strict and bounded: a scanner that
// finds the end of a request head in the bytes received so far (refusing a bad request line as
// soon as it has arrived, and any head over the limits below while it grows), then the head
// parsed into plain values, what it says about the body and the connection, and the request
// target split into a decoded path and query. A failure is a ProtocolError carrying the status
// and the JSON error the client gets. No sockets and no Poco: pure functions over bytes.
// Internal to the admin module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evax::admin {

// Fixed limits (README, "Admin API": limits).
inline constexpr std::size_t kMaxRequestLineBytes = 8192;  // method, target and version: else 414
inline constexpr std::size_t kMaxMethodBytes = 32;         // else 400
inline constexpr std::size_t kMaxHeaderLineBytes = 8192;   // one header field line: else 431
inline constexpr std::size_t kMaxHeaderFields = 100;       // else 431
inline constexpr std::size_t kMaxHeadBytes = 65536;        // request line and all fields: else 431

struct ProtocolError {
  int status = 400;
  std::string code;     // the JSON error's code: "bad_request", "uri_too_long", ...
  std::string message;
};

struct RequestLine {
  std::string method;
  std::string target;     // as sent
  int minor_version = 1;  // HTTP/1.<minor>; other majors are refused (505)
};

struct RequestHead {
  RequestLine line;
  std::vector<std::pair<std::string, std::string>> fields;  // names lower-cased, values trimmed
  // Every value of a field, in order.
  std::vector<std::string> values(std::string_view lower_case_name) const;
};

// Finds where a request head ends, over calls with the same (growing) buffer of one request.
class RequestHeadScanner {
 public:
  // The head's length including its blank line once it has arrived; nullopt while incomplete;
  // the error as soon as the bytes so far break the request line's syntax or a limit.
  std::expected<std::optional<std::size_t>, ProtocolError> scan(std::string_view buffer);

 private:
  std::size_t next_ = 0;        // where to resume looking for a line end
  std::size_t line_start_ = 0;  // where the line being received starts
  std::size_t lines_ = 0;       // complete lines so far, the request line included
};

// Bytes of empty lines (CRLF or LF) before a request line, which RFC 9112 says to ignore.
std::size_t leading_empty_lines(std::string_view buffer);

// One request line, without its line end.
std::expected<RequestLine, ProtocolError> parse_request_line(std::string_view line);

// A whole head as found by RequestHeadScanner (lines end in CRLF or LF).
std::expected<RequestHead, ProtocolError> parse_request_head(std::string_view head);

// What the head says about its body and the connection.
struct RequestFraming {
  std::int64_t content_length = 0;  // no body: 0
  bool expect_continue = false;     // "Expect: 100-continue" with a body to come
  bool keep_alive = true;           // HTTP/1.1 without "Connection: close"; never for HTTP/1.0
};

// Content-Length (digits only, one field, at most max_body_bytes: else 413 before any body
// is read), Transfer-Encoding (refused: 411 for chunked, 400 otherwise), Host (exactly one
// for HTTP/1.1), Expect, Connection; one Authorization at most.
std::expected<RequestFraming, ProtocolError> request_framing(const RequestHead& head, std::int64_t max_body_bytes);

struct RequestTarget {
  std::string path;                                        // percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order; '+' stays '+'
};

// Origin form ("/path?query") or absolute form ("http://host/path?query").
std::expected<RequestTarget, ProtocolError> parse_request_target(std::string_view target);

}  // namespace evax::admin
