#define CAF_SUITE event
#include "caf/test/unit_test.hpp"

#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "protocol/event.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

json document_of(const decoded_event& ev) {
  return decode_document(ev.data_msgpack).value();
}

}  // namespace

CAF_TEST(subjects use base64 keys) {
  CAF_CHECK_EQUAL(put_subject("orders", "user1"), "orders.dXNlcjE=-put");
  CAF_CHECK_EQUAL(delete_subject("orders", "a.b*c>d"), "orders.YS5iKmM+ZA==-delete");
}

// The JS library writes JSON.stringify({type, id, data, timestamp}); Eventbase's payloads are
// the same bytes (the expected strings are Node 20's output for the same event).
CAF_TEST(payloads match json stringify) {
  std::string key = "k\"\\\n\x01\xC3\xA9";
  auto put = encode_put_payload(key, R"({"a":[1,2.5,"x"],"b":null})", 1733565600123);
  CAF_CHECK_EQUAL(put, R"({"type":"PUT","id":"k\"\\\n\u0001é","data":{"a":[1,2.5,"x"],"b":null},)"
                       R"("timestamp":1733565600123})");
  auto del = encode_delete_payload("spa\xC3\x9F \xF0\x9F\x8E\x89", 1733565600123);
  CAF_CHECK_EQUAL(del, R"({"type":"DELETE","id":"spaß 🎉","timestamp":1733565600123})");
}

CAF_TEST(put round trips with carried meta in headers) {
  carried_meta carried{3, int64_t{1733565600123}, std::nullopt};
  auto headers = meta_headers(carried);
  CAF_CHECK_EQUAL(headers, (header_list{{"Eventbase-Changes", "3"},
                                        {"Eventbase-Date-Created", "2024-12-07T10:00:00.123Z"}}));
  CAF_CHECK_EQUAL(meta_headers(carried_meta{1, std::nullopt, std::nullopt}),
                  (header_list{{"Eventbase-Changes", "1"}}));
  auto payload = encode_put_payload("user:1", R"({"name":"Ada"})", 42);
  headers.emplace(headers.begin(), "Nats-Msg-Id", "w.1");  // other headers do not matter
  auto ev = decode_event(payload, headers);
  CAF_REQUIRE(ev.ok());
  CAF_CHECK(ev->type == event_type::put);
  CAF_CHECK_EQUAL(ev->key, "user:1");
  CAF_CHECK_EQUAL(ev->timestamp_ms, 42);
  CAF_CHECK_EQUAL(document_of(*ev), json({{"name", "Ada"}}));
  CAF_CHECK_EQUAL(ev->meta.changes, 3u);
  CAF_REQUIRE(ev->meta.date_created.has_value());
  CAF_CHECK_EQUAL(*ev->meta.date_created, 1733565600123);
}

CAF_TEST(decodes events written by the js library) {
  auto ev = decode_event(R"({"type":"PUT","id":"x","data":[1,"two"],"timestamp":7})");
  CAF_REQUIRE(ev.ok());
  CAF_CHECK_EQUAL(ev->meta.changes, 0u);  // no carried meta
  CAF_CHECK(!ev->meta.date_created);
  CAF_CHECK_EQUAL(document_of(*ev), json::parse(R"([1,"two"])"));
  auto del = decode_event(R"({"type":"DELETE","id":"x","timestamp":7,"oldData":null})");
  CAF_REQUIRE(del.ok());
  CAF_CHECK(del->type == event_type::erase);
  auto no_data = decode_event(R"({"type":"PUT","id":"x","timestamp":7})");
  CAF_REQUIRE(no_data.ok());
  CAF_CHECK_EQUAL(document_of(*no_data), json(nullptr));
}

// The document is converted to msgpack while the event is parsed: it must decode to exactly
// what a JSON parser makes of it, whatever its shape.
CAF_TEST(documents of every shape survive decoding) {
  for (const char* data :
       {"null", "true", "false", "0", "-1", "18446744073709551615", "-9223372036854775808", "1.5",
        "-0.25", "1e300", R"("")", R"("text with \"quotes\" and \\ and \u00e9 and \ud83c\udf89")",
        "[]", "{}", "[[],[[]],{}]", R"({"a":{"b":{"c":[1,{"d":null}]}}})", R"({"dup":1,"dup":2})",
        R"([1,"two",3.0,false,null,{"k":"v"}])"}) {
    std::string payload = std::string(R"({"type":"PUT","id":"k","extra":{"x":[1,{"y":2}]},)") +
                          R"("meta":{"changes":4,"nested":{"z":[1]},"dateCreated":")" +
                          "2024-12-07T10:00:00.123Z" + R"("},"data":)" + data +
                          R"(,"timestamp":7,"oldData":[1,2]})";
    auto ev = decode_event(payload);
    CAF_REQUIRE(ev.ok());
    CAF_CHECK_EQUAL(document_of(*ev), json::parse(data));
    CAF_CHECK_EQUAL(ev->meta.changes, 4u);
    CAF_CHECK_EQUAL(ev->meta.date_created.value_or(0), 1733565600123);
    CAF_CHECK_EQUAL(ev->timestamp_ms, 7);
    CAF_CHECK_EQUAL(ev->key, "k");
  }
}

