// UTF-8 as JavaScript reads it: well-formed characters (RFC 3629: no overlong forms, no
// surrogates, at most U+10FFFF), and for bytes that are not, the maximal subparts a decoder
// replaces by one U+FFFD each (the WHATWG / Unicode practice that JavaScript's TextDecoder and
// Node's Buffer follow). Used wherever bytes from a peer become text: keys matched by regexes,
// JSON strings written out.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace eventbase::protocol {

/// The UTF-8 sequence starting at s[i] (i < s.size()): a well-formed character, or the
/// maximal subpart of one (`valid` false), which a decoder replaces by a single U+FFFD.
struct utf8_unit {
  size_t length;  // >= 1
  bool valid;
};
utf8_unit utf8_next(std::string_view s, size_t i);

/// Length of the well-formed UTF-8 character at s[i], or 0 when there is none.
size_t utf8_length(std::string_view s, size_t i);

/// Index of the first byte of `s` that does not start a well-formed character, or s.size().
/// Fast on ASCII: eight bytes at a time.
size_t first_invalid_utf8(std::string_view s);

/// `s` with each maximal invalid subpart from index `bad` on (first_invalid_utf8(s)) replaced
/// by U+FFFD, written to `out`; returns a view of `out`.
std::string_view replace_invalid_utf8(std::string_view s, size_t bad, std::string& out);

}  // namespace eventbase::protocol
