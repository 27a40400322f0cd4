#include "http_connection.h"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Timestamp.h>

#include <chrono>

#include "http_request_parser.h"

namespace evax::admin {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// After a closing answer, what the client still sends is read and dropped for this long (or
// this much), so that closing does not reset the connection before the answer is read.
constexpr auto kLingerTime = 2s;
constexpr std::size_t kLingerBytes = 1 << 20;
// How often a connection waiting for bytes looks at the stop flag.
constexpr auto kStopCheckInterval = 200ms;

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

class AdminConnection final : public Poco::Net::TCPServerConnection {
 public:
  AdminConnection(const Poco::Net::StreamSocket& socket, AdminApi& api, const config::HttpSettings& settings,
                  const std::atomic<bool>& stopping)
      : Poco::Net::TCPServerConnection(socket), api_(api), settings_(settings), stopping_(stopping) {}

  void run() override {
    try {
      // Each blocking step below (a TLS handshake step, a write) is bounded by timeout_s too.
      socket().setReceiveTimeout(Poco::Timespan(settings_.timeout_s, 0));
      socket().setSendTimeout(Poco::Timespan(settings_.timeout_s, 0));
      client_ = socket().peerAddress().host().toString();
      for (int served = 0; served < kMaxRequestsPerConnection && !stopping_; ++served)
        if (!serve_one(served == 0, served + 1 == kMaxRequestsPerConnection)) break;
    } catch (...) {
      // The socket failed under us: nothing more can be said to this client.
    }
  }

 private:
  enum class Read { data, eof, timeout, stopped, failed };

  // Appends what arrives before `deadline` to buffer_.
  Read read_more(Clock::time_point deadline) {
    for (;;) {
      if (stopping_) return Read::stopped;
      const auto now = Clock::now();
      if (now >= deadline) return Read::timeout;
      const auto slice = std::min<Clock::duration>(deadline - now, kStopCheckInterval);
      try {
        // A TLS socket may hold decrypted bytes that poll() cannot see.
        const bool ready = socket().available() > 0 ||
                           socket().poll(Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(slice).count()),
                                         Poco::Net::Socket::SELECT_READ);
        if (!ready) continue;
        char chunk[16384];
        const int n = socket().receiveBytes(chunk, sizeof chunk);
        if (n <= 0) return Read::eof;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return Read::data;
      } catch (const Poco::TimeoutException&) {
        return Read::timeout;
      } catch (const Poco::Exception&) {
        return Read::failed;
      }
    }
  }

  bool write(const std::string& bytes) {
    try {
      std::size_t sent = 0;
      while (sent < bytes.size()) {
        const int n = socket().sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
      }
      return true;
    } catch (const Poco::Exception&) {
      return false;
    }
  }

