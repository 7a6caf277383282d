// The values a secondary index holds, encoded so that byte order is the order of "sort"
// (compare_for_sort in protocol/query.hpp), exactly: missing = null < numbers < strings < objects
// < arrays < booleans; numbers by exact value across integers, unsigned integers and doubles (1
// and 1.0 encode alike); strings by code point (UTF-8 byte order); objects member by member
// (name, then value) in their stored order; arrays element by element. Every encoding is
// self-delimiting (no encoding is a proper prefix of another), so an index key can be the
// encoded value followed by the document key and still sort by value first, then by key.
//
// Layout: one type byte, then
//   0x01 null / missing                    nothing more
//   0x02 negative number                   the 10 bytes of its magnitude (as 0x04), inverted
//   0x03 zero                              nothing more
//   0x04 positive number                   exponent + 1100 (2 bytes, big-endian), then the
//                                          64 bits after the leading 1 of its binary
//                                          significand, left-aligned (8 bytes, big-endian)
//   0x05 string                            the bytes, 0x00 written 0x00 0xFF, then 0x00 0x01
//   0x06 object                            per member 0x01, the name as a string body with its
//                                          terminator, the value; then 0x00
//   0x07 array                             the elements; then 0x00
//   0x08 false, 0x09 true                  nothing more
// Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace eventbase::protocol {

/// First bytes of the encodings of each type, for ranges over one type.
inline constexpr char kIndexNull = 0x01;
inline constexpr char kIndexNumbersBegin = 0x02;  // numbers are [0x02, 0x05)
inline constexpr char kIndexString = 0x05;        // strings are [0x05, 0x06)
inline constexpr char kIndexObject = 0x06;

/// Appends the encoding of `value` (nullptr: a missing value, encoded as null) to `out`.
void append_index_value(const nlohmann::ordered_json* value, std::string& out);

/// The encoding of `value` alone.
std::string index_value(const nlohmann::ordered_json& value);

/// The encoding of a string without its terminator: every string starting with `prefix`
/// encodes to something starting with this.
std::string index_string_prefix(std::string_view prefix);

/// The length of the encoded value at the start of `bytes`; 0 when it is malformed.
size_t index_value_size(std::string_view bytes);

/// The smallest byte string greater than every string starting with `bytes` ("" when there
/// is none: all bytes 0xFF).
std::string prefix_successor(std::string bytes);

/// The encoded values an index on the field `path` holds for `doc`, sorted and without
/// repeats: each value the path reaches as filters resolve it (filter.hpp resolve_field), an
/// array contributing its elements instead of itself; a missing field (nothing reached)
/// contributes null. So `{path: v}` matches `doc`, for v null, a boolean, a number or a
/// string, exactly when the encoding of v is among them. Returns whether the document makes
/// the index multikey: its path meets an array (then `doc` may hold several values, and the
/// value "sort" sees may differ from them).
bool index_entries(const nlohmann::ordered_json& doc, const std::vector<std::string>& path,
                   std::vector<std::string>& out);

}  // namespace eventbase::protocol
