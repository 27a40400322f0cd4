// NodeHeartbeat: keeps this node known as alive to the others on the database, and takes over
// the work of nodes that went silent. Every `interval` it records a heartbeat, then hands the
// running jobs and sending deliveries of nodes silent past `lease` back to the queues (for any
// node, this one included, to claim) and wakes the local workers and senders. A failed round
// (the database unreachable) is logged and retried at the next tick.
// Owns one thread, started by start() and joined by stop() / the destructor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "evax/logging/logger.h"
#include "evax/storage/storage_backend.h"

namespace evax::pipeline {

class NodeHeartbeat {
 public:
  // `log` must outlive this object; `on_work_taken_over` is called (from the heartbeat thread)
  // after work of a silent node went back to the queues.
  NodeHeartbeat(storage::StorageBackend& storage, storage::NodeAnnouncement self, std::chrono::seconds interval,
                std::chrono::seconds lease, logging::Logger& log, std::function<void()> on_work_taken_over);
  ~NodeHeartbeat();
  NodeHeartbeat(const NodeHeartbeat&) = delete;
  NodeHeartbeat& operator=(const NodeHeartbeat&) = delete;

  // Records the first heartbeat now (serve() starts this before the workers), then beats on
  // the thread.
  void start();
  void stop();

  // One round (the thread calls it; tests call it directly). Returns the jobs and deliveries
  // taken over. Throws when the database cannot be reached.
  int beat();

 private:
  void run();

  storage::StorageBackend& storage_;
  const storage::NodeAnnouncement self_;
  const std::chrono::seconds interval_;
  const std::chrono::seconds lease_;
  logging::Logger& log_;
  std::function<void()> on_work_taken_over_;
  std::unique_ptr<storage::NodeRegistry> registry_;  // opened by the first round (the database may be down at start)
  std::unique_ptr<storage::JobQueue> jobs_;
  std::unique_ptr<storage::Outbox> outbox_;
  std::mutex mutex_;  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace evax::pipeline
