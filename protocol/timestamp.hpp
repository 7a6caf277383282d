// ISO-8601 UTC timestamps with millisecond precision ("2024-12-07T10:00:00.123Z"), the format of
// the `dateCreated` / `dateModified` metadata, converted to and from milliseconds since the epoch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eventbase::protocol {

/// Milliseconds since the Unix epoch, now, from the system clock.
int64_t now_ms();

/// "YYYY-MM-DDTHH:MM:SS.mmmZ" for any instant from year 0 to 9999.
std::string format_iso8601_ms(int64_t ms_since_epoch);

/// Parses exactly the format above (the 'Z' is required); nullopt for anything else.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);

/// Parses an RFC 3339 UTC time as JetStream writes message times ("2024-12-07T10:00:00Z",
/// "2024-12-07T10:00:00.123456789Z": 0 to 9 fraction digits), truncated to milliseconds;
/// nullopt for anything else.
std::optional<int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace eventbase::protocol
