#define CAF_SUITE key_pattern
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "protocol/key_pattern.hpp"

using namespace eventbase;
using namespace eventbase::protocol;

namespace {

// matches() returns result<bool>, whose operator bool means "no error": never CAF_CHECK it
// directly. This requires the match to succeed and returns its answer.
bool match(const key_pattern& p, std::string_view key) {
  auto r = p.matches(key);
  if (!r.ok()) CAF_FAIL("matching '" << p.pattern() << "': " << r.error().to_string());
  return *r;
}

bool match(const std::string& pattern, std::string_view key) {
  auto p = key_pattern::compile(pattern);
  if (!p.ok()) CAF_FAIL("compiling '" << pattern << "': " << p.error().to_string());
  return match(*p, key);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool is_too_complex(const result<bool>& r) {
  return !r.ok() && r.error().code() == errc::invalid_argument &&
         contains(r.error().message(), "regex too complex") &&
         contains(r.error().message(), "exceeded the match limit");
}

}  // namespace

CAF_TEST(searches anywhere like javascript match) {
  auto p = key_pattern::compile("something:*");  // JS: 'something:*' is a regex, not a glob
  CAF_REQUIRE(p.ok());
  CAF_CHECK(match(*p, "something:1"));
  CAF_CHECK(match(*p, "xsomething"));  // ':*' allows zero colons
  CAF_CHECK(!match(*p, "other:1"));
  auto anchored = key_pattern::compile("^user:\\d+$");
  CAF_REQUIRE(anchored.ok());
  CAF_CHECK(match(*anchored, "user:42"));
  CAF_CHECK(!match(*anchored, "user:42x"));
  CAF_CHECK(!match(*anchored, "xuser:42"));
}

CAF_TEST(empty pattern matches all) {
  auto p = key_pattern::compile("");
  CAF_REQUIRE(p.ok());
  CAF_CHECK(p->matches_all());
  CAF_CHECK(match(*p, "anything"));
  CAF_CHECK(key_pattern().matches_all());
  CAF_CHECK_EQUAL(key_pattern().pattern(), "");
  auto caret = key_pattern::compile("^");
  CAF_REQUIRE(caret.ok());
  CAF_CHECK(caret->matches_all());
  CAF_CHECK_EQUAL(caret->pattern(), "^");
  CAF_CHECK(!key_pattern::compile("a")->matches_all());
}

CAF_TEST(invalid regex is a clear error) {
  auto p = key_pattern::compile("user(");
  CAF_REQUIRE(!p.ok());
  CAF_CHECK_EQUAL(p.error().code(), errc::invalid_argument);
  CAF_CHECK(contains(p.error().message(), "invalid regex 'user('"));
  CAF_CHECK(contains(p.error().message(), "at offset 5"));
  for (std::string bad : {"[a-", "*x", "a)", "a{2,1}", "\\y", "(?<n>a)(?<n>b)", "a\\", "\\8",
                          "(?<=a+)b", "\\C", "(*UCP)\\w", "\\uD83D", "a{70000}", "^\xFF"}) {
    auto r = key_pattern::compile(bad);
    CAF_CHECK(!r.ok());
    if (!r.ok()) {
      CAF_CHECK_EQUAL(r.error().code(), errc::invalid_argument);
      CAF_CHECK(contains(r.error().message(), "invalid regex"));
    }
  }
  // Bytes that are not UTF-8 are quoted as \xHH: the message itself stays valid UTF-8.
  CAF_CHECK(contains(key_pattern::compile("^\xFF").error().message(), "'^\\xFF'"));
}

CAF_TEST(anchored literals are prefix tests) {
  auto p = key_pattern::compile("^user:");
  CAF_REQUIRE(p.ok());
  CAF_CHECK(!p->matches_all());
  CAF_CHECK_EQUAL(p->literal_prefix(), "user:");
  CAF_CHECK(match(*p, "user:1"));
  CAF_CHECK(match(*p, "user:"));
  CAF_CHECK(!match(*p, "use"));
  CAF_CHECK(!match(*p, "xuser:1"));
  CAF_CHECK(match(*p, "user:\xFF"));           // bytes after the prefix do not matter
  auto q = key_pattern::compile("^user:\\d");  // not only a literal: the regex decides
  CAF_REQUIRE(q.ok());
  CAF_CHECK(match(*q, "user:1"));
  CAF_CHECK(!match(*q, "user:x"));
  auto escaped = key_pattern::compile("^a\\.b\\/c");
  CAF_REQUIRE(escaped.ok());
  CAF_CHECK_EQUAL(escaped->literal_prefix(), "a.b/c");
  CAF_CHECK(match(*escaped, "a.b/c:1"));
  CAF_CHECK(!match(*escaped, "axb/c"));
  auto utf8 = key_pattern::compile("^ключ:");
  CAF_REQUIRE(utf8.ok());
  CAF_CHECK_EQUAL(utf8->literal_prefix(), "ключ:");
  CAF_CHECK(match(*utf8, "ключ:1"));
}

CAF_TEST(literal prefix) {
  CAF_CHECK_EQUAL(regex_literal_prefix("^user:"), "user:");
  CAF_CHECK_EQUAL(regex_literal_prefix("^user:\\d+"), "user:");
  CAF_CHECK_EQUAL(regex_literal_prefix("^users?"), "user");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab*"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab+"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab+?"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab??"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab{2}"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a{2}"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("user:"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix(""), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("a^b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^abc|"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^(a|b)c"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(b|c)"), "a");
  // What PCRE2 reads as nothing lets a quantifier reach the character before it (found by the
  // key_pattern fuzz target: "^b\E*" matched "" with a prefix "b").
  CAF_CHECK_EQUAL(regex_literal_prefix("^b\\E*"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab(?#note)*"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab(?x) *"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab(?:c)"), "ab");
  // "\c(" is one escape (a control character), not a group: the '|' after it is top level.
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab\\c(|x"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(?:b|c)|d"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(?=b|c)d"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(?<n>b|c)"), "a");
  // Character classes: a '(' or '|' inside one is a literal, ']' first in a class is JS's
  // empty class, escapes inside classes are skipped.
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[(]|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[(]b"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[|]b"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[\\]|]b"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[\\]]|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[]|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[^]|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[^]b"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(\\))|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\(|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\|b"), "a|b");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[b"), "");  // unterminated class: nothing is assumed
  // UTF-8: a quantifier removes the whole last character.
  CAF_CHECK_EQUAL(regex_literal_prefix("^ключ?"), "клю");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ключ*"), "клю");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ключ+"), "ключ");
  CAF_CHECK_EQUAL(regex_literal_prefix("^😀?x"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a😀{3}"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^é.x"), "é");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\xC3"), "a");  // truncated sequence: stops
  // Escapes: ASCII punctuation is literal (and can be quantified), anything else stops.
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\.b"), "a.b");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\-\\/\\:\\_"), "a-/:_");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\.?"), "a");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\.+"), "a.");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab\\d"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab\\u0041"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^(a)b\\1"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab\\1"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab\\"), "ab");
  // Other metacharacters stop it.
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab.c"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab$"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab[c]"), "ab");
  CAF_CHECK_EQUAL(regex_literal_prefix("^ab}"), "ab");
  // PCRE2 constructs the scanner does not model give no prefix at all.
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\Q|\\Eb"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\\Q[\\E|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(?#[)|b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(?x)[ ]"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a(*ACCEPT)"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a[[:alpha:]|]b"), "");
  CAF_CHECK_EQUAL(regex_literal_prefix("^a)|b"), "");
  // The prefix from the scanner is the one the compiled pattern uses.
  // (By value: CAF's checks bind their arguments by reference, and the result is a temporary.)
  CAF_CHECK_EQUAL(std::string(key_pattern::compile("^user:\\d+")->literal_prefix()), "user:");
  CAF_CHECK_EQUAL(std::string(key_pattern::compile("^a[(]|b")->literal_prefix()), "");
  CAF_CHECK(match("^a[(]|b", "b"));
}

