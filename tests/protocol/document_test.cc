#define CAF_SUITE document
#include "caf/test/unit_test.hpp"

#include <iterator>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/event.hpp"
#include "protocol/js_json.hpp"
#include "protocol/json_msgpack.hpp"
#include "protocol/record.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using nlohmann::json;
using nlohmann::ordered_json;

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

// The key of the member at `index` of an object (ordered_json's iterators take no offsets).
std::string key_at(const ordered_json& object, size_t index) {
  return object.get_ref<const ordered_json::object_t&>().data()[index].first;
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
  nlohmann::ordered_json out;
  CAF_CHECK(msgpack_to_json(nested_msgpack(kMaxDocumentDepth), out, kMaxDocumentDepth));
  CAF_CHECK(!msgpack_to_json(nested_msgpack(kMaxDocumentDepth + 1), out, kMaxDocumentDepth));
  CAF_CHECK(!msgpack_to_json(nested_msgpack(100000), out, kMaxDocumentDepth));
  CAF_CHECK_EQUAL(decode_document(nested_msgpack(100000)).error().code(), errc::corrupt);
}

// What nlohmann's own ordered_json parser makes of the same text (quadratic in the members of
// an object, fine for these small cases): the same members in the same order.
CAF_TEST(parsed documents keep their key order) {
  for (const char* text :
       {R"({"zeta":1,"alpha":2,"mid":{"b":1,"a":2}})", R"([{"b":[{"d":1,"c":2}],"a":null}])",
        R"({"10":1,"2":2,"b":3,"a":4})", R"({"a":1,"b":2,"a":3})",
        R"({"x":{"p":1},"y":2,"x":{"q":[1,{"s":1,"r":2}]}})", "{}", "[]", R"("s")", "1.5"}) {
    auto parsed = parse_document(text);
    CAF_REQUIRE(parsed.ok());
    CAF_CHECK_EQUAL(parsed->dump(), ordered_json::parse(text).dump());
  }
}

// A key written twice keeps its first position and its last value, as JSON.parse does; found
// in linear time however many keys an object has.
CAF_TEST(repeated keys keep their first position and last value) {
  auto small = parse_document(R"({"a":1,"b":{"x":1},"a":{"y":2}})").value();
  CAF_CHECK_EQUAL(small.dump(), R"({"a":{"y":2},"b":{"x":1}})");
  std::string text = "{";
  for (int i = 0; i < 1000; ++i)
    text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  text += R"("k500":"last","k0":"again"})";
  auto large = parse_document(text).value();
  CAF_REQUIRE_EQUAL(large.size(), 1000u);
  CAF_CHECK_EQUAL(key_at(large, 0), "k0");
  CAF_CHECK_EQUAL(large["k0"], "again");
  CAF_CHECK_EQUAL(large["k500"], "last");
  CAF_CHECK_EQUAL(key_at(large, 500), "k500");
  CAF_CHECK_EQUAL(key_at(large, 999), "k999");
}

// 200,000 distinct keys in one object: nlohmann's ordered_json parser would compare about
// 2 * 10^10 keys; this is linear (plus a sort).
CAF_TEST(objects with many keys parse in linear time) {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) text += "\"key" + std::to_string(i) + "\":1,";
  text.back() = '}';
  auto parsed = parse_document(text);
  CAF_REQUIRE(parsed.ok());
  CAF_CHECK_EQUAL(parsed->size(), 200000u);
  CAF_CHECK_EQUAL(key_at(*parsed, 199999), "key199999");
}

// msgpack counts come from the input: a container that claims more elements than the input
// could hold is refused before anything is reserved for it.
CAF_TEST(msgpack counts beyond the input are refused) {
  ordered_json out;
  // A map and an array claiming 2^32 - 1 entries, each in 6 bytes.
  CAF_CHECK(!msgpack_to_json(std::string("\xdf\xff\xff\xff\xff\xc0", 6), out, kMaxDocumentDepth));
  CAF_CHECK(!msgpack_to_json(std::string("\xdd\xff\xff\xff\xff\xc0", 6), out, kMaxDocumentDepth));
  // 500 nested arrays each claiming 2^32 - 1 elements: refused at once, no memory reserved.
  std::string nested;
  for (int i = 0; i < 500; ++i) nested += std::string("\xdd\xff\xff\xff\xff", 5);
  CAF_CHECK(!msgpack_to_json(nested, out, kMaxDocumentDepth));
  // Maps need string keys.
  CAF_CHECK(!msgpack_to_json(std::string("\x81\x01\x02", 3), out, kMaxDocumentDepth));
  CAF_CHECK(msgpack_to_json(std::string("\x81\xa1k\x02", 4), out, kMaxDocumentDepth));
  CAF_CHECK_EQUAL(out.dump(), R"({"k":2})");
}

