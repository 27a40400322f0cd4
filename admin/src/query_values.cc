#include "query_values.h"

#include <cstdio>

namespace evax::admin {
namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

int number(std::string_view digits) {
  int value = 0;
  for (const char c : digits) value = value * 10 + (c - '0');
  return value;
}

bool leap(std::int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(std::int64_t year, int month) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && leap(year) ? 29 : days[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = yoe + era * 400 + (m <= 2);
}

}  // namespace

std::optional<std::int64_t> parse_whole_number(std::string_view text, std::int64_t min, std::int64_t max) {
  if (!all_digits(text)) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text) {
    if (value > (max - (c - '0')) / 10) return std::nullopt;  // value * 10 + digit > max, without overflow
    value = value * 10 + (c - '0');
  }
  if (value < min) return std::nullopt;
  return value;
}

std::optional<std::string> parse_instant_as_stored_utc(std::string_view text) {
  // full-date = 4DIGIT "-" 2DIGIT "-" 2DIGIT
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  if (!all_digits(text.substr(0, 4)) || !all_digits(text.substr(5, 2)) || !all_digits(text.substr(8, 2))) return std::nullopt;
  const std::int64_t year = number(text.substr(0, 4));
  const int month = number(text.substr(5, 2));
  const int day = number(text.substr(8, 2));
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  int hour = 0, minute = 0, second = 0, offset_minutes = 0;
  std::int64_t millis = 0;
  if (text.size() > 10) {
    // partial-time = 2DIGIT ":" 2DIGIT ":" 2DIGIT [ "." 1*DIGIT ]; then "Z" or +hh:mm / -hh:mm.
    std::string_view rest = text.substr(10);
    if (rest.size() < 10 || (rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ') || rest[3] != ':' || rest[6] != ':') return std::nullopt;
    if (!all_digits(rest.substr(1, 2)) || !all_digits(rest.substr(4, 2)) || !all_digits(rest.substr(7, 2))) return std::nullopt;
    hour = number(rest.substr(1, 2));
    minute = number(rest.substr(4, 2));
    second = number(rest.substr(7, 2));
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
    rest.remove_prefix(9);
    if (rest.front() == '.') {
      std::size_t digits = 1;
      while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
      const std::string_view fraction = rest.substr(1, digits - 1);
      if (fraction.empty() || fraction.size() > 9) return std::nullopt;
      for (std::size_t i = 0; i < 3; ++i) millis = millis * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
      if (fraction.size() > 3 && fraction.substr(3).find_first_not_of('0') != std::string_view::npos) ++millis;  // round up
      rest.remove_prefix(digits);
    }
    if (rest == "Z" || rest == "z") {
      offset_minutes = 0;
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && all_digits(rest.substr(1, 2)) &&
               all_digits(rest.substr(4, 2))) {
      const int hours = number(rest.substr(1, 2)), minutes = number(rest.substr(4, 2));
      if (hours > 23 || minutes > 59) return std::nullopt;
      offset_minutes = (rest[0] == '+' ? 1 : -1) * (hours * 60 + minutes);
    } else {
      return std::nullopt;
    }
  }
  // Local time minus its offset is UTC.
  const std::int64_t total_ms = ((days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second) - offset_minutes * 60) * 1000 + millis;
  std::int64_t days = total_ms / 86400000;
  std::int64_t in_day = total_ms % 86400000;
  if (in_day < 0) in_day += 86400000, --days;
  std::int64_t y = 0;
  int m = 0, d = 0;
  civil_from_days(days, y, m, d);
  if (y < 0 || y > 9999) return std::nullopt;
  char out[32];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", static_cast<int>(y), m, d, static_cast<int>(in_day / 3600000),
                static_cast<int>(in_day / 60000 % 60), static_cast<int>(in_day / 1000 % 60), static_cast<int>(in_day % 1000));
  return std::string(out);
}

}  // namespace evax::admin
