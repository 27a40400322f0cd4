// The admin server: Poco's TCPServer (bounded threads and queue) with the node's own HTTP
// connection handler (http_connection.h) around AdminApi, on a plain or TLS socket. Limits:
// max_connections threads, max_queued waiting connections (more are closed), timeout_s for a
// whole request and for each write, max_request_bytes per body, keep-alive bounded.
#include "evax/admin/admin_server.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/ThreadPool.h>

#include <atomic>
#include <mutex>

#include "api.h"
#include "http_connection.h"

namespace evax::admin {
namespace {

void initialise_ssl_once() {
  static std::once_flag once;
  std::call_once(once, [] { Poco::Net::initializeSSL(); });
}

Poco::Net::ServerSocket listening_socket(const config::HttpSettings& http) {
  const Poco::Net::SocketAddress address(http.listen_address, static_cast<Poco::UInt16>(http.port));
  if (!http.tls) return Poco::Net::ServerSocket(address, 64);
  initialise_ssl_once();
  // TLS 1.2 and later with Poco's default cipher list; no client certificates.
  Poco::Net::Context::Ptr context = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE, http.tls->key, http.tls->certificate, "",
                                                           Poco::Net::Context::VERIFY_NONE, 9, false,
                                                           "ALL:!ADH:!LOW:!EXP:!MD5:!RC4:@STRENGTH");
  context->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3 | Poco::Net::Context::PROTO_TLSV1 |
                            Poco::Net::Context::PROTO_TLSV1_1);
  return Poco::Net::SecureServerSocket(address, 64, context);
}

}  // namespace

struct AdminServer::Impl {
  AdminContext context;
  AdminApi api;
  std::atomic<bool> stopping{false};
  Poco::ThreadPool threads;
  std::unique_ptr<Poco::Net::TCPServer> server;
  std::once_flag stopped;

  // Threads get the default stack: a CUDA LibTorch's libraries take ~200 KiB of static TLS
  // out of every thread's stack, so a small one (256 KiB) made pthread_create fail.
  explicit Impl(AdminContext c)
      : context(std::move(c)), api(context), threads(1, context.config.http.max_connections, 60, 0) {}
};

AdminServer::AdminServer(AdminContext context) : impl_(std::make_unique<Impl>(std::move(context))) {
  const config::HttpSettings& http = impl_->context.config.http;
  try {
    auto* params = new Poco::Net::TCPServerParams;
    params->setMaxThreads(http.max_connections);
    params->setMaxQueued(http.max_queued);
    params->setThreadIdleTime(Poco::Timespan(60, 0));
    impl_->server = std::make_unique<Poco::Net::TCPServer>(new AdminConnectionFactory(impl_->api, http, impl_->stopping), impl_->threads,
                                                           listening_socket(http), params);
    impl_->server->start();
  } catch (const Poco::Exception& e) {
    throw std::runtime_error("admin HTTP server on " + http.listen_address + ":" + std::to_string(http.port) + ": " + e.displayText());
  }
  impl_->context.log.info("admin", "listening", "admin API and status page ready",
                          {{"address", http.listen_address}, {"port", std::to_string(http.port)}, {"tls", http.tls ? "true" : "false"},
                           {"tokens", std::to_string(http.tokens.size())}});
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::stop() {
  std::call_once(impl_->stopped, [this] {
    impl_->stopping = true;  // connections close within a fraction of a second
    if (impl_->server) impl_->server->stop();
    impl_->threads.joinAll();
  });
}

}  // namespace evax::admin