// What the JS library publishes for the same document: Node 20's JSON.stringify(JSON.parse(x)).
CAF_TEST(canonical documents are what javascript writes) {
  std::pair<const char*, const char*> cases[] = {
      {R"({"zeta":1,"alpha":2,"mid":{"b":1,"a":2}})",
       R"({"zeta":1,"alpha":2,"mid":{"b":1,"a":2}})"},
      {R"({ "b" : [ 1.0 , 2.50, -0, 1E2, 1e-7 ], "a" : "\u00e9\/\u2028" })",
       "{\"b\":[1,2.5,0,100,1e-7],\"a\":\"\xC3\xA9/\xE2\x80\xA8\"}"},
      {R"({"a":1,"b":{"x":1},"a":{"y":2}})", R"({"a":{"y":2},"b":{"x":1}})"},
      {R"([12345678901234567000,0.1,1e21,123e-20,-1.5e300,5e-324])",
       R"([12345678901234567000,0.1,1e+21,1.23e-18,-1.5e+300,5e-324])"},
      {R"("\u0000\u001f\u007f")", "\"\\u0000\\u001f\x7f\""},
  };
  for (auto& [text, js] : cases) CAF_CHECK_EQUAL(canonical_document(text).value(), js);
  CAF_CHECK_EQUAL(canonical_document("{").error().code(), errc::invalid_argument);
  auto deep = canonical_document(nested_arrays(kMaxDocumentDepth + 1));
  std::string why = deep.ok() ? "" : deep.error().message();
  CAF_CHECK_EQUAL(why, "the document nests deeper than 512 levels");
}

namespace {

// A random document of C++ values, with what parsed text never holds: negative integers as
// number_integer, integral and special doubles (-0, NaN, infinities, 2^53 + 1), the extremes of
// 64-bit integers, control characters and multi-byte UTF-8 in keys and strings.
ordered_json random_document(std::mt19937_64& rng, int depth) {
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  auto text = [&] {
    static const char* const pieces[] = {"a",    "Z",        "\"",           "\\",
                                         "/",    "\n",       "\x01",         "\x1f",
                                         "\x7f", "\xC3\xA9", "\xE2\x80\xA8", "\xF0\x9F\x98\x80",
                                         " ",    "0"};
    std::string out;
    for (size_t n = pick(6); n > 0; --n) out += pieces[pick(std::size(pieces))];
    return out;
  };
  static const double doubles[] = {0.0,
                                   -0.0,
                                   1.0,
                                   2.5,
                                   -1.5e300,
                                   5e-324,
                                   1e21,
                                   1e-7,
                                   0.1,
                                   123e-20,
                                   1e300,
                                   9007199254740993.0,
                                   std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity()};
  switch (depth > 0 ? pick(10) : pick(7)) {
    case 0:
      return nullptr;
    case 1:
      return pick(2) == 0;
    case 2:
      return static_cast<int64_t>(rng());  // any sign, the extremes included
    case 3:
      return static_cast<uint64_t>(rng());
    case 4:
      return doubles[pick(std::size(doubles))];
    case 5:
      return std::numeric_limits<int64_t>::min();
    case 6:
      return text();
    case 7: {
      ordered_json out = ordered_json::array();
      for (size_t n = pick(4); n > 0; --n) out.push_back(random_document(rng, depth - 1));
      return out;
    }
    default: {
      ordered_json out = ordered_json::object();
      for (size_t n = pick(4); n > 0; --n) out[text()] = random_document(rng, depth - 1);
      return out;
    }
  }
}

}  // namespace

// The C++ API publishes stringify's text without parsing it again (actors::stringified_puts):
// that is only right if parsing it again would change nothing.
CAF_TEST(stringify writes what canonical_document makes of its text) {
  std::mt19937_64 rng(20261128);
  for (int i = 0; i < 20000; ++i) {
    auto doc = random_document(rng, 4);
    std::string text;
    CAF_REQUIRE(stringify(doc, text).ok());
    auto again = canonical_document(text);
    CAF_REQUIRE(again.ok());
    if (*again != text) CAF_FAIL("not a fixed point: " << text << " became " << *again);
  }
  // The depth limit is the same on both sides.
  auto deepest = parse_document(nested_arrays(kMaxDocumentDepth)).value();
  std::string text;
  CAF_CHECK(stringify(deepest, text).ok());
  CAF_CHECK_EQUAL(canonical_document(text).value(), text);
  ordered_json deeper = ordered_json::array({deepest});
  text.clear();
  auto refused = stringify(deeper, text);
  CAF_CHECK_EQUAL(refused.message(), "the document nests deeper than 512 levels");
  // What it cannot write, it refuses, as canonical_document refuses text that is not JSON.
  text.clear();
  CAF_CHECK_EQUAL(stringify(ordered_json("\xff"), text).code(), errc::invalid_argument);
  text.clear();
  CAF_CHECK_EQUAL(stringify(ordered_json::binary({1, 2}), text).code(), errc::invalid_argument);
}