  // Every answer leaves through here.
  void answer(const HttpResponse& response, int minor_version, bool keep_alive, bool head_only) {
    const int minor = minor_version == 0 ? 0 : 1;
    std::string out = "HTTP/1." + std::to_string(minor) + " " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
    out += "Date: " + Poco::DateTimeFormatter::format(Poco::Timestamp(), Poco::DateTimeFormat::HTTP_FORMAT) + "\r\n";
    out += "Server: evax-node\r\n";
    out += "Content-Type: " + response.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
    if (!keep_alive) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head_only) out += response.body;
    write(out);
  }

  // A request that cannot be served: the JSON error, then the connection closes.
  bool refuse(const ProtocolError& error, int minor_version) {
    answer(error_response(error.status, error.code, error.message), minor_version, false, false);
    linger();
    return false;
  }

  void linger() {
    try {
      socket().shutdownSend();
    } catch (const Poco::Exception&) {
      return;
    }
    const auto until = Clock::now() + kLingerTime;
    for (std::size_t dropped = 0; dropped < kLingerBytes;) {
      buffer_.clear();
      if (read_more(until) != Read::data) break;
      dropped += buffer_.size();
    }
  }

  // The client's HTTP minor version once its request line is in, else 1.
  int minor_version_so_far() const {
    const std::size_t end = buffer_.find('\n');
    if (end == std::string::npos) return 1;
    auto line = parse_request_line(std::string_view(buffer_).substr(0, end > 0 && buffer_[end - 1] == '\r' ? end - 1 : end));
    return line ? line->minor_version : 1;
  }

  // Reads, serves and answers one request; false when the connection is to close.
  bool serve_one(bool first, bool last) {
    // The idle wait for a request's first byte (a new connection's, or a kept-alive one's).
    const auto idle_deadline = Clock::now() + (first ? std::chrono::seconds(settings_.timeout_s) : std::chrono::seconds(kKeepAliveIdleSeconds));
    for (;;) {
      buffer_.erase(0, leading_empty_lines(buffer_));
      if (!buffer_.empty() && buffer_ != "\r") break;
      if (read_more(idle_deadline) != Read::data) return false;  // nothing was asked: close quietly
    }

    // The whole request, head and body, must arrive within timeout_s.
    const std::string timeout = std::to_string(settings_.timeout_s);
    const auto deadline = Clock::now() + std::chrono::seconds(settings_.timeout_s);
    RequestHeadScanner scanner;
    std::size_t head_length = 0;
    for (;;) {
      auto scanned = scanner.scan(buffer_);
      if (!scanned) return refuse(scanned.error(), minor_version_so_far());
      if (*scanned) {
        head_length = **scanned;
        break;
      }
      switch (read_more(deadline)) {
        case Read::data: continue;
        case Read::timeout:
          return refuse({408, "request_timeout", "the request head did not arrive within http.timeout_s (" + timeout + " s)"}, minor_version_so_far());
        case Read::eof: return refuse({400, "bad_request", "the connection ended inside the request head"}, minor_version_so_far());
        default: return false;
      }
    }
    const auto head = parse_request_head(std::string_view(buffer_).substr(0, head_length));
    if (!head) return refuse(head.error(), minor_version_so_far());
    const int minor = head->line.minor_version;
    const auto framing = request_framing(*head, settings_.max_request_bytes);
    if (!framing) return refuse(framing.error(), minor);  // a body over the limit: 413 before reading it
    auto target = parse_request_target(head->line.target);
    if (!target) return refuse(target.error(), minor);
    buffer_.erase(0, head_length);

    // Nothing runs until all of the body has arrived: a request cut short is no request.
    const auto length = static_cast<std::size_t>(framing->content_length);
    if (framing->expect_continue && buffer_.size() < length && !write("HTTP/1.1 100 Continue\r\n\r\n")) return false;
    while (buffer_.size() < length) {
      switch (read_more(deadline)) {
        case Read::data: continue;
        case Read::timeout:
          return refuse({408, "request_timeout", "the request body did not arrive within http.timeout_s (" + timeout + " s)"}, minor);
        case Read::eof:
          return refuse({400, "bad_request", "the connection ended after " + std::to_string(buffer_.size()) + " of the " +
                                                 std::to_string(length) + " body bytes that Content-Length declared"},
                        minor);
        default: return false;
      }
    }
    HttpRequest request;
    request.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    request.method = head->line.method;
    request.path = std::move(target->path);
    request.query = std::move(target->query);
    const auto authorization = head->values("authorization");
    request.authorization = authorization.empty() ? "" : authorization.front();
    request.client = client_;
    HttpResponse response;
    try {
      response = api_.handle(request);
    } catch (const std::exception&) {
      response = error_response(500, "internal", "the request failed inside the node");
    }
    const bool keep_alive = framing->keep_alive && !last && !stopping_;
    answer(response, minor, keep_alive, request.method == "HEAD");
    return keep_alive;
  }

  AdminApi& api_;
  const config::HttpSettings& settings_;
  const std::atomic<bool>& stopping_;
  std::string client_;
  std::string buffer_;  // received and not yet consumed (a pipelined request may follow)
};

}  // namespace

Poco::Net::TCPServerConnection* AdminConnectionFactory::createConnection(const Poco::Net::StreamSocket& socket) {
  return new AdminConnection(socket, api_, settings_, stopping_);
}

}  // namespace evax::admin
