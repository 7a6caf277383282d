// How the storage layer writes numbers and stream key prefixes (see database.hpp for the layout;
// internal to storage/).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

/// A tombstone's value (stream_store.hpp): the DELETE's sequence and JetStream time (0 for a
/// tombstone written before the time was kept); nullopt when malformed.
inline std::optional<std::pair<uint64_t, int64_t>> decode_tombstone(std::string_view bytes) {
  if (bytes.size() != 8 && bytes.size() != 16) return std::nullopt;
  auto seq = decode_u64(bytes.substr(0, 8));
  auto time = bytes.size() == 16 ? decode_u64(bytes.substr(8)) : std::optional<uint64_t>(0);
  return std::make_pair(*seq, static_cast<int64_t>(*time));
}

/// The prefix of every key of the stream with `id`; the key that is the prefix alone holds the
/// stream's applied sequence.
inline std::string stream_prefix(uint64_t id) {
  return encode_u64(id);
}

}  // namespace eventbase::storage
