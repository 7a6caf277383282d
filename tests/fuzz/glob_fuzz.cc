// Fuzz target: protocol::glob(pattern).matches(key), the subscription filter a client sends.
// The input is "pattern\nkey". Checked against a plain dynamic-programming matcher.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "protocol/glob.hpp"

namespace {

// '*' matches any run of characters, everything else itself, anchored at both ends.
bool reference_match(std::string_view pattern, std::string_view key) {
  // row[j]: pattern[0, i) matches key[0, j).
  std::vector<char> row(key.size() + 1, 0);
  row[0] = 1;
  for (char p : pattern) {
    std::vector<char> next(key.size() + 1, 0);
    if (p == '*') {
      char any = 0;
      for (size_t j = 0; j <= key.size(); ++j) next[j] = any = static_cast<char>(any | row[j]);
    } else {
      for (size_t j = 1; j <= key.size(); ++j) next[j] = row[j - 1] && key[j - 1] == p;
    }
    row.swap(next);
  }
  return row[key.size()] != 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view pattern = input.substr(0, nl);
  std::string_view key = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  eventbase::protocol::glob g{std::string(pattern)};
  bool matched = g.matches(key);
  FUZZ_CHECK(g.matches(pattern));  // '*' matches a literal '*' too
  if (pattern.size() * key.size() <= 1'000'000)
    FUZZ_CHECK(matched == reference_match(pattern, key));
  return 0;
}
