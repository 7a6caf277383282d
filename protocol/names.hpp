// Validation of the names users choose: keys and stream names.
//
// Limits are part of the contract (README "Limits"): a key is a non-empty, valid UTF-8 string of
// at most kMaxKeyBytes bytes; any character is allowed, because keys travel base64-encoded in
// subjects. A stream name becomes a JetStream stream name, a subject token and a RocksDB column
// family, so it is restricted to what NATS allows in a subject token and a file name.
#pragma once

#include <cstddef>
#include <string_view>

#include "eventbase/status.hpp"

namespace eventbase::protocol {

/// Longest key in bytes. Its base64 form (1368 bytes) plus the stream name fits well inside the
/// NATS protocol's 4 KiB control line.
inline constexpr size_t kMaxKeyBytes = 1024;

/// Longest stream name in bytes (JetStream allows 255; the stats suffix needs room).
inline constexpr size_t kMaxStreamNameBytes = 200;

/// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// ok, or invalid_argument / too_large naming the problem.
status validate_key(std::string_view key);

/// ok, or invalid_argument naming the offending character. Allowed: printable ASCII except
/// space . * > / \ and the DEL character; at most kMaxStreamNameBytes bytes.
status validate_stream_name(std::string_view name);

}  // namespace eventbase::protocol
