#define CAF_SUITE document
#include "caf/test/unit_test.hpp"

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/event.hpp"
#include "protocol/json_msgpack.hpp"
#include "protocol/record.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using nlohmann::json;

namespace {

// `depth` nested arrays around 1: "[[[1]]]" for 3.
std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + "1" + std::string(depth, ']');
}

// The same as msgpack: array-32 headers of one element each, then 1.
std::string nested_msgpack(size_t depth) {
  std::string out;
  for (size_t i = 0; i < depth; ++i) out += std::string("\xdd\x00\x00\x00\x01", 5);
  out += '\x01';
  return out;
}

}  // namespace

CAF_TEST(documents up to the limit are accepted) {
  CAF_CHECK(validate_document("1").ok());
  CAF_CHECK(validate_document(R"({"a":[{"b":null}]})").ok());
  CAF_CHECK(validate_document(nested_arrays(kMaxDocumentDepth)).ok());
  auto parsed = parse_document(nested_arrays(kMaxDocumentDepth));
  CAF_REQUIRE(parsed.ok());
  CAF_CHECK_EQUAL(document_depth(*parsed), kMaxDocumentDepth);
  CAF_CHECK_EQUAL(document_depth(json(1)), 0u);
  CAF_CHECK_EQUAL(document_depth(json::parse(R"({"a":[1]})")), 2u);
}

CAF_TEST(deeper documents are refused naming the limit) {
  for (size_t depth : {kMaxDocumentDepth + 1, size_t{100000}}) {
    auto st = validate_document(nested_arrays(depth));
    CAF_CHECK_EQUAL(st.code(), errc::invalid_argument);
    CAF_CHECK_NOT_EQUAL(st.message().find("512"), std::string::npos);
    CAF_CHECK_EQUAL(parse_document(nested_arrays(depth)).error().code(), errc::invalid_argument);
  }
  // Objects count as well.
  std::string objects;
  for (size_t i = 0; i <= kMaxDocumentDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kMaxDocumentDepth + 1, '}');
  CAF_CHECK_EQUAL(validate_document(objects).code(), errc::invalid_argument);
  // A tree built in memory is measured without recursion and without going all the way down.
  json deep = 1;
  for (int i = 0; i < 100000; ++i) deep = json::array({std::move(deep)});
  CAF_CHECK_EQUAL(document_depth(deep), kMaxDocumentDepth + 1);
}

CAF_TEST(invalid json is refused) {
  for (const char* text : {"", "{", "[1,]", "{\"a\" 1}", "nul", "1 2"})
    CAF_CHECK_EQUAL(validate_document(text).code(), errc::invalid_argument);
}

CAF_TEST(events with too deep documents are malformed and do not crash) {
  std::string payload =
      R"({"type":"PUT","id":"k","data":)" + nested_arrays(100000) + R"(,"timestamp":1})";
  auto ev = decode_event(payload);
  CAF_REQUIRE(!ev.ok());
  CAF_CHECK_EQUAL(ev.error().code(), errc::corrupt);
  CAF_CHECK_NOT_EQUAL(ev.error().message().find("512"), std::string::npos);
  std::string fits =
      R"({"type":"PUT","id":"k","data":)" + nested_arrays(kMaxDocumentDepth) + R"(,"timestamp":1})";
  auto ok = decode_event(fits);
  CAF_REQUIRE(ok.ok());
  CAF_CHECK_EQUAL(document_depth(decode_document(ok->data_msgpack).value()), kMaxDocumentDepth);
}

CAF_TEST(stored documents deeper than the limit do not decode) {
  json out;
  CAF_CHECK(msgpack_to_json(nested_msgpack(kMaxDocumentDepth), out, kMaxDocumentDepth));
  CAF_CHECK(!msgpack_to_json(nested_msgpack(kMaxDocumentDepth + 1), out, kMaxDocumentDepth));
  CAF_CHECK(!msgpack_to_json(nested_msgpack(100000), out, kMaxDocumentDepth));
  CAF_CHECK_EQUAL(decode_document(nested_msgpack(100000)).error().code(), errc::corrupt);
}
