#define CAF_SUITE base64
#include "caf/test/unit_test.hpp"

#include "protocol/base64.hpp"

using namespace eventbase::protocol;

// Expected values are Node's Buffer.from(key).toString('base64'), which the JS library uses.
CAF_TEST(encodes like node) {
  CAF_CHECK_EQUAL(base64_encode(""), "");
  CAF_CHECK_EQUAL(base64_encode("a"), "YQ==");
  CAF_CHECK_EQUAL(base64_encode("ab"), "YWI=");
  CAF_CHECK_EQUAL(base64_encode("abc"), "YWJj");
  CAF_CHECK_EQUAL(base64_encode("user1"), "dXNlcjE=");
  CAF_CHECK_EQUAL(base64_encode("!@#$%^&*()_+"), "IUAjJCVeJiooKV8r");
  CAF_CHECK_EQUAL(base64_encode("a.b*c>d"), "YS5iKmM+ZA==");
  CAF_CHECK_EQUAL(base64_encode("spa\xC3\x9F \xC3\xBC"), "c3Bhw58gw7w=");
  CAF_CHECK_EQUAL(base64_encode("\xE6\x97\xA5\xE6\x9C\xAC"), "5pel5pys");
  CAF_CHECK_EQUAL(base64_encode("\xF0\x9F\x8E\x89"), "8J+OiQ==");
}

CAF_TEST(round trips every byte value) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t len = 0; len <= all.size(); len += 7) {
    auto text = all.substr(0, len);
    auto decoded = base64_decode(base64_encode(text));
    CAF_REQUIRE(decoded.has_value());
    CAF_CHECK_EQUAL(*decoded, text);
  }
}

CAF_TEST(rejects malformed input) {
  CAF_CHECK(!base64_decode("abc").has_value());   // not a multiple of 4
  CAF_CHECK(!base64_decode("ab!=").has_value());  // outside the alphabet
  CAF_CHECK(!base64_decode("YR==").has_value());  // non-zero bits under the padding
  CAF_CHECK(!base64_decode("a-_b").has_value());  // url-safe alphabet is not accepted
}
