// The `keys(pattern)` filter (SPEC §3): an ECMAScript regular expression searched anywhere in
// the key, like JavaScript's String.prototype.match. The empty pattern matches every key.
//
// Implemented with std::regex in ECMAScript mode, which works on UTF-8 bytes rather than UTF-16
// code units: '.' matches one byte of a multi-byte character, and there is no 'u' flag, no
// lookbehind and no named groups. Patterns over ASCII behave as in JavaScript.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>

#include "eventbase/status.hpp"

namespace eventbase::protocol {

class key_pattern {
 public:
  /// invalid_argument naming the pattern and the regex error when it does not compile.
  static result<key_pattern> compile(std::string pattern);

  bool matches(std::string_view key) const;

  /// Every matching key starts with this (possibly empty) literal: "user:" for "^user:\d+".
  /// Lets a scan seek past the keys that cannot match.
  const std::string& literal_prefix() const { return prefix_; }

  /// True when the pattern matches every key (empty pattern), so no regex runs at all.
  bool matches_all() const { return regex_ == nullptr && !prefix_only_; }

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::string prefix_;
  bool prefix_only_ = false;  // the pattern is "^" and a literal: a prefix test, no regex
  std::shared_ptr<const std::regex> regex_;  // shared: patterns are copied into results
};

/// The literal text every match of `pattern` must start with; empty when it is not anchored
/// with a leading '^' or starts with a metacharacter. Exposed for tests.
std::string regex_literal_prefix(std::string_view pattern);

}  // namespace eventbase::protocol