// For generated patterns and keys: whenever a key matches, it starts with the literal prefix;
// and the prefix fast path ("^" + literal) answers as PCRE2 does (the same pattern followed by
// "(?:)" always runs PCRE2).
CAF_TEST(literal prefix property) {
  const std::vector<std::string> pieces = {
      "a",   "b",   "é",     "ж",    "😀",   ".",      "\\.",         "\\|",     "\\d",
      "\\w", "|",   "(",     ")",    "(?:", "(?=",    "(?!",         "(?<=a)",  "[",
      "]",   "[^]", "[]",    "[ab]", "[|]", "[\\]|]", "[(]",         "?",       "*",
      "+",   "{2}", "{0,1}", "{",    "}",   "$",      "^",           "\\u0061", "\\x62",
      "+?",  "??",  "\\b",   "1",    "\\W", "\\S",    "\xEF\xBF\xBD"};
  const std::vector<std::string> alphabet = {
      "a", "b", "é", "ж", "😀", ".", "|", "1", "\n", "\xFF", "(", "]", "\xEF\xBF\xBD", "\xE2\x82"};
  std::mt19937 rng(20240611);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  size_t compiled = 0;
  size_t prefixed = 0;
  size_t matched = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string pattern = pick(10) < 8 ? "^" : "";
    for (size_t n = 1 + pick(7); n > 0; --n) pattern += pieces[pick(pieces.size())];
    auto p = key_pattern::compile(pattern);
    if (!p.ok()) continue;
    ++compiled;
    auto slow = key_pattern::compile(pattern + "(?:)");
    CAF_REQUIRE(slow.ok());
    const std::string& prefix = p->literal_prefix();
    if (!prefix.empty()) ++prefixed;
    for (int k = 0; k < 40; ++k) {
      std::string key = k < 8 ? prefix : "";
      for (size_t n = pick(6); n > 0; --n) key += alphabet[pick(alphabet.size())];
      bool m = match(*p, key);
      if (m) ++matched;
      if (m && key.compare(0, prefix.size(), prefix) != 0)
        CAF_FAIL("'" << pattern << "' matches '" << key << "' without its prefix '" << prefix
                     << "'");
      if (m != match(*slow, key))
        CAF_FAIL("'" << pattern << "' and '" << pattern << "(?:)' disagree on '" << key << "'");
    }
  }
  // The generator must produce enough interesting cases for the property to mean something.
  CAF_CHECK_GREATER(compiled, 1000u);
  CAF_CHECK_GREATER(prefixed, 300u);
  CAF_CHECK_GREATER(matched, 5000u);
}

