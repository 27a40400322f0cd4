// Raw HTTP over a loopback socket for tests that assert the exact bytes a server answers:
// send chosen bytes (malformed ones too), read until the server closes or a deadline, and
// split the first answer into status line, headers and body.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace evax::testing {

struct RawAnswer {
  std::string bytes;          // everything received
  bool closed = false;        // the server closed the connection (EOF or reset) before the deadline
  bool connected = false;
  std::chrono::milliseconds elapsed{0};  // until close or the deadline
  // The first answer, split ("" / empty when none arrived).
  std::string status_line;    // without CRLF
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;           // Content-Length bytes after the head (or the rest)

  std::string header(const std::string& lower_case_name) const {
    const auto it = headers.find(lower_case_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct RawOptions {
  std::chrono::milliseconds deadline{10000};  // stop reading then
  bool shut_write = false;                    // half-close after sending (the client's EOF)
  bool stop_after_first_answer = false;       // return once one whole answer arrived
};

// A TCP connection to 127.0.0.1:port, or -1 when it is refused; the caller closes it.
int connect_loopback(int port);

// Connects to 127.0.0.1:port, sends `request`, reads.
RawAnswer raw_http(int port, const std::string& request, const RawOptions& options = {});

}  // namespace evax::testing
