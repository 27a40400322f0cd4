// StudyAssembler: turns received instances into analysis jobs. A study becomes (or extends) a
// queued job once `quiet_period` has passed without a new instance; an instance arriving after
// its study was analysed starts a new analysis that supersedes the earlier one, but only when
// the intake rules would analyse at least one of the late arrivals: a lateral, an object that is
// not CR/DX or the node's own output is recorded (with its reason, by the job queue) and logged,
// and the earlier results stand.
// On a shared database (a cluster) the quiet period is measured on the database's clock from
// the study's last instance, whichever node received it: every node asks the database for the
// quiet studies and the first to enqueue one makes its job; a study whose receiving node died
// is still analysed. On one node it runs on this node's monotonic clock (wall-clock jumps do
// not matter).
// Owns one thread, started by start() and joined by stop() / the destructor.
// Thread-safe: note_arrival() from any association thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "evax/dicom_node/intake_rules.h"
#include "evax/logging/logger.h"
#include "evax/pipeline/clock.h"
#include "evax/storage/storage_backend.h"

namespace evax::pipeline {

class StudyAssembler {
 public:
  enum class QuietClock { this_node, database };
  // `clock` and `log` must outlive this object; `on_job_queued` is called (from the
  // assembler's thread) after each job is queued.
  // `intake` must be the rules the analysis applies.
  StudyAssembler(storage::StorageBackend& storage, std::chrono::milliseconds quiet_period, dicom_node::IntakeSettings intake,
                 const Clock& clock, logging::Logger& log, std::function<void()> on_job_queued,
                 QuietClock quiet_clock = QuietClock::this_node);
  ~StudyAssembler();
  StudyAssembler(const StudyAssembler&) = delete;
  StudyAssembler& operator=(const StudyAssembler&) = delete;

  // Studies left waiting by a previous run count as having just received an instance.
  void start();
  void stop();

  void note_arrival(std::int64_t study_id);

  // One pass of the loop (the thread calls it; tests call it directly with a fake clock).
  // Returns how many jobs were queued.
  int queue_quiet_studies();

 private:
  void run();
  // The studies to enqueue now: those whose quiet period ended.
  std::vector<storage::PendingStudy> quiet_studies();
  // Enqueues them; returns how many jobs were queued. Throws with what was not queued put back.
  int enqueue(const std::vector<storage::PendingStudy>& studies);

  std::unique_ptr<storage::JobQueue> jobs_;
  const std::chrono::milliseconds quiet_period_;
  const dicom_node::IntakeSettings intake_;
  const QuietClock quiet_clock_;
  const Clock& clock_;
  logging::Logger& log_;
  std::function<void()> on_job_queued_;
  std::mutex mutex_;  // guards last_arrival_ and stopping_
  std::condition_variable wake_;
  std::map<std::int64_t, Clock::time_point> last_arrival_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace evax::pipeline
