// RetrievalLog: studies the node pulls from a PACS (POST /api/v1/studies/retrieve, sweeps) and
// the sweeps that queued them, with each one's state and progress. The retriever's threads
// claim queued retrievals and record how each ended; the admin API adds and reads them.
// Owns the tables retrievals and sweeps. Each object has one connection; it serialises its
// callers, so the admin API's threads may share one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "evax/results/records.h"

namespace evax::storage {

// queued -> running -> done | failed. A running retrieval found at start (the node stopped
// during it) is queued again: C-MOVE and C-GET of the same study are safe to repeat, the
// instances already held are acknowledged without being stored twice.
struct Retrieval {
  std::int64_t id = 0;
  std::string source;              // sources[].name
  std::string method;              // "c-move" | "c-get"
  std::string study_instance_uid;
  std::string accession_number;    // as asked for or as the PACS answered ("" if none)
  std::optional<std::int64_t> sweep_id;
  std::string state = "queued";    // queued | running | done | failed
  int attempts = 0;
  int completed = 0, failed = 0, warning = 0;  // the PACS's sub-operations (instances)
  std::string detail;              // why failed, or a warning
  std::string requested_by;        // the token's name, or "sweep"
  std::string created_at, started_at, finished_at;
};

// The matching keys a sweep sent, and what it found.
struct Sweep {
  std::int64_t id = 0;
  std::string source;
  std::string modalities;          // "CR\DX"
  std::string body_part;
  std::string date_from, date_to;  // YYYYMMDD, "" = open
  int max_studies = 0;
  int found = 0;                   // studies the C-FIND matched
  int already_analysed = 0;        // of those, analysed with the running model already
  int queued = 0;                  // retrievals queued
  std::string requested_by;
  std::string created_at;
  // From its retrievals: how many are waiting, running, done and failed, and the instances.
  int waiting = 0, running = 0, done = 0, failed = 0;
  int instances_retrieved = 0, instances_failed = 0;
  std::string state;               // "running" while any retrieval is waiting or running, else "done"
};

// A new sweep and the studies it queues, written in one transaction.
struct NewSweep {
  Sweep sweep;                      // id, created_at and the counts from retrievals are ignored
  std::vector<Retrieval> retrievals;  // each queued
};

class RetrievalLog {
 public:
  virtual ~RetrievalLog() = default;

  virtual std::int64_t add_retrieval(const Retrieval& retrieval) = 0;
  // The sweep's id; its retrievals carry it.
  virtual std::int64_t add_sweep(const NewSweep& sweep) = 0;

  // The oldest queued retrieval, now running (attempts + 1), or none.
  virtual std::optional<Retrieval> claim_next() = 0;
  virtual void finish(std::int64_t retrieval_id, bool ok, int completed, int failed, int warning, const std::string& detail) = 0;
  // At start: retrievals left running are queued again. Their number.
  virtual int requeue_running() = 0;

  virtual std::optional<Retrieval> retrieval(std::int64_t id) = 0;
  virtual std::vector<Retrieval> recent_retrievals(int limit) = 0;
  virtual std::vector<Retrieval> retrievals_of_sweep(std::int64_t sweep_id) = 0;
  virtual std::optional<Sweep> sweep(std::int64_t id) = 0;
  virtual std::vector<Sweep> recent_sweeps(int limit) = 0;

  // Of `study_instance_uids`, those with a finished (done) analysis by `model`: a job of the
  // study done with an image analysed by the same model, task and checkpoint digest.
  virtual std::vector<std::string> analysed_with(const std::vector<std::string>& study_instance_uids,
                                                 const results::Provenance& model) = 0;
};

}  // namespace evax::storage