CAF_TEST(javascript dialect) {
  // Characters, not bytes.
  CAF_CHECK(match("^.{4}$", "ключ"));
  CAF_CHECK(!match("^.{8}$", "ключ"));
  CAF_CHECK(match("^[^a]$", "ж"));
  // JavaScript escapes.
  CAF_CHECK(match("^\\u0041$", "A"));
  CAF_CHECK(match("^\\u{1F600}$", "😀"));
  CAF_CHECK(match("^\\x41\\x42$", "AB"));
  CAF_CHECK(match("^\\u043a", "ключ"));
  CAF_CHECK(match("^a\\-b\\/c$", "a-b/c"));
  // \d \w \b are ASCII, as in JavaScript.
  CAF_CHECK(match("^\\d+$", "0123456789"));
  CAF_CHECK(!match("\\d", "\xD9\xA3"));  // U+0663 ARABIC-INDIC DIGIT THREE
  CAF_CHECK(match("^\\w+$", "user_1"));
  CAF_CHECK(!match("^\\w+$", "café"));
  CAF_CHECK(match("\\bkey\\b", "a key here"));
  CAF_CHECK(!match("\\bkey\\b", "keys"));
  CAF_CHECK(match("\\Bey", "key"));
  // Their complements match every other character (PCRE2 10.42's JIT gets this wrong under
  // PCRE2_MATCH_INVALID_UTF, which is why that option is not used).
  CAF_CHECK(match("^\\W\\D\\S$", "жé😀"));
  // \s is ASCII whitespace only (JavaScript's also has U+00A0 and other Unicode spaces).
  CAF_CHECK(match("^a\\sb$", "a b"));
  CAF_CHECK(match("^a\\sb$", "a\tb"));
  CAF_CHECK(!match("^a\\sb$",
                   "a\xC2\xA0"
                   "b"));
  // Lookaround, backreferences, named groups.
  CAF_CHECK(match("^(?=user)", "username"));
  CAF_CHECK(!match("^(?=user)", "xuser"));
  CAF_CHECK(match("^(?!tmp:)", "user:1"));
  CAF_CHECK(!match("^(?!tmp:)", "tmp:1"));
  CAF_CHECK(match("(?<=user:)\\d+", "user:42"));
  CAF_CHECK(!match("(?<!user:)\\b\\d+", "user:42"));
  CAF_CHECK(match("^(a+)-\\1$", "aa-aa"));
  CAF_CHECK(!match("^(a+)-\\1$", "aa-a"));
  CAF_CHECK(match("^(?<id>\\d+)-\\k<id>$", "12-12"));
  CAF_CHECK(match("^(?:(a)|b)\\1$", "b"));  // a group that did not take part matches ""
  // [] matches nothing, [^] any character, including a newline.
  CAF_CHECK(!match("[]", "abc"));
  CAF_CHECK(match("^[^]$", "\n"));
  CAF_CHECK(match("^[^]$", "é"));
  // $ only at the very end, ^ only at the very start, . not a line terminator.
  CAF_CHECK(match("a$", "a"));
  CAF_CHECK(!match("a$", "a\n"));
  CAF_CHECK(!match("^a$", "a\n"));
  CAF_CHECK(!match("^b", "a\nb"));
  CAF_CHECK(!match("^.$", "\n"));
  CAF_CHECK(!match("^.$", "\r"));
  CAF_CHECK(match("^a.b$", "a\tb"));
  CAF_CHECK(match("^a\\nb$", "a\nb"));
  // Braces that are not a quantifier are literal, as in JavaScript.
  CAF_CHECK(match("^a{b}$", "a{b}"));
  CAF_CHECK(match("^a{,2}$", "a{,2}"));
  // Keys may hold a NUL.
  CAF_CHECK(match("^a\\x00b$", std::string_view("a\0b", 3)));
}

