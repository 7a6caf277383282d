#define CAF_SUITE key_pattern
#include "caf/test/unit_test.hpp"

#include "protocol/key_pattern.hpp"

using namespace eventbase;
using namespace eventbase::protocol;

CAF_TEST(searches anywhere like javascript match) {
  auto p = key_pattern::compile("something:*");  // JS: 'something:*' is a regex, not a glob
  CAF_REQUIRE(p.ok());
  CAF_CHECK(p->matches("something:1"));
  CAF_CHECK(p->matches("xsomething"));  // ':*' allows zero colons
  CAF_CHECK(!p->matches("other:1"));
  auto anchored = key_pattern::compile("^user:\\d+$");
  CAF_REQUIRE(anchored.ok());
  CAF_CHECK(anchored->matches("user:42"));
  CAF_CHECK(!anchored->matches("user:42x"));
  CAF_CHECK(!anchored->matches("xuser:42"));
}

CAF_TEST(empty pattern matches all) {
  auto p = key_pattern::compile("");
  CAF_REQUIRE(p.ok());
  CAF_CHECK(p->matches_all());
  CAF_CHECK(p->matches("anything"));
}

CAF_TEST(invalid regex is a clear error) {
  auto p = key_pattern::compile("user(");
  CAF_REQUIRE(!p.ok());
  CAF_CHECK_EQUAL(p.error().code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(p.error().message().find("user("), std::string::npos);
  CAF_CHECK_EQUAL(key_pattern::compile("[a-").error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(key_pattern::compile("*x").error().code(), errc::invalid_argument);
}

CAF_TEST(anchored literals are prefix tests) {
  auto p = key_pattern::compile("^user:");
  CAF_REQUIRE(p.ok());
  CAF_CHECK(!p->matches_all());
  CAF_CHECK_EQUAL(p->literal_prefix(), "user:");
  CAF_CHECK(p->matches("user:1"));
  CAF_CHECK(p->matches("user:"));
  CAF_CHECK(!p->matches("use"));
  CAF_CHECK(!p->matches("xuser:1"));
  auto q = key_pattern::compile("^user:\\d");  // not only a literal: the regex decides
  CAF_REQUIRE(q.ok());
  CAF_CHECK(q->matches("user:1"));
  CAF_CHECK(!q->matches("user:x"));
}

CAF_TEST(literal prefix) {
  CAF_CHECK_EQUAL(regex_literal_prefix("^user:"), "user:");
  CAF_CHECK_EQUAL(regex_literal_prefix("^user:\\d+"), "user:");
  CAF_CHECK_EQUAL(regex_literal_prefix("^users?"), "user");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab*"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab+"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a{2}"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("user:"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^(a|b)c"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(b|c)"), "a");
}

// A '(' inside a character class opened no group, so the alternation in "^ab[(]c|d" looked nested
// and "ab" became the prefix scans seek to: keys such as "xd" that match through "d" were missed.
CAF_TEST(brackets in a class do not hide a top level alternation) {
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab[(]c|d"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab([(])|d"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab[)]|d"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab[|]c"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab[\\]|]c"), "ab");  // escaped ']' stays in the class
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab[]|d"), "");       // "[]" is an empty class
  auto p = key_pattern::compile("^ab[(]c|d");
  CAF_REQUIRE(p.ok());
  CAF_CHECK(p->matches("xd"));
  CAF_CHECK_EQUAL(p->literal_prefix(), "");
}
