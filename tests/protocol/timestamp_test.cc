#define CAF_SUITE timestamp
#include "caf/test/unit_test.hpp"

#include <limits>

#include "protocol/timestamp.hpp"

using namespace eventbase::protocol;

// Expected values are JavaScript's new Date(ms).toISOString().
CAF_TEST(formats like javascript) {
  CAF_CHECK_EQUAL(format_iso8601_ms(1733565600123), "2024-12-07T10:00:00.123Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(951782400000), "2000-02-29T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
}

// Found by tests/fuzz/record_fuzz: a record header dated near INT64_MIN overflowed (undefined
// behaviour) while the date was split into days and milliseconds. Years outside 0000-9999 clamp.
CAF_TEST(formats the extremes of int64) {
  auto min = format_iso8601_ms(std::numeric_limits<int64_t>::min());
  auto max = format_iso8601_ms(std::numeric_limits<int64_t>::max());
  CAF_CHECK_EQUAL(min.size(), 24u);
  CAF_CHECK_EQUAL(min.substr(0, 5), "0000-");
  CAF_CHECK_EQUAL(min.substr(10), "T16:47:04.192Z");
  CAF_CHECK_EQUAL(max.size(), 24u);
  CAF_CHECK_EQUAL(max.substr(0, 5), "9999-");
  CAF_CHECK_EQUAL(max.substr(10), "T07:12:55.807Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(-86400000), "1969-12-31T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(-86400001), "1969-12-30T23:59:59.999Z");
}

CAF_TEST(parses what it formats) {
  for (int64_t ms : {int64_t{0}, int64_t{-1}, int64_t{951782400000}, int64_t{1733565600123},
                     int64_t{253402300799999}}) {
    auto parsed = parse_iso8601_ms(format_iso8601_ms(ms));
    CAF_REQUIRE(parsed.has_value());
    CAF_CHECK_EQUAL(*parsed, ms);
  }
}

CAF_TEST(reads jetstream message times) {
  auto base = parse_iso8601_ms("2024-12-07T10:00:00.000Z").value();
  CAF_CHECK_EQUAL(parse_rfc3339_ms("2024-12-07T10:00:00Z").value_or(-1), base);
  CAF_CHECK_EQUAL(parse_rfc3339_ms("2024-12-07T10:00:00.5Z").value_or(-1), base + 500);
  CAF_CHECK_EQUAL(parse_rfc3339_ms("2024-12-07T10:00:00.123456789Z").value_or(-1), base + 123);
  for (const char* bad :
       {"", "2024-12-07T10:00:00", "2024-12-07T10:00:00.Z", "2024-12-07T10:00:00.1234567890Z",
        "2024-12-07T10:00:00.12a4Z", "2024-12-07T10:00:00+01:00", "2024-02-30T10:00:00Z"})
    CAF_CHECK(!parse_rfc3339_ms(bad));
}

CAF_TEST(rejects other formats) {
  CAF_CHECK(!parse_iso8601_ms("2024-12-07T10:00:00Z"));
  CAF_CHECK(!parse_iso8601_ms("2024-12-07 10:00:00.123Z"));
  CAF_CHECK(!parse_iso8601_ms("2024-02-30T10:00:00.123Z"));
  CAF_CHECK(!parse_iso8601_ms("2024-12-07T24:00:00.123Z"));
  CAF_CHECK(!parse_iso8601_ms("2024-12-07T10:00:00.123+01:00"));
}

CAF_TEST(now is close to the system clock) {
  auto now = now_ms();
  CAF_CHECK_GREATER(now, 1700000000000);  // after 2023: the clock is in milliseconds
}