// Foreign keys may hold bytes that are not UTF-8: each maximal invalid sequence reads as one
// U+FFFD, as JavaScript's TextDecoder decodes it.
CAF_TEST(keys that are not utf8 read as replacement characters) {
  CAF_CHECK(match("^.$", "\xFF"));
  CAF_CHECK(match("^\\uFFFD$", "\xFF"));
  CAF_CHECK(!match("\\xFF", "\xFF"));  // \xFF is U+00FF, not the byte 0xFF
  CAF_CHECK(match("\\xFF", "\xC3\xBF"));
  CAF_CHECK(match("^a.b$", std::string("a\xFF") + "b"));
  CAF_CHECK(match("^..b$", std::string("\xFF\xFE") + "b"));
  CAF_CHECK(match("(?<=.)a", std::string("\xFF") + "a"));
  CAF_CHECK(match("^a.$", "a\xC3"));                        // truncated sequence: one U+FFFD
  CAF_CHECK(match("^.a$", std::string("\xE2\x82") + "a"));  // maximal subpart: one U+FFFD
  CAF_CHECK(match("^...$", "\xED\xA0\x80"));                // encoded surrogate: three
  CAF_CHECK(match("^..$", "\xC0\xAF"));                     // overlong form: two
  CAF_CHECK(match("^.....$", "\xF8\x88\x80\x80\x80"));      // no such lead byte: five
  CAF_CHECK(match("^....$", "\xF4\x90\x80\x80"));           // beyond U+10FFFF: four
  CAF_CHECK(match("^a\\w\\W$", "ab\x80"));
  CAF_CHECK(match("^ж\\W$", "ж\xFF"));  // valid characters around invalid bytes stay whole
  CAF_CHECK(match("^😀.😀$", "😀\x80😀"));
  // The prefix fast path agrees: invalid bytes after the prefix do not matter.
  CAF_CHECK(match("^ab", "ab\xFF"));
  CAF_CHECK(match("^ab(?:)", "ab\xFF"));
  CAF_CHECK(!match("^ab", "a\xFF"));
  // A literal U+FFFD is not a prefix: the bytes it matches in a key differ.
  CAF_CHECK_EQUAL(regex_literal_prefix("^a\xEF\xBF\xBD"), "a");
  auto replacement = key_pattern::compile("^\xEF\xBF\xBD");
  CAF_REQUIRE(replacement.ok());
  CAF_CHECK_EQUAL(replacement->literal_prefix(), "");
  CAF_CHECK(match(*replacement, "\xFF"));
  for (std::string pattern : {"(a|\\xFF)+$", "^[^]*$", "(?<=.)b", "\\b", ".?.?.?$", "\\S\\W\\D"}) {
    auto p = key_pattern::compile(pattern);
    CAF_REQUIRE(p.ok());
    for (std::string key :
         {"\xFF", "\xC3", "a\xE2\x82", "\xF8\x88\x80\x80\x80", "\xC0\xAF", "\xED\xA0\x80", "b\x80"})
      CAF_CHECK(p->matches(key).ok());
  }
  CAF_CHECK(match("", "\xFF"));
}

