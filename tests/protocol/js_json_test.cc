// JSON.stringify's format (protocol/js_json.hpp): numbers, strings and trees written exactly as
// Node 20 writes them (every expected string below is Node's output for the same value).
#define CAF_SUITE js_json
#include "caf/test/unit_test.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/js_json.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using nlohmann::ordered_json;

namespace {

std::string js_number(double value) {
  std::string out;
  append_js_number(value, out);
  return out;
}

double from_bits(uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

std::string js(const ordered_json& value) {
  std::string out;
  auto st = stringify(value, out);
  return st.ok() ? out : "error: " + st.message();
}

}  // namespace

// Doubles by their bits, and what JSON.stringify writes for them.
CAF_TEST(numbers are written as javascript writes them) {
  std::pair<uint64_t, const char*> cases[] = {
      {0x3ff0000000000000, "1"},
      {0xbff0000000000000, "-1"},
      {0x3fb999999999999a, "0.1"},
      {0x3fe0000000000000, "0.5"},
      {0x3fd5555555555555, "0.3333333333333333"},
      {0xbfe5555555555555, "-0.6666666666666666"},
      {0x4059000000000000, "100"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x4415af1d78b58c40, "100000000000000000000"},
      {0x441ac53a7e04bcda, "123456789012345680000"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x3e7ad7f29abcaf48, "1e-7"},
      {0x3e8421f5f40d8376, "1.5e-7"},
      {0x3eb4b3fd5942cd96, "0.000001234"},
      {0x4340000000000000, "9007199254740992"},
      {0x43b0000000000000, "1152921504606847000"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0x0000000000000001, "5e-324"},
      {0x0010000000000000, "2.2250738585072014e-308"},
      {0x405edd2f1a9fbe77, "123.456"},
      {0xbeef75104d551d69, "-0.000015"},
      {0x4011666666666666, "4.35"},
      {0x3fd3333333333333, "0.3"},
      {0x430c6bf526340000, "1000000000000000"},
      {0x4341c37937e08000, "10000000000000000"},
      {0x4346345785d8a000, "12500000000000000"},
      {0x42dc1221836bd000, "123456789000000"},
  };
  for (auto& [bits, expected] : cases) CAF_CHECK_EQUAL(js_number(from_bits(bits)), expected);
  CAF_CHECK_EQUAL(js_number(0.0), "0");
  CAF_CHECK_EQUAL(js_number(-0.0), "0");
  CAF_CHECK_EQUAL(js_number(std::numeric_limits<double>::quiet_NaN()), "null");
  CAF_CHECK_EQUAL(js_number(std::numeric_limits<double>::infinity()), "null");
  // Integers keep all their digits (JavaScript would round those beyond 2^53).
  CAF_CHECK_EQUAL(js(ordered_json(uint64_t{18446744073709551615u})), "18446744073709551615");
  CAF_CHECK_EQUAL(js(ordered_json(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
}

CAF_TEST(strings are escaped as javascript escapes them) {
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls += static_cast<char>(c);
  CAF_CHECK_EQUAL(js(ordered_json(all_controls)),
                  R"("\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e)"
                  R"(\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a)"
                  R"(\u001b\u001c\u001d\u001e\u001f")");
  // Quotes and backslashes escaped; "/", DEL, U+2028 and everything else as it is.
  CAF_CHECK_EQUAL(js(ordered_json("a\"b\\c/d\x7f\xE2\x80\xA8\xC3\xA9\xF0\x9F\x8E\x89")),
                  "\"a\\\"b\\\\c/d\x7f\xE2\x80\xA8\xC3\xA9\xF0\x9F\x8E\x89\"");
  // Not UTF-8: refused, or read as a JavaScript decoder reads it (one U+FFFD per sequence).
  std::string bad = "a\xC3(\xF0\x9F\x8E";
  std::string out;
  CAF_CHECK(!append_js_string(bad, out));
  CAF_CHECK(out.empty());
  CAF_CHECK(append_js_string(bad, out, invalid_utf8::replace));
  CAF_CHECK_EQUAL(out, "\"a\xEF\xBF\xBD(\xEF\xBF\xBD\"");
  CAF_CHECK_EQUAL(js(ordered_json::object({{bad, 1}})),
                  "error: the document has a string that is not valid UTF-8");
}

CAF_TEST(trees keep their order and have no white space) {
  ordered_json doc = {{"zeta", 1}, {"alpha", {{"b", nullptr}, {"a", {true, false, 1.5, "x"}}}}};
  CAF_CHECK_EQUAL(js(doc), R"({"zeta":1,"alpha":{"b":null,"a":[true,false,1.5,"x"]}})");
  CAF_CHECK_EQUAL(js(ordered_json::object()), "{}");
  CAF_CHECK_EQUAL(js(ordered_json::array()), "[]");
  CAF_CHECK_EQUAL(js(ordered_json::binary({1, 2})),
                  "error: the document holds a binary value, which JSON cannot express");
}

// Serialising recurses once per level: deeper trees are refused, without recursing further.
CAF_TEST(trees deeper than the limit are refused) {
  ordered_json deep = 1;
  for (size_t i = 0; i < kMaxDocumentDepth; ++i) deep = ordered_json::array({std::move(deep)});
  CAF_CHECK_EQUAL(js(deep),
                  std::string(kMaxDocumentDepth, '[') + "1" + std::string(kMaxDocumentDepth, ']'));
  deep = ordered_json::array({std::move(deep)});
  CAF_CHECK_EQUAL(js(deep), "error: " + too_deep_error().message());
  std::string out;
  CAF_CHECK(stringify(deep, out, invalid_utf8::refuse, kMaxDocumentDepth + 1).ok());
}
