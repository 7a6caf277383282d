// How the storage layer writes numbers and stream key prefixes (see database.hpp for the layout;
// internal to storage/).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eventbase::storage {

/// `value` as 8 bytes, big-endian, so that byte order is numeric order.
inline std::string encode_u64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
  return out;
}

/// The value of 8 big-endian bytes; nullopt for any other length.
inline std::optional<uint64_t> decode_u64(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  uint64_t value = 0;
  for (unsigned char c : bytes) value = (value << 8) | c;
  return value;
}

/// The prefix of every key of the stream with `id`; the key that is the prefix alone holds the
/// stream's applied sequence.
inline std::string stream_prefix(uint64_t id) {
  return encode_u64(id);
}

}  // namespace eventbase::storage
