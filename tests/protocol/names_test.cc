#define CAF_SUITE names
#include "caf/test/unit_test.hpp"

#include "protocol/names.hpp"

using namespace eventbase;
using namespace eventbase::protocol;

CAF_TEST(keys accept any non empty utf8 up to the limit) {
  for (std::string key : {"a", ". * > / space + = ! @ # $ % ^ & ( )", "user:1:profile",
                          "\xF0\x9F\x8E\x89 party", "\xE6\x97\xA5\xE6\x9C\xAC"})
    CAF_CHECK(validate_key(key).ok());
  CAF_CHECK(validate_key(std::string(kMaxKeyBytes, 'k')).ok());
}

CAF_TEST(keys reject empty oversized and broken utf8) {
  CAF_CHECK_EQUAL(validate_key("").code(), errc::invalid_argument);
  auto big = validate_key(std::string(kMaxKeyBytes + 1, 'k'));
  CAF_CHECK_EQUAL(big.code(), errc::too_large);
  CAF_CHECK_NOT_EQUAL(big.message().find("1025"), std::string::npos);
  CAF_CHECK_EQUAL(validate_key("\xC3").code(), errc::invalid_argument);              // truncated
  CAF_CHECK_EQUAL(validate_key("\xC0\xAF").code(), errc::invalid_argument);          // overlong
  CAF_CHECK_EQUAL(validate_key("\xED\xA0\x80").code(), errc::invalid_argument);      // surrogate
  CAF_CHECK_EQUAL(validate_key("\xF4\x90\x80\x80").code(), errc::invalid_argument);  // > U+10FFFF
}

CAF_TEST(stream names follow nats rules) {
  CAF_CHECK(validate_stream_name("orders").ok());
  CAF_CHECK(validate_stream_name("test-1_A").ok());
  for (std::string bad : {"", "a.b", "a*", "a>", "a b", "a/b", "a\\b", "tab\there", "\x7F"}) {
    auto st = validate_stream_name(bad);
    CAF_CHECK_EQUAL(st.code(), errc::invalid_argument);
  }
  CAF_CHECK_NOT_EQUAL(validate_stream_name("a.b").message().find("'.'"), std::string::npos);
  CAF_CHECK_EQUAL(validate_stream_name(std::string(kMaxStreamNameBytes + 1, 's')).code(),
                  errc::invalid_argument);
}