CAF_TEST(patterns over the limits are refused) {
  auto long_pattern = key_pattern::compile(std::string(kMaxPatternBytes + 1, 'a'));
  CAF_REQUIRE(!long_pattern.ok());
  CAF_CHECK_EQUAL(long_pattern.error().code(), errc::invalid_argument);
  CAF_CHECK(contains(long_pattern.error().message(), "regex too complex"));
  CAF_CHECK(contains(long_pattern.error().message(), std::to_string(kMaxPatternBytes)));
  CAF_CHECK_LESS(long_pattern.error().message().size(), 400u);  // the pattern is truncated
  CAF_CHECK(key_pattern::compile(std::string(kMaxPatternBytes, 'a')).ok());
  // 20000 nested groups: std::regex overflowed the stack on this.
  auto deep = key_pattern::compile(std::string(20000, '(') + std::string(20000, ')'));
  CAF_REQUIRE(!deep.ok());
  CAF_CHECK(contains(deep.error().message(), "regex too complex"));
  // Under the length limit but nested too deep: PCRE2's nesting limit refuses it.
  auto nested = key_pattern::compile(std::string(2000, '(') + std::string(2000, ')'));
  CAF_REQUIRE(!nested.ok());
  CAF_CHECK_EQUAL(nested.error().code(), errc::invalid_argument);
  CAF_CHECK(contains(nested.error().message(), "invalid regex"));
  CAF_CHECK(contains(nested.error().message(), "regex too complex"));
  CAF_CHECK_LESS(nested.error().message().size(), 500u);
  auto at_limit = std::string(kMaxParensNesting, '(') + "a" + std::string(kMaxParensNesting, ')');
  CAF_CHECK(match(at_limit, "a"));
  auto over_limit = "(" + at_limit + ")";
  CAF_CHECK(!key_pattern::compile(over_limit).ok());
  // Large repeat counts that would compile to too much code are refused, not slow.
  for (std::string big : {"(?:a{65535}){65535}", "((a{1000}){1000}){1000}",
                          "(?:(?:(?:(?:a{100}){100}){100}){100}){100}"}) {
    auto r = key_pattern::compile(big);
    if (r.ok()) CAF_CHECK(!match(*r, "aaaa"));
  }
}

CAF_TEST(catastrophic backtracking stops at the match limit) {
  // Exponential for a backtracking matcher: an error, not minutes of CPU.
  auto nested = key_pattern::compile("(a+)+$");
  CAF_REQUIRE(nested.ok());
  auto r = nested->matches(std::string(30, 'a') + "b");
  CAF_CHECK(is_too_complex(r));
  CAF_CHECK(contains(r.error().message(), "'(a+)+$'"));
  CAF_CHECK(match(*nested, std::string(30, 'a')));
  // PCRE2 sees that the required 'b' is absent and answers at once without backtracking;
  // when a 'b' is present later it has to backtrack and hits the limit.
  auto star = key_pattern::compile("(a*)*b");
  CAF_REQUIRE(star.ok());
  auto no_b = star->matches(std::string(1024, 'a'));
  CAF_CHECK(is_too_complex(no_b) || (no_b.ok() && !*no_b));
  CAF_CHECK(is_too_complex(star->matches(std::string(1024, 'a') + "-b")));
  CAF_CHECK(
      is_too_complex(key_pattern::compile("(a|aa)+$")->matches(std::string(1024, 'a') + "b")));
  CAF_CHECK(
      is_too_complex(key_pattern::compile("^(\\w+\\s?)*$")->matches(std::string(1000, 'a') + "!")));
  // The key in the message is truncated.
  auto long_key = star->matches(std::string(5000, 'a') + "-b");
  CAF_CHECK(is_too_complex(long_key));
  CAF_CHECK_LESS(long_key.error().message().size(), 600u);
  // A pattern can neither force the slower interpreter nor change the limits.
  for (std::string setting : {"(*NO_JIT)", "(*LIMIT_MATCH=4000000000)", "(*NO_START_OPT)",
                              "(*LIMIT_HEAP=1)", "(*CR)", "(*UTF)"}) {
    auto refused = key_pattern::compile(setting + "(a+)+$");
    CAF_CHECK(!refused.ok());
    CAF_CHECK(contains(refused.error().message(), "invalid regex"));
  }
  CAF_CHECK(match("a(*SKIP)b|ac", "ab"));  // backtracking verbs elsewhere are fine
  // Unbounded recursion ends in an error too.
  auto recursive = key_pattern::compile("(?R)?a");
  CAF_REQUIRE(recursive.ok());
  CAF_CHECK(!recursive->matches(std::string(1000, 'a')).ok());
  // The pattern still works after a failed match on the same thread.
  CAF_CHECK(match(*nested, "xa"));
}