// Found by tests/fuzz/json_msgpack_fuzz: 2^64 (a JSON integer just above UINT64_MAX, which
// parses as a double) went through an undefined float-to-integer conversion in msgpack-c.
CAF_TEST(numbers beyond the integer range decode as doubles) {
  for (const char* data : {"18446744073709551616", "[-18446744073709551616,18446744073709551616.0]",
                           "1.8446744073709552e19", "1e19", "-9.3e18", "1e300"}) {
    auto ev = decode_event(std::string(R"({"type":"PUT","id":"k","data":)") + data + "}");
    CAF_REQUIRE(ev.ok());
    CAF_CHECK_EQUAL(document_of(*ev), json::parse(data));
  }
}

// Found by tests/fuzz/event_fuzz: a timestamp of 1.7e23 was converted from double to int64
// with undefined behaviour. Timestamps beyond int64 now saturate; the event itself stays valid.
CAF_TEST(timestamps beyond int64 saturate) {
  constexpr int64_t max = std::numeric_limits<int64_t>::max();
  constexpr int64_t min = std::numeric_limits<int64_t>::min();
  std::pair<const char*, int64_t> cases[] = {
      {"1733565600123", 1733565600123},
      {"1733565600123.9", 1733565600123},
      {"-1.5", -1},
      {"9223372036854775807", max},
      {"9223372036854775808", max},
      {"18446744073709551615", max},
      {"173356560012733565600123", max},
      {"1e300", max},
      {"-9223372036854775808", min},
      {"-9223372036854775809", min},
      {"-1e300", min},
  };
  for (auto& c : cases) {
    auto ev =
        decode_event(std::string(R"({"type":"DELETE","id":"k","timestamp":)") + c.first + "}");
    CAF_REQUIRE(ev.ok());
    CAF_CHECK_EQUAL(ev->timestamp_ms, c.second);
  }
}

// Eventbase before the headers wrote the same metadata into the body; such events stay on
// streams (one per key after compaction) and still carry their metadata.
CAF_TEST(metadata in the body of earlier events is still read) {
  std::string legacy = R"({"type":"PUT","id":"k","data":{"z":1,"a":2},"timestamp":7,)"
                       R"("meta":{"changes":4,"dateCreated":"2024-12-07T10:00:00.123Z"}})";
  auto ev = decode_event(legacy);
  CAF_REQUIRE(ev.ok());
  CAF_CHECK(ev->meta_in_body);
  CAF_CHECK_EQUAL(ev->meta.changes, 4u);
  CAF_CHECK_EQUAL(ev->meta.date_created.value_or(0), 1733565600123);
  // Subscribers get the JS library's fields only, in its order, the document as stored.
  CAF_CHECK_EQUAL(payload_for_subscribers(*ev, legacy),
                  R"({"type":"PUT","id":"k","data":{"z":1,"a":2},"timestamp":7})");
  // Headers win over the body.
  auto both = decode_event(legacy, meta_headers(carried_meta{9, std::nullopt, std::nullopt}));
  CAF_REQUIRE(both.ok());
  CAF_CHECK_EQUAL(both->meta.changes, 9u);
  CAF_CHECK(!both->meta.date_created);
  // Events without a body "meta" are handed on as they are, byte for byte.
  std::string js = R"({"type":"PUT","id":"k","data":{ "z" : 1 },"timestamp":7})";
  auto plain = decode_event(js);
  CAF_REQUIRE(plain.ok());
  CAF_CHECK(!plain->meta_in_body);
  CAF_CHECK_EQUAL(payload_for_subscribers(*plain, js), js);
  std::string legacy_delete = R"({"type":"DELETE","id":"k","timestamp":8,"meta":{"changes":1}})";
  auto del = decode_event(legacy_delete);
  CAF_REQUIRE(del.ok());
  CAF_CHECK_EQUAL(payload_for_subscribers(*del, legacy_delete),
                  R"({"type":"DELETE","id":"k","timestamp":8})");
}

