// Fuzz target: protocol::decode_record and decode_document over any bytes, as a record arrives in
// an `entry` from a remote CAF node (or from a damaged replica). What decodes must re-encode to
// the same record, and print as JSON that parses.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "protocol/document.hpp"
#include "protocol/js_json.hpp"
#include "protocol/record.hpp"

using namespace eventbase::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto view = decode_record(bytes);
  if (!view.ok()) return 0;
  FUZZ_CHECK(!view->data_msgpack.empty());
  auto meta_json = meta_to_json(view->m);  // what a reader shows of the header
  FUZZ_CHECK(meta_json.size() == 3);
  auto doc = decode_document(view->data_msgpack);
  if (!doc.ok()) return 0;
  std::string msgpack;
  append_msgpack(*doc, msgpack);
  std::string record = encode_record(view->m, view->sequence, msgpack);
  auto again = decode_record(record);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->m == view->m && again->sequence == view->sequence);
  FUZZ_CHECK(again->data_msgpack == msgpack);
  // Encoding what was decoded is stable (compared as bytes: a document may hold NaN).
  std::string twice;
  append_msgpack(decode_document(again->data_msgpack).value(), twice);
  FUZZ_CHECK(twice == msgpack);
  // What a reader prints of it (eventbase get / watch) is JSON that parses again, whatever
  // bytes its strings hold.
  std::string text;
  FUZZ_CHECK(stringify(*doc, text, invalid_utf8::replace).ok());
  FUZZ_CHECK(parse_document(text).ok());
  return 0;
}
