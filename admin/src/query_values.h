// Strict parsing of the admin API's query values: whole numbers in a range, and RFC 3339
// instants normalised to the form the database stores (2026-11-28T12:00:00.123Z), so that
// comparing stored text compares instants. Pure functions; internal to the admin module.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace evax::admin {

// Only ASCII digits (no sign, no space), from `min` to `max`; nullopt otherwise.
std::optional<std::int64_t> parse_whole_number(std::string_view text, std::int64_t min, std::int64_t max);

// An RFC 3339 date-time ("2026-11-28T10:00:00Z", "2026-11-28T12:00:00.5+02:00"; 't'/'z' and
// a space for 'T' too) or a full-date ("2026-11-28": midnight UTC), a real calendar date and
// time (leap second 60 refused), as UTC with milliseconds. A fraction finer than a millisecond
// rounds up: stored times are whole milliseconds, so ">= t" and "< t" stay exact. nullopt for
// anything else, or for an instant outside the years 0000-9999 once in UTC.
std::optional<std::string> parse_instant_as_stored_utc(std::string_view text);

}  // namespace evax::admin