// Metadata headers that do not parse leave the event valid: it applies as a JS writer's would.
CAF_TEST(unusable metadata headers are ignored with a reason) {
  std::string payload = R"({"type":"PUT","id":"k","data":1,"timestamp":7})";
  std::pair<header_list, const char*> cases[] = {
      {{{"Eventbase-Changes", "x"}}, "Eventbase-Changes 'x' is not a positive number"},
      {{{"Eventbase-Changes", "0"}}, "Eventbase-Changes '0' is not a positive number"},
      {{{"Eventbase-Changes", "-3"}}, "Eventbase-Changes '-3' is not a positive number"},
      {{{"Eventbase-Changes", "99999999999999999999"}},
       "Eventbase-Changes '99999999999999999999' is not a positive number"},
      {{{"Eventbase-Changes", "2"}, {"Eventbase-Date-Created", "yesterday"}},
       "Eventbase-Date-Created 'yesterday' is not an ISO-8601 UTC time with milliseconds"},
      {{{"Eventbase-Date-Created", "2024-12-07T10:00:00.123Z"}},
       "Eventbase-Date-Created without Eventbase-Changes"},
  };
  for (auto& [headers, why] : cases) {
    auto ev = decode_event(payload, headers);
    CAF_REQUIRE(ev.ok());
    CAF_CHECK_EQUAL(ev->meta.changes, 0u);
    CAF_CHECK(!ev->meta.date_created);
    CAF_CHECK_EQUAL(ev->meta_problem, why);
  }
  auto fine = decode_event(payload, meta_headers(carried_meta{2, std::nullopt, std::nullopt}));
  CAF_REQUIRE(fine.ok());
  CAF_CHECK(fine->meta_problem.empty());
}

// A document keeps its key order through the decoding of its event (into the stored msgpack).
CAF_TEST(decoding keeps the key order of documents) {
  auto ev = decode_event(
      R"({"type":"PUT","id":"k","data":{"zeta":1,"alpha":2,"mid":{"b":1,"a":2}},"timestamp":7})");
  CAF_REQUIRE(ev.ok());
  auto doc = decode_document(ev->data_msgpack).value();
  CAF_CHECK_EQUAL(doc.dump(), R"({"zeta":1,"alpha":2,"mid":{"b":1,"a":2}})");
}

CAF_TEST(rejects malformed events with a reason) {
  for (const char* bad :
       {"", "not json", "[1,2]", "\"PUT\"", R"({"id":"x"})", R"({"type":"PATCH","id":"x"})",
        R"({"type":"PUT"})", R"({"type":"PUT","id":""})", R"({"type":"PUT","id":7})",
        R"({"type":["PUT"],"id":"x"})", R"({"type":"PUT","id":{"k":1}})",
        R"({"type":"PUT","id":"x","data":{"a":1})", R"({"type":"PUT","id":"x"} trailing)",
        "{\"type\":\"PUT\",\"id\":\"\xC3\"}"}) {
    auto ev = decode_event(bad);
    CAF_CHECK(!ev.ok());
    if (!ev.ok()) {
      CAF_CHECK_EQUAL(ev.error().code(), errc::corrupt);
      CAF_CHECK(!ev.error().message().empty());
    }
  }
}

CAF_TEST(meta follows carried values or continues local state) {
  meta previous{100, 200, 4};
  // An Eventbase writer's event: independent of the replica's state.
  auto carried = meta_after_put(nullptr, carried_meta{5, int64_t{100}, std::nullopt}, 300);
  CAF_CHECK_EQUAL(carried, (meta{100, 300, 5}));
  CAF_CHECK_EQUAL(meta_after_put(&previous, carried_meta{5, int64_t{100}, std::nullopt}, 300),
                  carried);
  // A new key: created is the event's own time.
  CAF_CHECK_EQUAL(meta_after_put(&previous, carried_meta{1, std::nullopt, std::nullopt}, 300),
                  (meta{300, 300, 1}));
  // JS writers: continue from the local record.
  CAF_CHECK_EQUAL(meta_after_put(&previous, carried_meta{}, 300), (meta{100, 300, 5}));
  CAF_CHECK_EQUAL(meta_after_put(nullptr, carried_meta{}, 300), (meta{300, 300, 1}));
  // What a writer carries.
  auto fresh = carry_meta(nullptr, 0);
  CAF_CHECK_EQUAL(fresh.changes, 1u);
  CAF_CHECK(!fresh.date_created);
  CAF_CHECK_EQUAL(fresh.base_revision.value_or(99), 0u);
  auto next = carry_meta(&previous, 17);
  CAF_CHECK_EQUAL(next.changes, 5u);
  CAF_CHECK_EQUAL(next.date_created.value_or(-1), 100);
  CAF_CHECK_EQUAL(next.base_revision.value_or(0), 17u);
  // A writer that had not seen a DELETE the replica applied after its base: the key is new.
  CAF_CHECK_EQUAL(meta_after_put(nullptr, next, 300, true), (meta{300, 300, 1}));
}

