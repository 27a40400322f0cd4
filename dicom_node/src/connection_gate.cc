#include "connection_gate.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace evax::dicom_node {
namespace {

constexpr std::size_t kMaxRequestPdu = 1 << 20;  // DCMTK's own limit for A-ASSOCIATE-RQ PDUs

std::string peer_of(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "unknown";
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&address)->sin_addr, text, sizeof text);
  else
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr, text, sizeof text);
  return text;
}

}  // namespace

ConnectionGate::ConnectionGate(int port, int max_pending, std::chrono::seconds request_timeout, bool tls, logging::Logger& log)
    : max_pending_(max_pending), request_timeout_(request_timeout), tls_(tls), log_(log) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int on = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 512) != 0) {
    const std::string why = std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("cannot listen on DICOM port " + std::to_string(port) + ": " + why);
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
}

ConnectionGate::~ConnectionGate() {
  stop();
  ::close(epoll_fd_);
}

void ConnectionGate::start() { thread_ = std::thread([this] { run(); }); }

void ConnectionGate::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  for (const auto& [fd, pending] : pending_) ::close(fd);
  pending_.clear();
  ::close(listen_fd_);
  std::lock_guard lock(mutex_);
  for (int fd : ready_) ::close(fd);
  ready_.clear();
  ready_changed_.notify_all();
}

std::optional<int> ConnectionGate::next_ready() {
  std::unique_lock lock(mutex_);
  ready_changed_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
  if (stopping_) return std::nullopt;
  const int fd = ready_.front();
  ready_.pop_front();
  return fd;
}

void ConnectionGate::drop(int fd, const char* event, const std::string& why) {
  auto it = pending_.find(fd);
  log_.debug("scp", event, why, {{"peer", it != pending_.end() ? it->second.peer : peer_of(fd)}});
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  if (it != pending_.end()) pending_.erase(it);
}

void ConnectionGate::accept_all() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: accepted everything that was waiting
    if (static_cast<int>(pending_.size()) >= max_pending_) {
      // Full: the connection that has waited longest goes. A real sender's request arrives in
      // milliseconds, so the oldest waiting one is the likeliest to be a stalled peer.
      auto oldest = std::min_element(pending_.begin(), pending_.end(),
                                     [](const auto& a, const auto& b) { return a.second.deadline < b.second.deadline; });
      // Under a flood this happens per connection: one warning per 10 s, with the count.
      ++evicted_;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_eviction_warning_ >= std::chrono::seconds(10)) {
        log_.warn("scp", "too-many-pending-connections", "waiting room full: closing the connections that waited longest",
                  {{"peer", oldest->second.peer}, {"evicted_since_last_warning", std::to_string(evicted_)}});
        last_eviction_warning_ = now;
        evicted_ = 0;
      }
      drop(oldest->first, "connection-evicted", "evicted from a full waiting room");
    }
    // DICOM exchanges small PDUs (a C-STORE-RSP) that Nagle's algorithm would hold back
    // until a delayed ACK, ~40 ms per instance; DCMTK leaves it on unless told otherwise.
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    pending_[fd] = {std::chrono::steady_clock::now() + request_timeout_, peer_of(fd)};
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    check(fd);  // the request may already be there
  }
}

void ConnectionGate::check(int fd) {
  unsigned char header[6];
  const ssize_t got = ::recv(fd, header, sizeof header, MSG_PEEK);
  if (got == 0) return drop(fd, "connection-closed", "peer closed before sending an association request");
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return drop(fd, "connection-error", std::strerror(errno));
  }
  bool complete = tls_;  // a TLS peer starts with its handshake; DCMTK takes it from there
  if (!tls_) {
    if (got < static_cast<ssize_t>(sizeof header)) return;
    if (header[0] != 0x01) return drop(fd, "not-an-association-request", "the first PDU is not an A-ASSOCIATE-RQ");
    const std::size_t length = (std::size_t{header[2]} << 24) | (std::size_t{header[3]} << 16) |
                               (std::size_t{header[4]} << 8) | std::size_t{header[5]};
    if (length > kMaxRequestPdu) return drop(fd, "association-request-too-large", "A-ASSOCIATE-RQ larger than 1 MiB");
    std::vector<unsigned char> whole(length + sizeof header);
    const ssize_t buffered = ::recv(fd, whole.data(), whole.size(), MSG_PEEK);
    complete = buffered == static_cast<ssize_t>(whole.size());
  }
  if (!complete) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  pending_.erase(fd);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);  // DCMTK works on blocking sockets
  std::lock_guard lock(mutex_);
  ready_.push_back(fd);
  ready_changed_.notify_one();
}

void ConnectionGate::run() {
  std::vector<epoll_event> events(128);
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    const int count = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < count; ++i) {
      if (events[i].data.fd == listen_fd_) accept_all();
      else if (pending_.count(events[i].data.fd)) check(events[i].data.fd);
    }
    const auto now = std::chrono::steady_clock::now();
    std::vector<int> expired;
    for (const auto& [fd, pending] : pending_)
      if (pending.deadline <= now) expired.push_back(fd);
    for (int fd : expired) drop(fd, "association-request-timeout", "no complete association request within the ACSE timeout");
  }
}

}  // namespace evax::dicom_node
