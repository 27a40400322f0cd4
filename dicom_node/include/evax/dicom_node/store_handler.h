// StoreHandler: the one seam between the storage SCP and whatever keeps what it receives.
// The SCP writes each incoming dataset, exactly as received, into a file the handler names,
// then hands the handler that file with the attributes it parsed; the handler's answer is the
// C-STORE status. Implementations must be thread-safe: every association calls them.
#pragma once

#include <cstdint>
#include <string>

#include "evax/storage/records.h"

namespace evax::dicom_node {

enum class StoreStatus {
  success,             // 0x0000: durable and indexed (or already held)
  out_of_resources,    // 0xA700: disk full, below the watermark or database unavailable; nothing kept
  cannot_understand,   // 0xC000: the dataset cannot be parsed or lacks what it must have
  processing_failure,  // 0x0110: an internal error; nothing kept, the sender may retry
};

struct ReceivedFile {
  std::string temp_path;  // from new_temp_path(); the handler keeps or removes it
  storage::InstanceAttributes attributes;
  storage::Provenance from;
};

class StoreHandler {
 public:
  virtual ~StoreHandler() = default;
  // Free space check before receiving: false answers 0xA700 without writing anything.
  virtual bool has_space() = 0;
  // A fresh file path for the next incoming dataset.
  virtual std::string new_temp_path() = 0;
  virtual StoreStatus handle(const ReceivedFile& file) = 0;
};

}  // namespace evax::dicom_node
