// The `keys(pattern)` filter: a JavaScript regular expression searched anywhere in the
// key, like String.prototype.match. The empty pattern matches every key.
//
// Patterns come from peers over the network, so they are hostile input. They are compiled with
// PCRE2 (8-bit, JIT when available) under fixed limits: a pattern longer than kMaxPatternBytes or
// nesting groups deeper than kMaxParensNesting is refused at compile time, and a match that
// exceeds kMatchLimit / kDepthLimit / kHeapLimitKiB / kJitStackMaxBytes stops with an
// invalid_argument error "regex too complex: ..." instead of running for minutes or overflowing
// the stack.
//
// Dialect: JavaScript as closely as PCRE2 10.42 allows (PCRE2_UTF, PCRE2_ALT_BSUX +
// PCRE2_EXTRA_ALT_BSUX, PCRE2_DOLLAR_ENDONLY, PCRE2_ALLOW_EMPTY_CLASS, PCRE2_MATCH_UNSET_BACKREF,
// PCRE2_NEVER_BACKSLASH_C, PCRE2_NEVER_UCP, newline ANYCRLF). As in JavaScript: `^` and `$`
// match only at the very start and end of the key (`$` not before a trailing "\n"); `.` matches
// any character except "\n" and "\r"; `\d`, `\w`, `\b` are ASCII; `[]` matches nothing and
// `[^]` any character; `\uXXXX`, `\u{X...}` and `\xHH` are escapes; lookahead, lookbehind, named
// groups and backreferences work, and a backreference to a group that did not participate
// matches the empty string.
// Differences from JavaScript (`new RegExp(pattern)`, no flags) that remain:
// - Keys are UTF-8 and matched by code point, like JavaScript's `u` flag: `.` and `[^a]` match
//   a whole character ("^.{4}$" matches "ключ", "^.$" matches "😀", which is two UTF-16 units
//   in JavaScript). `\u{...}` is always a code point escape (without `u`, JavaScript reads
//   `\u{41}` as 41 'u's), and surrogate escapes (`\uD83D\uDE00`) are errors.
// - Keys should be UTF-8, but a replica may hold foreign bytes: each maximal invalid sequence
//   reads as one U+FFFD, as JavaScript's TextDecoder would decode it ("a\xFFb" matches "^a.b$"
//   and "\uFFFD"). PCRE2_MATCH_INVALID_UTF is not used: in 10.42 its JIT fails `\D \S \W` on
//   non-ASCII characters (PCRE2Project/pcre2#224) and its interpreter mishandles `\z` (#343).
// - `\s` is ASCII whitespace only (space, \t \n \v \f \r); JavaScript's `\s` also matches
//   U+00A0, U+FEFF, U+2028/2029 and the other Unicode spaces. `.` matches U+2028 and U+2029.
// - `\v` is any vertical whitespace (\n \v \f \r U+0085 U+2028 U+2029), not only U+000B.
// - PCRE2 syntax that JavaScript lacks is accepted: possessive quantifiers (`a++`), atomic
//   groups, `\A \z \Z \G \K \Q...\E \h \R \X \p{..}`, inline options (`(?i)`, `(?x)`),
//   comments `(?#...)`, recursion, conditionals, backtracking verbs (`(*SKIP)`). Only the
//   start-of-pattern settings (`(*NO_JIT)`, `(*LIMIT_MATCH=..)`, `(*CR)`...) are refused.
// - An unknown escape (`\y`, also `\C`) or a backreference to a group that does not exist
//   (`\8`) is an error; JavaScript without `u` reads them as literal characters.
// - Lookbehind branches must have a fixed length (JavaScript allows any lookbehind).
// - Repetition counts are at most 65535 (`a{70000}` is an error).
// - Duplicate group names are an error (ES2025 allows them in different alternatives).
// - An empty class under a quantifier that allows zero (`[]?`, `[]*`) never matches: a PCRE2
//   10.42 bug (PCRE2Project/pcre2#509, fixed in 10.45); JavaScript matches the empty string.
//
// The match limits apply to one attempt at one start position, and a search tries every start
// position: one key costs at most about (its length) x kMatchLimit steps (about 1.5 ns a step
// with JIT, 25 ns in the interpreter, which runs only when JIT compilation fails). The limits do
// not bound a whole keys() scan, which multiplies that by the number of keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "eventbase/status.hpp"