CAF_TEST(copies match on several threads at once) {
  auto p = key_pattern::compile("^user:(\\d+)$");
  CAF_REQUIRE(p.ok());
  std::atomic<int> matched{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = *p, t, &matched, &failed] {
      for (int i = 0; i < 2000; ++i) {
        auto r = copy.matches(i % 2 == 0 ? "user:" + std::to_string(i * t) : "user:x");
        if (!r.ok())
          ++failed;
        else if (*r)
          ++matched;
      }
    });
  }
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(failed.load(), 0);
  CAF_CHECK_EQUAL(matched.load(), 4000);
  auto copy = *p;
  CAF_CHECK(copy.shares_code_with(*p));
  CAF_CHECK(!key_pattern::compile("^user:(\\d+)$")->shares_code_with(*p));
}

CAF_TEST(cache returns the same compiled pattern) {
  key_pattern_cache cache(2);
  CAF_CHECK_EQUAL(cache.capacity(), 2u);
  auto a = cache.compile("a+");
  CAF_REQUIRE(a.ok());
  auto again = cache.compile("a+");
  CAF_REQUIRE(again.ok());
  CAF_CHECK(again->shares_code_with(*a));
  CAF_CHECK_EQUAL(cache.size(), 1u);
  // Least recently used goes first: "a+" was used after "b+", so "c+" evicts "b+".
  auto b = cache.compile("b+");
  CAF_CHECK(cache.compile("a+")->shares_code_with(*a));
  CAF_CHECK(cache.compile("c+").ok());
  CAF_CHECK_EQUAL(cache.size(), 2u);
  CAF_CHECK(cache.compile("a+")->shares_code_with(*a));
  CAF_CHECK(!cache.compile("b+")->shares_code_with(*b));  // recompiled
  CAF_CHECK(match(*b, "bb"));  // an evicted pattern still works for whoever holds it
  // Errors are returned every time and not cached.
  auto bad = cache.compile("(");
  CAF_CHECK(!bad.ok());
  CAF_CHECK(contains(cache.compile("(").error().message(), "invalid regex"));
  CAF_CHECK_EQUAL(cache.size(), 2u);
  // The empty pattern is cached like any other.
  CAF_CHECK(cache.compile("")->matches_all());
  key_pattern_cache none(0);
  CAF_CHECK(none.compile("x").ok());
  CAF_CHECK_EQUAL(none.size(), 0u);
  key_pattern_cache defaults;
  CAF_CHECK_EQUAL(defaults.capacity(), 64u);
  for (int i = 0; i < 100; ++i) CAF_REQUIRE(defaults.compile("k" + std::to_string(i)).ok());
  CAF_CHECK_EQUAL(defaults.size(), 64u);
}

CAF_TEST(cache is safe to share between threads) {
  key_pattern_cache cache(4);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, &wrong, t] {
      for (int i = 0; i < 500; ++i) {
        int n = (i * 7 + t) % 8;
        auto p = cache.compile("^k" + std::to_string(n) + "\\d$");
        if (!p.ok() || !*p->matches("k" + std::to_string(n) + "5") || *p->matches("k9x")) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(wrong.load(), 0);
  CAF_CHECK_LESS_OR_EQUAL(cache.size(), 4u);
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
