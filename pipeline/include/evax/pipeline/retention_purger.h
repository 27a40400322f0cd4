// RetentionPurger: deletes received files once they are older than the retention period and
// their study has no pending work. Owns one thread (every purge_interval); joined on stop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "evax/logging/logger.h"
#include "evax/storage/instance_store.h"

namespace evax::pipeline {

class RetentionPurger {
 public:
  // retention 0 disables purging. `store` and `log` must outlive this object.
  RetentionPurger(storage::InstanceStore& store, std::chrono::hours retention, std::chrono::seconds interval,
                  logging::Logger& log);
  ~RetentionPurger();
  RetentionPurger(const RetentionPurger&) = delete;
  RetentionPurger& operator=(const RetentionPurger&) = delete;

  void start();
  void stop();
  int purge_now();

 private:
  void run();
  storage::InstanceStore& store_;
  const std::chrono::hours retention_;
  const std::chrono::seconds interval_;
  logging::Logger& log_;
  std::mutex mutex_;  // guards stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace evax::pipeline
