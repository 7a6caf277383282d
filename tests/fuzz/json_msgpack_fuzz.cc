// Fuzz target: JSON text -> msgpack through nlohmann's SAX parser into protocol::msgpack_builder
// (how an event's document is stored), then back with msgpack_to_json. Valid JSON must round
// trip to what nlohmann::json::parse reads, with the key order (and the handling of repeated
// keys) of nlohmann's own ordered_json parser, and nlohmann's own msgpack reader must agree;
// documents nested deeper than the limit are refused, and only those. The document written as
// JavaScript writes it (js_json.hpp) parses back to the same document.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "protocol/document.hpp"
#include "protocol/js_json.hpp"
#include "protocol/json_msgpack.hpp"

using eventbase::protocol::kMaxDocumentDepth;
using eventbase::protocol::msgpack_builder;
using nlohmann::json;
using nlohmann::ordered_json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string msgpack;
  msgpack_builder b(msgpack, kMaxDocumentDepth);
  bool sax_ok = json::sax_parse(text.begin(), text.end(), &b);
  json expected = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (b.too_deep()) {  // refused for its depth, and only then
    FUZZ_CHECK(!sax_ok && eventbase::protocol::document_depth(expected) > kMaxDocumentDepth);
    return 0;
  }
  FUZZ_CHECK(sax_ok == !expected.is_discarded());
  if (!sax_ok) return 0;
  FUZZ_CHECK(b.complete());
  ordered_json back;
  FUZZ_CHECK(eventbase::protocol::msgpack_to_json(msgpack, back, kMaxDocumentDepth));
  FUZZ_CHECK(json(back) == expected);
  // nlohmann's ordered parser is quadratic in an object's keys, fine at fuzzing sizes.
  ordered_json in_order = ordered_json::parse(text.begin(), text.end(), nullptr, false);
  FUZZ_CHECK(back == in_order);
  json theirs = json::from_msgpack(msgpack, /*strict=*/true, /*allow_exceptions=*/false);
  FUZZ_CHECK(!theirs.is_discarded() && theirs == expected);
  auto js = eventbase::protocol::canonical_document(text);
  FUZZ_CHECK(js.ok());
  auto again = eventbase::protocol::parse_document(*js);
  FUZZ_CHECK(again.ok() && *again == back);
  FUZZ_CHECK(eventbase::protocol::canonical_document(*js).value() == *js);  // a fixed point
  return 0;
}
