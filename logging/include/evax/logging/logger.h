// Logger: one line per event, as text or JSON lines, to a sink (stderr in service). Every
// component gets the Logger from main. Thread-safe.
//
// Rule for callers: never pass patient names, patient ids, birth dates or accession numbers.
// Log database ids, UIDs' hashes or counts instead (tests grep the logs for a synthetic
// patient at every level).
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evax::logging {

enum class Level { trace = 0, debug, info, warn, error };

std::optional<Level> parse_level(std::string_view name);

// Wall-clock time as ISO 8601 UTC with milliseconds: 2026-11-28T12:00:00.123Z. Log lines and
// stored timestamps share this one format.
std::string iso_utc(std::chrono::system_clock::time_point time);
inline std::string utc_now_iso() { return iso_utc(std::chrono::system_clock::now()); }
std::string_view level_name(Level level);

using Fields = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  enum class Format { text, json };
  using Sink = std::function<void(const std::string& line)>;

  // Writes to stderr.
  Logger(Level level, Format format);
  // Writes to `sink` (tests capture lines this way).
  Logger(Level level, Format format, Sink sink);

  bool enabled(Level level) const { return level >= level_; }
  // component: "scp", "storage", ...; event: a short stable name ("association-refused").
  void log(Level level, std::string_view component, std::string_view event, std::string_view message,
           const Fields& fields = {});

  void debug(std::string_view component, std::string_view event, std::string_view message, const Fields& fields = {}) {
    log(Level::debug, component, event, message, fields);
  }
  void info(std::string_view component, std::string_view event, std::string_view message, const Fields& fields = {}) {
    log(Level::info, component, event, message, fields);
  }
  void warn(std::string_view component, std::string_view event, std::string_view message, const Fields& fields = {}) {
    log(Level::warn, component, event, message, fields);
  }
  void error(std::string_view component, std::string_view event, std::string_view message, const Fields& fields = {}) {
    log(Level::error, component, event, message, fields);
  }

 private:
  const Level level_;
  const Format format_;
  Sink sink_;
  std::mutex mutex_;  // guards sink_ calls, so lines never interleave
};

}  // namespace evax::logging
