// Documents as JSON text, checked before anything recursive touches them, and as order-keeping
// trees.
//
// A document may be any JSON value nested at most kMaxDocumentDepth levels deep (arrays and
// objects count one level each; `1` is 0 levels, `[1]` one, `{"a":[1]}` two). The limit keeps
// every reader safe: serialising, comparing and converting JSON trees recurse once per level,
// and a document of 100,000 nested arrays would overflow the stack of any process that reads
// it. Parsing here never recurses (nlohmann's SAX parser keeps its own stack).
//
// Key order: a document is kept exactly as written. Its trees are nlohmann::ordered_json, whose
// objects keep their members in the order they were written; a key written twice in one object
// keeps its first position and its last value, as JavaScript's JSON.parse does. Parsing is
// linear in the text whatever it holds (nlohmann's own ordered_json parser searches each object
// for every member it adds: quadratic on an object with many keys).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "eventbase/status.hpp"

namespace eventbase::protocol {

/// The deepest nesting a document may have.
inline constexpr size_t kMaxDocumentDepth = 512;

/// ok when `text` is one JSON value nested at most kMaxDocumentDepth levels; otherwise
/// invalid_argument: "... is not valid JSON" or "... nests deeper than 512 levels".
status validate_document(std::string_view text);

/// Parses `text` as a document with the checks of validate_document, keeping its key order.
result<nlohmann::ordered_json> parse_document(std::string_view text);

/// Parses any JSON text nested at most `max_depth` levels (an event, which holds a document one
/// level down), with the errors and the key order of parse_document.
result<nlohmann::ordered_json> parse_json(std::string_view text, size_t max_depth);

/// The document `text` as JavaScript's JSON.stringify writes JSON.parse(text)
/// (protocol/js_json.hpp): the bytes the JavaScript library publishes for the same document.
/// Errors of validate_document.
result<std::string> canonical_document(std::string_view text);

/// The nesting depth of `value` (nlohmann::json or ordered_json), counted without recursion;
/// stops counting at `limit` + 1.
template <class Json>
size_t document_depth(const Json& value, size_t limit = kMaxDocumentDepth) {
  size_t deepest = 0;
  std::vector<std::pair<const Json*, size_t>> pending{{&value, 0}};
  while (!pending.empty()) {
    auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

/// "the document nests deeper than 512 levels"
status too_deep_error();

}  // namespace eventbase::protocol
