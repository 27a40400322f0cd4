// The admin server's own connection handler, in place of Poco's HTTPServerConnection (which
// answers parse errors with a bare 400 and echoes the client's version): it reads each request
// with http_request_parser's limits, within http.timeout_s for the whole request, runs nothing
// until the request and its whole declared body have arrived, hands it to AdminApi and writes
// every answer, protocol errors included, in one place: the API's JSON error body with an
// "HTTP/1.1 <code> <reason>" status line (HTTP/1.0 for a 1.0 client). Works over a plain or a
// TLS socket (Poco's secure socket does the handshake on the first read). Internal.
#pragma once

#include <Poco/Net/TCPServerConnectionFactory.h>

#include <atomic>

#include "api.h"

namespace evax::admin {

// Keep-alive: an idle connection waits this long for its next request, and serves at most
// this many.
inline constexpr int kKeepAliveIdleSeconds = 5;
inline constexpr int kMaxRequestsPerConnection = 100;

class AdminConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
 public:
  // All three must outlive the factory and its connections; `stopping` makes every connection
  // close within a fraction of a second (between requests, or while one waits for bytes).
  AdminConnectionFactory(AdminApi& api, const config::HttpSettings& settings, const std::atomic<bool>& stopping)
      : api_(api), settings_(settings), stopping_(stopping) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override;

 private:
  AdminApi& api_;
  const config::HttpSettings& settings_;
  const std::atomic<bool>& stopping_;
};

}  // namespace evax::admin
