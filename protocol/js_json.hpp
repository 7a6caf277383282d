// JSON text exactly as JavaScript writes it: what JSON.stringify returns for the value that
// JSON.parse makes of the same JSON. Eventbase writes every document and event this way, so that
// an event it publishes is byte for byte the one the JavaScript library would publish for the
// same document (doc/wire-format.md "Documents"), and `eventbase get` prints what
// `JSON.stringify(await db.get(key))` prints.
//
// - No white space; members in the order of the value (nlohmann::ordered_json keeps the order
//   they were written in). JavaScript would put integer-like keys ("0", "7", "42") first, in
//   ascending order, because its objects order them so: Eventbase does not (README "Key order").
// - Numbers: integers with all their digits (JavaScript would round those beyond 2^53 to a
//   double); other numbers as Number.prototype.toString writes them: the shortest digits that
//   read back as the same double, plain up to 21 digits before the point and down to 6 zeros
//   after it ("100000000000000000000", "0.000001"), otherwise with an exponent ("1e+21",
//   "1e-7", "1.5e-7"); -0 as "0". NaN and the infinities, which JSON lacks, as null.
// - Strings: `"` `\` and the control characters U+0000..U+001F escaped (\b \t \n \f \r, the
//   others as \u00xx), everything else as UTF-8, unescaped ("/", U+007F, U+2028 included).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "eventbase/status.hpp"
#include "protocol/document.hpp"

namespace eventbase::protocol {

/// What to do with a string that is not valid UTF-8 (JavaScript strings cannot hold one).
enum class invalid_utf8 {
  refuse,   // fail with invalid_argument: input that cannot be a JavaScript value
  replace,  // write each maximal invalid subpart as U+FFFD, as a JavaScript decoder reads it
};

/// Appends `value` to `out` as JSON.stringify writes it. Fails (and leaves `out` in an
/// unspecified state) with invalid_argument when `value` nests deeper than `max_depth` levels
/// (too_deep_error()), holds a binary or discarded value, or, with invalid_utf8::refuse, a
/// string or key that is not valid UTF-8. Recurses once per level, at most `max_depth` times.
status stringify(const nlohmann::ordered_json& value, std::string& out,
                 invalid_utf8 policy = invalid_utf8::refuse, size_t max_depth = kMaxDocumentDepth);

/// Appends `value` as Number.prototype.toString writes it (null for NaN and the infinities).
void append_js_number(double value, std::string& out);

/// Appends `text` as a JSON string literal, escaped as JSON.stringify escapes it. With
/// invalid_utf8::refuse, returns false (appending nothing) when `text` is not valid UTF-8.
bool append_js_string(std::string_view text, std::string& out,
                      invalid_utf8 policy = invalid_utf8::refuse);

}  // namespace eventbase::protocol
