#include "evax/pipeline/retention_purger.h"

namespace evax::pipeline {

RetentionPurger::RetentionPurger(storage::StorageBackend& storage, std::chrono::hours retention,
                                 std::chrono::seconds interval, logging::Logger& log)
    : instances_(storage.open_instance_index()),
      outbox_(storage.open_outbox()), retention_(retention), interval_(interval), log_(log) {}

RetentionPurger::~RetentionPurger() { stop(); }

void RetentionPurger::start() {
  if (retention_.count() == 0) return;
  thread_ = std::thread([this] { run(); });
}

void RetentionPurger::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int RetentionPurger::purge_now() {
  // Received-at times are wall clock (they are shown to people); a jump only shifts when a
  // file becomes old enough, never what is eligible.
  const auto cutoff = std::chrono::system_clock::now() - retention_;
  const std::string cutoff_iso = logging::iso_utc(cutoff);
  const int purged = instances_->purge_instances_before(cutoff_iso) + outbox_->purge_outputs_before(cutoff_iso);
  if (purged > 0) log_.info("retention", "purged", "received files past retention deleted", {{"files", std::to_string(purged)}});
  return purged;
}

void RetentionPurger::run() {
  for (;;) {
    try {
      purge_now();
    } catch (const std::exception& e) {
      log_.error("retention", "purge-failed", e.what());
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
  }
}

}  // namespace evax::pipeline
