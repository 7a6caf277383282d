// Documents as JSON text, checked before anything recursive touches them.
//
// A document may be any JSON value nested at most kMaxDocumentDepth levels deep (arrays and
// objects count one level each; `1` is 0 levels, `[1]` one, `{"a":[1]}` two). The limit keeps
// every reader safe: serialising, comparing and converting JSON trees recurse once per level,
// and a document of 100,000 nested arrays would overflow the stack of any process that reads
// it. Parsing here never recurses (nlohmann's SAX parser keeps its own stack).
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "eventbase/status.hpp"

namespace eventbase::protocol {

/// The deepest nesting a document may have.
inline constexpr size_t kMaxDocumentDepth = 512;

/// ok when `text` is one JSON value nested at most kMaxDocumentDepth levels; otherwise
/// invalid_argument: "... is not valid JSON" or "... nests deeper than 512 levels".
status validate_document(std::string_view text);

/// Parses `text` as a document with the checks of validate_document.
result<nlohmann::json> parse_document(std::string_view text);

/// The nesting depth of `value`, counted without recursion; stops counting at `limit` + 1.
size_t document_depth(const nlohmann::json& value, size_t limit = kMaxDocumentDepth);

/// "the document nests deeper than 512 levels"
status too_deep_error();

}  // namespace eventbase::protocol
