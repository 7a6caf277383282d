// Fuzz target: JSON text -> msgpack through nlohmann's SAX parser into protocol::msgpack_builder
// (how an event's document is stored), then back with msgpack_to_json. Valid JSON must round
// trip to what nlohmann::json::parse reads, and nlohmann's own msgpack reader must agree;
// documents nested deeper than the limit are refused, and only those.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "protocol/document.hpp"
#include "protocol/json_msgpack.hpp"

using eventbase::protocol::kMaxDocumentDepth;
using nlohmann::json;

namespace {

// The two SAX events msgpack_builder leaves out (JSON text has no binary values).
struct builder : eventbase::protocol::msgpack_builder {
  using msgpack_builder::msgpack_builder;
  bool binary(json::binary_t&) { return false; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string msgpack;
  builder b(msgpack, kMaxDocumentDepth);
  bool sax_ok = json::sax_parse(text.begin(), text.end(), &b);
  json expected = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (b.too_deep()) {  // refused for its depth, and only then
    FUZZ_CHECK(!sax_ok && eventbase::protocol::document_depth(expected) > kMaxDocumentDepth);
    return 0;
  }
  FUZZ_CHECK(sax_ok == !expected.is_discarded());
  if (!sax_ok) return 0;
  FUZZ_CHECK(b.complete());
  json back;
  FUZZ_CHECK(eventbase::protocol::msgpack_to_json(msgpack, back, kMaxDocumentDepth));
  FUZZ_CHECK(back == expected);
  json theirs = json::from_msgpack(msgpack, /*strict=*/true, /*allow_exceptions=*/false);
  FUZZ_CHECK(!theirs.is_discarded() && theirs == expected);
  return 0;
}
