#include "protocol/key_pattern.hpp"

#include <cstring>

namespace eventbase::protocol {

std::string regex_literal_prefix(std::string_view pattern) {
  if (pattern.empty() || pattern[0] != '^') return {};
  // A top-level alternation ("^a|b") would make the anchor apply to one branch only. Inside a
  // character class every character but an escape and the closing ']' is literal: "[(]" opens
  // no group, and "[]" is an empty class.
  int depth = 0;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == '|' && depth <= 0) {
      return {};
    }
  }
  std::string prefix;
  for (size_t i = 1; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (std::strchr("\\^$.|?*+()[]{}", c) != nullptr) {
      // A quantifier applies to the previous character, which is then not a required literal.
      if ((c == '?' || c == '*' || c == '{') && !prefix.empty()) prefix.pop_back();
      break;
    }
    prefix += c;
  }
  return prefix;
}

result<key_pattern> key_pattern::compile(std::string pattern) {
  key_pattern out;
  out.pattern_ = std::move(pattern);
  if (out.pattern_.empty()) return out;
  try {
    out.regex_ = std::make_shared<const std::regex>(out.pattern_, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return status(errc::invalid_argument,
                  "invalid regex '" + out.pattern_ + "': " + std::string(e.what()));
  }
  out.prefix_ = regex_literal_prefix(out.pattern_);
  if (out.pattern_.size() == out.prefix_.size() + 1) {
    // "^user:": matching is a prefix test.
    out.prefix_only_ = true;
    out.regex_.reset();
  }
  return out;
}

bool key_pattern::matches(std::string_view key) const {
  if (prefix_only_) return key.substr(0, prefix_.size()) == prefix_;
  if (!regex_) return true;
  return std::regex_search(key.begin(), key.end(), *regex_);
}

}  // namespace eventbase::protocol
