// AuditLog: who did what to the node, one JSON line per event, appended to its own file:
// associations (accepted and refused), stores, sends, and admin actions, each with time, peer
// and outcome. Separate from the operational log so it can be kept and shipped on its own
// terms. It carries UIDs and peers but no patient names or ids either. Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "evax/logging/logger.h"  // Fields

namespace evax::logging {

class AuditLog {
 public:
  // Opens `path` for appending (creating it, mode 0640); throws std::runtime_error naming the
  // path when it cannot.
  explicit AuditLog(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // {"time": ..., "event": ..., "peer": ..., "outcome": ..., <fields>}. `event`: association,
  // store, send, admin, auth; `peer`: "AE@address" for DICOM, the client address for HTTP.
  void record(std::string_view event, std::string_view peer, std::string_view outcome, const Fields& fields = {});

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  int fd_ = -1;
  std::mutex mutex_;  // one line at a time
};

}  // namespace evax::logging
