#define CAF_SUITE glob
#include "caf/test/unit_test.hpp"

#include "protocol/glob.hpp"

using eventbase::protocol::glob;

CAF_TEST(without stars matches exactly) {
  glob g("user:1");
  CAF_CHECK(g.matches("user:1"));
  CAF_CHECK(!g.matches("user:10"));
  CAF_CHECK(!g.matches("xuser:1"));
}

CAF_TEST(every star matches any run) {
  glob g("user:*:profile:*");
  CAF_CHECK(g.matches("user:1:profile:a"));
  CAF_CHECK(g.matches("user::profile:"));
  CAF_CHECK(g.matches("user:1:2:profile:x:y"));
  CAF_CHECK(!g.matches("user:1:profile"));
  CAF_CHECK(!g.matches("user:1:settings:a"));
}

CAF_TEST(is anchored at both ends) {
  glob g("a*b");
  CAF_CHECK(g.matches("ab"));
  CAF_CHECK(g.matches("axxb"));
  CAF_CHECK(!g.matches("xab"));
  CAF_CHECK(!g.matches("abx"));
  CAF_CHECK(!glob("*b*c").matches("bxb"));
  CAF_CHECK(glob("*").matches(""));
  CAF_CHECK(glob("**").matches("anything"));
}

CAF_TEST(treats regex characters literally) {
  glob g("a.b+(c)*");
  CAF_CHECK(g.matches("a.b+(c)"));
  CAF_CHECK(g.matches("a.b+(c)zzz"));
  CAF_CHECK(!g.matches("axb+(c)"));
  CAF_CHECK(!g.matches("a.bb(c)"));
}

CAF_TEST(needs no backtracking for overlapping parts) {
  CAF_CHECK(glob("*aab*").matches("aaab"));
  CAF_CHECK(glob("a*a*a").matches("aaa"));
  CAF_CHECK(!glob("a*a*a").matches("aa"));
}
