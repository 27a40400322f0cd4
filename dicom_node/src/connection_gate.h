// ConnectionGate: the node's listening socket and the waiting room in front of DCMTK. It
// accepts TCP connections and holds them, without a thread each, until the peer has sent its
// whole A-ASSOCIATE-RQ PDU (or, with TLS, its first bytes); only then does a session thread
// hand the connection to DCMTK. Peers that send nothing, or too little, within the ACSE
// timeout are closed here, so idle or stalled sockets never occupy a session thread and a
// legitimate sender is served at once. When the waiting room is full, the connection that has
// waited longest is closed to make room. Internal to dicom_node.
// Owns one thread (start() / stop()); next_ready() is safe from any number of threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "evax/logging/logger.h"

namespace evax::dicom_node {

class ConnectionGate {
 public:
  // Binds 0.0.0.0:port and listens. Throws std::runtime_error if it cannot.
  ConnectionGate(int port, int max_pending, std::chrono::seconds request_timeout, bool tls, logging::Logger& log);
  ~ConnectionGate();
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  int listen_socket() const { return listen_fd_; }
  void start();
  // Closes the listener and every connection not yet handed out; next_ready() returns nullopt.
  void stop();

  // A connected socket (blocking mode) whose association request is buffered, or nullopt once
  // the gate has stopped.
  std::optional<int> next_ready();

 private:
  struct Pending {
    std::chrono::steady_clock::time_point deadline;
    std::string peer;
  };

  void run();
  void accept_all();
  // Whether `fd`'s request has fully arrived; drops the connection if it never can.
  void check(int fd);
  void drop(int fd, const char* event, const std::string& why);

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  const int max_pending_;
  const std::chrono::seconds request_timeout_;
  const bool tls_;
  logging::Logger& log_;
  std::map<int, Pending> pending_;  // pending_, evicted_, last_eviction_warning_: gate thread only
  std::uint64_t evicted_ = 0;
  std::chrono::steady_clock::time_point last_eviction_warning_{};
  std::mutex mutex_;                // guards ready_ and stopping_
  std::condition_variable ready_changed_;
  std::deque<int> ready_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace evax::dicom_node
