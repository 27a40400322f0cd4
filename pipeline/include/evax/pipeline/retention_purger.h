// RetentionPurger: deletes received files once they are older than the retention period and
// their study has no pending work, and result files of that age that every destination has. Owns one thread (every purge_interval); joined on stop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "evax/logging/logger.h"
#include <memory>

#include "evax/storage/storage_backend.h"

namespace evax::pipeline {

class RetentionPurger {
 public:
  // retention 0 disables purging. `log` must outlive this object; the purger opens its own
  // stores from `storage`.
  RetentionPurger(storage::StorageBackend& storage, std::chrono::hours retention, std::chrono::seconds interval,
                  logging::Logger& log);
  ~RetentionPurger();
  RetentionPurger(const RetentionPurger&) = delete;
  RetentionPurger& operator=(const RetentionPurger&) = delete;

  void start();
  void stop();
  int purge_now();

 private:
  void run();
  const std::unique_ptr<storage::InstanceIndex> instances_;
  const std::unique_ptr<storage::Outbox> outbox_;
  const std::chrono::hours retention_;
  const std::chrono::seconds interval_;
  logging::Logger& log_;
  std::mutex mutex_;  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace evax::pipeline
