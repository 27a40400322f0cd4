// Strict query values: whole numbers in range, RFC 3339 instants as the stored UTC text.
#include <gtest/gtest.h>

#include "query_values.h"

namespace evax::admin {
namespace {

TEST(QueryValues, WholeNumbersAreDigitsInRange) {
  EXPECT_EQ(parse_whole_number("0", 0, 10), 0);
  EXPECT_EQ(parse_whole_number("007", 0, 10), 7);
  EXPECT_EQ(parse_whole_number("1000000000", 0, 1000000000), 1000000000);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1e3", "0x1", "4294967297", "99999999999999999999999999", "11"})
    EXPECT_FALSE(parse_whole_number(bad, 0, 10)) << bad;
  EXPECT_FALSE(parse_whole_number("0", 1, 10));
  constexpr std::int64_t kMax = 9223372036854775807;
  EXPECT_EQ(parse_whole_number("9223372036854775807", 1, kMax), kMax);
  EXPECT_FALSE(parse_whole_number("9223372036854775808", 1, kMax));
  EXPECT_FALSE(parse_whole_number("18446744073709551617", 1, kMax));
}

TEST(QueryValues, InstantsBecomeTheStoredUtcForm) {
  EXPECT_EQ(parse_instant_as_stored_utc("2026-11-28"), "2026-11-28T00:00:00.000Z");
  EXPECT_EQ(parse_instant_as_stored_utc("2024-02-29T23:59:59Z"), "2024-02-29T23:59:59.000Z");
  EXPECT_EQ(parse_instant_as_stored_utc("2026-11-28t10:00:00.5z"), "2026-11-28T10:00:00.500Z");
  EXPECT_EQ(parse_instant_as_stored_utc("2026-11-28T12:00:00.123+02:00"), "2026-11-28T10:00:00.123Z");
  EXPECT_EQ(parse_instant_as_stored_utc("2026-01-01T01:00:00+02:00"), "2025-12-31T23:00:00.000Z");
  EXPECT_EQ(parse_instant_as_stored_utc("2026-02-28T22:30:00-05:30"), "2026-03-01T04:00:00.000Z");
  // Finer than a millisecond rounds up (stored times are whole milliseconds).
  EXPECT_EQ(parse_instant_as_stored_utc("2026-11-28T10:00:00.1230001Z"), "2026-11-28T10:00:00.124Z");
  EXPECT_EQ(parse_instant_as_stored_utc("2026-11-28T23:59:59.9999Z"), "2026-11-29T00:00:00.000Z");
  EXPECT_EQ(parse_instant_as_stored_utc("2026-11-28T10:00:00.123000000Z"), "2026-11-28T10:00:00.123Z");
  for (const char* bad : {"2020-13-45T99:99:99Z", "2026-02-30", "2025-02-29", "2100-02-29", "2026-11-28T10:00:00", "2026-11-28T24:00:00Z",
                          "2026-11-28T10:60:00Z", "2026-11-28T10:00:60Z", "2026-11-28T10:00Z", "2026-11-28T10:00:00+2:00",
                          "2026-11-28T10:00:00+24:00", "2026-11-28T10:00:00.Z", "2026-11-28T10:00:00.1234567890Z", "20261128",
                          "2026-1-28", "2026-11-28Z", "2026-11-28T10:00:00ZZ", "yesterday", "", "0000-01-01T00:00:00+00:01",
                          "9999-12-31T23:59:59-00:01", "+2026-11-28"})
    EXPECT_FALSE(parse_instant_as_stored_utc(bad)) << bad;
  EXPECT_EQ(parse_instant_as_stored_utc("2000-02-29T00:00:00Z"), "2000-02-29T00:00:00.000Z");
}

}  // namespace
}  // namespace evax::admin
