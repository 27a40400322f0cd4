// InstanceIndex: the ingest side of storage. store() makes a received instance durable in the
// order the node promises (temp file, fsync, rename, directory fsync, a database commit that is
// on disk) and only then reports it stored; duplicates are stored once, a known SOP Instance UID
// claimed by another study is quarantined, never merged.
// Owns the tables studies, instances and quarantine. Implementations are thread-safe: store()
// may be called from every association thread at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "evax/storage/records.h"

namespace evax::storage {

enum class StoreOutcome {
  stored,       // new instance, durable and indexed
  duplicate,    // this SOP Instance UID is already stored for this study: nothing written
  quarantined,  // this SOP Instance UID belongs to another study: kept aside, never merged
  out_of_space, // below the free-space watermark or the disk filled up: nothing kept
  unavailable,  // the database cannot be reached (connection lost, cannot open, locked past
                // the busy timeout): nothing kept; the sender should retry later
  failed,       // an I/O or database error: nothing kept
};
std::string_view outcome_name(StoreOutcome outcome);

struct StoreResult {
  StoreOutcome outcome = StoreOutcome::failed;
  std::int64_t study_id = 0;     // for stored and duplicate
  std::int64_t instance_id = 0;  // for stored and duplicate
  std::string detail;            // why, for failed / unavailable / out_of_space / quarantined
};

struct StoreRequest {
  InstanceAttributes attributes;
  Provenance from;
  // The received DICOM file, complete, in the FileStore's tmp/ area (FileStore::new_temp_path).
  // store() takes it over: it is renamed into place or removed, whatever the outcome.
  std::string temp_path;
};

class InstanceIndex {
 public:
  virtual ~InstanceIndex() = default;

  virtual StoreResult store(const StoreRequest& request) = 0;

  // What start-up cleans: files left in tmp/, and files under instances/ and outputs/ that no
  // row references (a crash between rename and commit). Never call while stores are running.
  struct Sweep {
    int temp_files = 0;
    int orphan_files = 0;
  };
  virtual Sweep sweep_at_startup() = 0;

  // Deletes the files of instances received before `cutoff_iso` whose study has no pending
  // work (every instance covered by a job, every job final, every result delivered or
  // dead-lettered). Returns how many. (Result files are the outbox's: Outbox::purge_outputs_before.)
  virtual int purge_instances_before(const std::string& cutoff_iso) = 0;

  // Whether free space is under the watermark (with `incoming_bytes` more written).
  virtual bool below_watermark(std::int64_t incoming_bytes) const = 0;
};

}  // namespace evax::storage