namespace eventbase::protocol {

/// Longest pattern accepted, in bytes; a longer one is refused with "regex too complex".
inline constexpr size_t kMaxPatternBytes = 4096;
/// Deepest nesting of parentheses accepted (PCRE2's parens nest limit).
inline constexpr uint32_t kMaxParensNesting = 64;
/// Backtracking steps one match may take (PCRE2 match limit, interpreter and JIT).
inline constexpr uint32_t kMatchLimit = 1'000'000;
/// Nested backtracking points one interpreted match may hold (PCRE2 depth limit).
inline constexpr uint32_t kDepthLimit = 10'000;
/// Heap one interpreted match may use for its backtracking frames, in KiB (PCRE2 heap limit).
inline constexpr uint32_t kHeapLimitKiB = 4096;
/// Stack of a JIT-compiled match: reserved once per thread that matches, grown on demand.
inline constexpr size_t kJitStackStartBytes = 32 * 1024;
inline constexpr size_t kJitStackMaxBytes = 1024 * 1024;

/// A compiled pattern. Copies are cheap and share the compiled code; `matches` may be called
/// from several threads at once (each thread uses its own match scratch space).
class key_pattern {
 public:
  /// The empty pattern: matches every key.
  key_pattern();

  /// invalid_argument "invalid regex '<pattern>': <reason> at offset N" when it does not compile,
  /// or "regex too complex: ..." when it is longer than kMaxPatternBytes.
  static result<key_pattern> compile(std::string pattern);

  /// Whether the pattern occurs in `key`. invalid_argument "regex too complex: ..." when the
  /// match hit one of the limits above (the answer is then unknown).
  result<bool> matches(std::string_view key) const;

  /// Every matching key starts with this (possibly empty) literal: "user:" for "^user:\d+".
  /// Lets a scan seek past the keys that cannot match.
  const std::string& literal_prefix() const;

  /// True when the pattern matches every key ("" or "^"), so no regex runs at all.
  bool matches_all() const;

  const std::string& pattern() const;

  /// True when both are copies of one compilation (the cache hands out such copies).
  bool shares_code_with(const key_pattern& other) const { return impl_ == other.impl_; }

 private:
  struct compiled;  // in key_pattern.cc: holds the PCRE2 code
  explicit key_pattern(std::shared_ptr<const compiled> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const compiled> impl_;  // never null
};

/// Compiled patterns by pattern text, least recently used evicted beyond `capacity`. Safe to use
/// from several threads; failed compilations are not cached. A capacity of 0 caches nothing.
class key_pattern_cache {
 public:
  explicit key_pattern_cache(size_t capacity = 64);
  ~key_pattern_cache();
  key_pattern_cache(const key_pattern_cache&) = delete;
  key_pattern_cache& operator=(const key_pattern_cache&) = delete;

  /// The cached compilation of `pattern`, or a new one (then cached); errors as
  /// key_pattern::compile.
  result<key_pattern> compile(const std::string& pattern);

  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  struct state;
  const size_t capacity_;
  std::unique_ptr<state> state_;
};

/// The literal text every match of `pattern` must start with. Empty unless the pattern starts
/// with '^' and has no top-level '|'; it stops at the first metacharacter or escape other than
/// an escaped ASCII punctuation character, and a following `?`, `*` or `{` drops the last
/// character. Conservative: constructs it does not model (`\Q`, `(?#`, `(?x)`, `(*VERB)`, POSIX
/// classes) give an empty prefix. Exposed for tests.
std::string regex_literal_prefix(std::string_view pattern);

}  // namespace eventbase::protocol
