#include "evax/logging/logger.h"

#include <chrono>
#include <ctime>
#include <iostream>

#include "json_string.h"

namespace evax::logging {

std::string iso_utc(std::chrono::system_clock::time_point now) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return buffer;
}

namespace {

// Text values with spaces or quotes are quoted so that a line stays one parseable record.
// Anything a terminal could take as a control sequence, or that is not UTF-8, is escaped.
void append_text_value(std::string& out, std::string_view value) {
  std::string plain;
  append_escaped(plain, value, false);
  if (!value.empty() && plain == value && value.find_first_of(" \"=") == std::string_view::npos) {
    out += value;
    return;
  }
  append_json_string(out, value);
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
  for (Level level : {Level::trace, Level::debug, Level::info, Level::warn, Level::error})
    if (level_name(level) == name) return level;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::trace: return "trace";
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

Logger::Logger(Level level, Format format)
    : Logger(level, format, [](const std::string& line) { std::cerr << line << std::flush; }) {}

Logger::Logger(Level level, Format format, Sink sink) : level_(level), format_(format), sink_(std::move(sink)) {}

void Logger::log(Level level, std::string_view component, std::string_view event, std::string_view message,
                 const Fields& fields) {
  if (!enabled(level)) return;
  std::string line;
  if (format_ == Format::json) {
    line = "{\"time\":\"" + utc_now_iso() + "\",\"level\":\"" + std::string(level_name(level)) + "\",\"component\":";
    append_json_string(line, component);
    line += ",\"event\":";
    append_json_string(line, event);
    line += ",\"message\":";
    append_json_string(line, message);
    append_json_fields(line, fields);
    line += "}\n";
  } else {
    // One event, one line: DCMTK's condition texts span several.
    std::string flat(message);
    for (char& c : flat)
      if (c == '\n' || c == '\r') c = ' ';
    line = utc_now_iso() + " " + std::string(level_name(level)) + " " + std::string(component) + " " + std::string(event) + ": ";
    append_escaped(line, flat, false);
    for (const auto& [key, value] : fields) {
      line += ' ' + key + '=';
      append_text_value(line, value);
    }
    line += '\n';
  }
  std::lock_guard lock(mutex_);
  sink_(line);
}

}  // namespace evax::logging