// A write published again takes its document back from its payload.
CAF_TEST(the document of a put payload is found whatever the key and document hold) {
  // By value: the view points into the payload, a temporary.
  auto document_of = [](const std::string& payload) {
    return std::string(put_payload_document(payload));
  };
  std::string doc = R"({"a":[1,{"b":null}],"c":"x"})";
  CAF_CHECK_EQUAL(document_of(encode_put_payload("k", doc, 42)), doc);
  // The key's `,"data":` is inside a JSON string: its quotes are escaped.
  std::string key = R"(k,"data":{"x":1},"timestamp":5)";
  auto payload = encode_put_payload(key, doc, 42);
  CAF_CHECK_EQUAL(document_of(payload), doc);
  // The document's own `,"timestamp":` (a member, or inside a string) is not the payload's.
  for (std::string inner : {std::string(R"({"v":1,"timestamp":2})"),
                            std::string(R"(["a,\"timestamp\":3",{"data":1,"timestamp":4}])"),
                            std::string(R"({"x":",\"data\":"})"), std::string("null"),
                            std::string(R"("text")"), std::string("-1.5e3")}) {
    CAF_CHECK_EQUAL(document_of(encode_put_payload(key, inner, 7)), inner);
    CAF_CHECK_EQUAL(document_of(encode_put_payload("plain", inner, 7)), inner);
  }
  // Anything else: empty.
  CAF_CHECK_EQUAL(document_of(encode_delete_payload(key, 42)), "");
  CAF_CHECK_EQUAL(document_of(""), "");
  CAF_CHECK_EQUAL(document_of(R"({"type":"PUT","id":"k","timestamp":1,"data":2})"), "");
}

CAF_TEST(the base revision travels in a header) {
  carried_meta carried{2, int64_t{1733565600123}, uint64_t{17}};
  auto headers = meta_headers(carried);
  CAF_CHECK_EQUAL(headers, (header_list{{"Eventbase-Changes", "2"},
                                        {"Eventbase-Date-Created", "2024-12-07T10:00:00.123Z"},
                                        {"Eventbase-Base-Revision", "17"}}));
  CAF_CHECK_EQUAL(std::string(kBaseRevisionHeader), "Eventbase-Base-Revision");
  auto payload = encode_put_payload("k", "1", 42);
  auto ev = decode_event(payload, headers);
  CAF_REQUIRE(ev.ok());
  CAF_CHECK(ev->meta_problem.empty());
  CAF_CHECK_EQUAL(ev->meta.changes, 2u);
  CAF_REQUIRE(ev->meta.base_revision.has_value());
  CAF_CHECK_EQUAL(*ev->meta.base_revision, 17u);
  // Zero (a key the writer did not know) is a revision too.
  auto zero = decode_event(payload, meta_headers(carry_meta(nullptr, 0)));
  CAF_REQUIRE(zero.ok());
  CAF_REQUIRE(zero->meta.base_revision.has_value());
  CAF_CHECK_EQUAL(*zero->meta.base_revision, 0u);
  // Not carried (an Eventbase before revisions): none.
  auto none = decode_event(payload, header_list{{"Eventbase-Changes", "2"}});
  CAF_REQUIRE(none.ok());
  CAF_CHECK(!none->meta.base_revision.has_value());
  CAF_CHECK_EQUAL(none->meta.changes, 2u);
  CAF_CHECK_EQUAL(meta_headers(carried_meta{1, std::nullopt, std::nullopt}),
                  (header_list{{"Eventbase-Changes", "1"}}));
}

CAF_TEST(a malformed base revision makes the metadata headers ignored with a reason) {
  std::string payload = R"({"type":"PUT","id":"k","data":1,"timestamp":7})";
  for (std::string bad : {"x", "", "-1", "+3", " 3", "3 ", "1.5", "99999999999999999999"}) {
    auto ev = decode_event(
        payload, header_list{{"Eventbase-Changes", "2"}, {"Eventbase-Base-Revision", bad}});
    CAF_REQUIRE(ev.ok());
    CAF_CHECK_EQUAL(ev->meta_problem, "Eventbase-Base-Revision '" + bad + "' is not a number");
    CAF_CHECK_EQUAL(ev->meta.changes, 0u);  // applies as a JS writer's would
    CAF_CHECK(!ev->meta.base_revision.has_value());
  }
}
