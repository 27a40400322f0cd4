// One MLLP exchange: connect, send the framed message, read one framed ACK, close. Every wait is
// bounded (poll with the time left); a half-read ACK at the deadline is no ACK.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <expected>

#include "evax/notifications/notification_clients.h"

namespace evax::notifications {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kStart = 0x0b, kEnd = 0x1c, kCr = 0x0d;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

int millis_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, millis_left(deadline));
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

// A connected non-blocking socket, or the reason there is none.
std::expected<int, std::string> connect_to(const MllpTarget& target) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(target.port);
  if (const int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return std::unexpected(std::string("cannot resolve ") + target.host + ": " + ::gai_strerror(rc));
  std::string why = "no address";
  const auto deadline = Clock::now() + std::chrono::seconds(target.connect_timeout_s);
  for (addrinfo* a = found; a; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
        (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline))) {
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error == 0) {
        ::freeaddrinfo(found);
        return fd;
      }
      why = std::strerror(error);
    } else {
      why = errno == EINPROGRESS ? "connect timed out" : std::strerror(errno);
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return std::unexpected("cannot connect to " + target.host + ":" + port + ": " + why);
}

bool send_all(int fd, const std::string& bytes, Clock::time_point deadline) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Field `index` (1-based, MSH counted as HL7 does: MSH-1 is the separator) of the segment
// starting with `name`, or "".
std::string field(const std::string& message, std::string_view name, std::size_t index) {
  std::size_t start = 0;
  while (start < message.size()) {
    std::size_t end = message.find_first_of("\r\n", start);
    if (end == std::string::npos) end = message.size();
    const std::string segment = message.substr(start, end - start);
    if (segment.rfind(std::string(name) + "|", 0) == 0) {
      std::size_t position = 0;
      const std::size_t skip = name == "MSH" ? index - 1 : index;
      for (std::size_t i = 0; i < skip && position != std::string::npos; ++i) position = segment.find('|', position + 1);
      if (position == std::string::npos) return {};
      const auto next = segment.find('|', position + 1);
      std::string value = segment.substr(position + 1, next == std::string::npos ? std::string::npos : next - position - 1);
      return value.substr(0, value.find('^'));
    }
    start = end + 1;
  }
  return {};
}

SendResult retryable(std::string detail) { return {Outcome::retryable, std::move(detail), std::nullopt, ""}; }

}  // namespace

SendResult send_mllp(const MllpTarget& target, std::string_view message) {
  const std::string text(message);
  const std::string control_id = field(text, "MSH", 10);
  auto connected = connect_to(target);
  if (!connected) return retryable(connected.error());
  Socket socket(*connected);
  const auto deadline = Clock::now() + std::chrono::seconds(target.ack_timeout_s);
  if (!send_all(socket.fd(), std::string(1, kStart) + text + kEnd + kCr, deadline))
    return retryable("the connection failed while sending the message");

  std::string received;
  for (;;) {
    const auto end = received.find(kEnd);
    if (end != std::string::npos) {
      const auto begin = received.find(kStart);
      received = received.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1));
      break;
    }
    if (received.size() > 1 << 20) return retryable("the answer is not an MLLP frame (over 1 MiB without an end)");
    if (!wait_for(socket.fd(), POLLIN, deadline))
      return retryable("no ACK within " + std::to_string(target.ack_timeout_s) + " s");
    char buffer[4096];
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof buffer, 0);
    if (n == 0) return retryable("the receiver closed the connection without an ACK");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return retryable(std::string("the connection failed before the ACK: ") + std::strerror(errno));
    }
    received.append(buffer, static_cast<std::size_t>(n));
  }
  const std::string code = field(received, "MSA", 1);
  const std::string acknowledged = field(received, "MSA", 2);
  const std::string text_message = field(received, "MSA", 3);
  if (code.empty()) return retryable("the answer has no MSA segment");
  if (acknowledged != control_id)
    return {Outcome::retryable, "the ACK acknowledges another message (MSA-2 " + acknowledged + ")", std::nullopt, code};
  const std::string detail = "ACK " + code + (text_message.empty() ? "" : ": " + text_message);
  if (code == "AA" || code == "CA") return {Outcome::sent, detail, std::nullopt, code};
  if (code == "AR" || code == "CR") return {Outcome::permanent, detail, std::nullopt, code};
  if (code == "AE" || code == "CE") return {Outcome::retryable, detail, std::nullopt, code};
  return {Outcome::retryable, "unknown acknowledgment code " + code, std::nullopt, code};
}

}  // namespace evax::notifications
