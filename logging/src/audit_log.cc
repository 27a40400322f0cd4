#include "evax/logging/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "json_string.h"

namespace evax::logging {

AuditLog::AuditLog(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) throw std::runtime_error("cannot open the audit log " + path + ": " + std::strerror(errno));
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::record(std::string_view event, std::string_view peer, std::string_view outcome, const Fields& fields) {
  std::string line = "{\"time\":";
  append_json_string(line, utc_now_iso());
  for (const auto& [key, value] : {std::pair<std::string_view, std::string_view>{"event", event}, {"peer", peer}, {"outcome", outcome}}) {
    line += ",\"";
    line += key;
    line += "\":";
    append_json_string(line, value);
  }
  append_json_fields(line, fields);
  line += "}\n";
  std::lock_guard lock(mutex_);
  // O_APPEND: one write per line keeps lines whole even with another writer on the file.
  for (std::size_t written = 0; written < line.size();) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the audit log must never stop the node; the file's gap is the record
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace evax::logging
