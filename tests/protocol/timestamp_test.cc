#define CAF_SUITE timestamp
#include "caf/test/unit_test.hpp"

#include "protocol/timestamp.hpp"

using namespace eventbase::protocol;

// Expected values are JavaScript's new Date(ms).toISOString().
CAF_TEST(formats like javascript) {
  CAF_CHECK_EQUAL(format_iso8601_ms(1733565600123), "2024-12-07T10:00:00.123Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(951782400000), "2000-02-29T00:00:00.000Z");
  CAF_CHECK_EQUAL(format_iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
}

CAF_TEST(parses what it formats) {
  for (int64_t ms : {int64_t{0}, int64_t{-1}, int64_t{951782400000}, int64_t{1733565600123},
                     int64_t{253402300799999}}) {
    auto parsed = parse_iso8601_ms(format_iso8601_ms(ms));
    CAF_REQUIRE(parsed.has_value());
    CAF_CHECK_EQUAL(*parsed, ms);
  }
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
