// Fuzz target: protocol::key_pattern::compile(pattern) and matches(key), the `keys` regex a
// client sends. The input is "pattern\nkey" (keys are at most 1024 bytes, as the API enforces).
// A key that matches must start with the pattern's literal prefix, which scans seek to.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "protocol/key_pattern.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view pattern = input.substr(0, nl);
  std::string_view key = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  if (key.size() > 1024) return 0;
  auto p = eventbase::protocol::key_pattern::compile(std::string(pattern));
  if (!p.ok()) return 0;
  auto m = p->matches(key);
  if (!m.ok()) return 0;  // a limit was hit: an error, which is the point of the limits
  if (p->matches_all()) FUZZ_CHECK(*m);
  if (*m) FUZZ_CHECK(key.substr(0, p->literal_prefix().size()) == p->literal_prefix());
  return 0;
}
