#include "evax/pipeline/node_heartbeat.h"

namespace evax::pipeline {

NodeHeartbeat::NodeHeartbeat(storage::StorageBackend& storage, storage::NodeAnnouncement self, std::chrono::seconds interval,
                             std::chrono::seconds lease, logging::Logger& log, std::function<void()> on_work_taken_over)
    : storage_(storage),
      self_(std::move(self)),
      interval_(interval),
      lease_(lease),
      log_(log),
      on_work_taken_over_(std::move(on_work_taken_over)) {}

NodeHeartbeat::~NodeHeartbeat() { stop(); }

void NodeHeartbeat::start() {
  // The first heartbeat before any worker claims work: a node that dies right after its first
  // claim is already known, so its claims can be taken over.
  try {
    registry_ = storage_.open_node_registry();
    registry_->heartbeat(self_);
  } catch (const std::exception& e) {
    log_.error("cluster", "heartbeat-failed", e.what());
    registry_.reset();
  }
  thread_ = std::thread([this] { run(); });
}

void NodeHeartbeat::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int NodeHeartbeat::beat() {
  if (!registry_) registry_ = storage_.open_node_registry();
  if (!jobs_) jobs_ = storage_.open_job_queue();
  if (!outbox_) outbox_ = storage_.open_outbox();
  registry_->heartbeat(self_);
  const int lease_s = static_cast<int>(lease_.count());
  const int jobs = jobs_->take_over_from_silent_nodes(lease_s);
  const int deliveries = outbox_->take_over_from_silent_nodes(lease_s);
  if (jobs + deliveries > 0) {
    log_.warn("cluster", "work-taken-over", "a node stopped answering: its unfinished work is queued again",
              {{"jobs", std::to_string(jobs)}, {"deliveries", std::to_string(deliveries)}});
    if (on_work_taken_over_) on_work_taken_over_();
  }
  return jobs + deliveries;
}

void NodeHeartbeat::run() {
  bool failing = false;
  for (;;) {
    try {
      beat();
      if (failing) log_.info("cluster", "heartbeat-restored", "the database answers again");
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) log_.error("cluster", "heartbeat-failed", e.what());  // once per outage, not every tick
      failing = true;
      registry_.reset();  // reopened (reconnected) next round
      jobs_.reset();
      outbox_.reset();
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
  }
}

}  // namespace evax::pipeline
