#define CAF_SUITE record
#include "caf/test/unit_test.hpp"

#include <nlohmann/json.hpp>

#include "protocol/record.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

std::string msgpack_of(const json& value) {
  std::string out;
  append_msgpack(value, out);
  return out;
}

}  // namespace

CAF_TEST(round trips meta sequence and document) {
  json doc = {{"name", "Ada"}, {"tags", {1, 2.5, "x", nullptr, true}}, {"nested", {{"k", "v"}}}};
  meta m{-5, 1733565600123, 7};
  auto bytes = encode_record(m, 123456789012ULL, msgpack_of(doc));
  auto view = decode_record(bytes);
  CAF_REQUIRE(view.ok());
  CAF_CHECK_EQUAL(view->m, m);
  CAF_CHECK_EQUAL(view->sequence, 123456789012ULL);
  CAF_CHECK_EQUAL(decode_document(view->data_msgpack).value(), doc);
}

CAF_TEST(round trips every json type) {
  for (json doc : {json(nullptr), json(true), json(-1), json(18446744073709551615ULL), json(0.1),
                   json("text \xF0\x9F\x8E\x89"), json::array(), json::object()}) {
    auto bytes = encode_record(meta{1, 2, 3}, 4, msgpack_of(doc));
    auto view = decode_record(bytes);  // views into `bytes`
    CAF_REQUIRE(view.ok());
    CAF_CHECK_EQUAL(decode_document(view->data_msgpack).value(), doc);
  }
}

CAF_TEST(rejects corrupt records) {
  auto good = encode_record(meta{1, 2, 3}, 4, msgpack_of(json(1)));
  CAF_CHECK_EQUAL(decode_record("").error().code(), errc::corrupt);
  CAF_CHECK_EQUAL(decode_record(good.substr(0, 3)).error().code(), errc::corrupt);
  std::string other_format = good;
  other_format[1] = 2;  // after the array header: a future format number
  CAF_CHECK_EQUAL(decode_record(other_format).error().code(), errc::corrupt);
  CAF_CHECK_EQUAL(decode_document("\xc1").error().code(), errc::corrupt);  // reserved byte
}

// Found by tests/fuzz/record_fuzz: an array header claiming 4 billion elements in a few bytes
// made the decoder reserve 64 GB before reading any element.
CAF_TEST(rejects documents whose counts exceed the input) {
  for (std::string doc :
       {std::string("\xdd\xff\xff\xff\xff\xc0", 6), std::string("\x91\xdd\xa1\x61\xdd\x00", 6)}) {
    CAF_CHECK_EQUAL(decode_document(doc).error().code(), errc::corrupt);
  }
  // An honest count still decodes.
  CAF_CHECK_EQUAL(decode_document(std::string("\xdd\x00\x00\x00\x02\xc0\xc3", 7)).value(),
                  json({nullptr, true}));
}

CAF_TEST(meta renders as iso dates) {
  auto j = meta_to_json(meta{1733565600123, 1733565600124, 2});
  CAF_CHECK_EQUAL(j["dateCreated"], "2024-12-07T10:00:00.123Z");
  CAF_CHECK_EQUAL(j["dateModified"], "2024-12-07T10:00:00.124Z");
  CAF_CHECK_EQUAL(j["changes"], 2);
}
