// Standard base64 (RFC 4648 alphabet A-Z a-z 0-9 + /, '=' padding), as Node's
// Buffer.toString('base64') writes it. Keys travel in subjects in this form (doc/wire-format.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace eventbase::protocol {

std::string base64_encode(std::string_view bytes);

/// The decoded bytes, or nullopt when `text` is not canonical padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace eventbase::protocol
