// Poco's HTTP server around AdminApi: requests become HttpRequest, responses go back with
// their status, type and headers. Limits: max_connections threads, max_queued waiting
// connections (more are closed), timeout_s per socket read or write, max_request_bytes per
// body, keep-alive bounded.
#include "evax/admin/admin_server.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <algorithm>
#include <mutex>
#include <string_view>

#include "api.h"

namespace evax::admin {
namespace {

class ApiHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  ApiHandler(AdminApi& api, const config::HttpSettings& settings) : api_(api), settings_(settings) {}

  void handleRequest(Poco::Net::HTTPServerRequest& in, Poco::Net::HTTPServerResponse& out) override {
    HttpResponse response;
    try {
      response = respond(in);
    } catch (const std::exception&) {
      response = error_response(400, "bad_request", "the request could not be read");
    }
    out.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(response.status));
    if (!out_keep_alive_) out.setKeepAlive(false);
    out.setContentType(response.content_type);
    for (const auto& [name, value] : response.headers) out.set(name, value);
    out.setContentLength64(static_cast<Poco::Int64>(response.body.size()));
    if (in.getMethod() == "HEAD") {
      out.send();
      return;
    }
    out.send().write(response.body.data(), static_cast<std::streamsize>(response.body.size()));
  }

 private:
  HttpResponse respond(Poco::Net::HTTPServerRequest& in) {
    // Bodies are never needed (actions carry their target in the path). Small ones are drained
    // so keep-alive stays in step; a larger one is refused, after reading (within the socket
    // timeout) at most 16 times the limit so that the client can read the answer.
    const auto declared = in.getContentLength64();
    const bool chunked = declared == Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH && in.getChunkedTransferEncoding();
    const std::int64_t limit = settings_.max_request_bytes;
    if (declared > 0 || chunked) {
      std::vector<char> sink(8192);
      std::int64_t read = 0;
      while (read <= 16 * limit && in.stream().read(sink.data(), static_cast<std::streamsize>(sink.size())).gcount() > 0)
        read += in.stream().gcount();
      if (read > limit) {
        out_keep_alive_ = false;
        return error_response(413, "payload_too_large", "request bodies are limited to " + std::to_string(limit) + " bytes");
      }
    }
    HttpRequest request;
    request.method = in.getMethod();
    const Poco::URI uri(in.getURI());
    request.path = uri.getPath();
    // In order and all of them (a repeated one is refused); "+" stays "+" (since=...+02:00),
    // which Poco's getQueryParameters() would turn into a space.
    std::string_view raw = uri.getRawQuery();
    while (!raw.empty()) {
      const std::string_view piece = raw.substr(0, raw.find('&'));
      raw.remove_prefix(std::min(raw.size(), piece.size() + 1));
      if (piece.empty()) continue;
      const std::size_t equals = piece.find('=');
      std::string key, value;
      Poco::URI::decode(std::string(piece.substr(0, equals)), key);
      if (equals != std::string_view::npos) Poco::URI::decode(std::string(piece.substr(equals + 1)), value);
      request.query.emplace_back(std::move(key), std::move(value));
    }
    request.authorization = in.get("Authorization", "");
    request.client = in.clientAddress().host().toString();
    return api_.handle(request);
  }

  AdminApi& api_;
  const config::HttpSettings& settings_;
  bool out_keep_alive_ = true;  // false once a request was refused before its body was read
};

class HandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  HandlerFactory(AdminApi& api, const config::HttpSettings& settings) : api_(api), settings_(settings) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new ApiHandler(api_, settings_);
  }

 private:
  AdminApi& api_;
  const config::HttpSettings& settings_;
};

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
  Poco::ThreadPool threads;
  std::unique_ptr<Poco::Net::HTTPServer> server;
  std::once_flag stopped;

  // Threads get the default stack: a CUDA LibTorch's libraries take ~200 KiB of static TLS
  // out of every thread's stack, so a small one (256 KiB) made pthread_create fail.
  explicit Impl(AdminContext c)
      : context(std::move(c)), api(context), threads(1, context.config.http.max_connections, 60, 0) {}
};

AdminServer::AdminServer(AdminContext context) : impl_(std::make_unique<Impl>(std::move(context))) {
  const config::HttpSettings& http = impl_->context.config.http;
  try {
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(http.max_connections);
    params->setMaxQueued(http.max_queued);
    params->setTimeout(Poco::Timespan(http.timeout_s, 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setMaxKeepAliveRequests(100);
    params->setServerName("evax-node");
    impl_->server = std::make_unique<Poco::Net::HTTPServer>(new HandlerFactory(impl_->api, http), impl_->threads,
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
    if (impl_->server) impl_->server->stopAll(true);
    impl_->threads.joinAll();
  });
}

}  // namespace evax::admin
