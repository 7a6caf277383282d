// Atomic batches as JSON lines (protocol/batch.hpp): what `eventbase batch` and the actor
// message accept, and the clear refusals of everything else, before anything is written.
#define CAF_SUITE batch_lines
#include "caf/test/unit_test.hpp"

#include "protocol/batch.hpp"

using namespace eventbase;
using namespace eventbase::protocol;

CAF_TEST(puts and deletes with their conditions) {
  auto ops = parse_batch(
      "{\"op\":\"put\",\"key\":\"a\",\"data\":{\"x\": 1.50},\"ifAbsent\":true}\n"
      "\n"
      "{\"op\":\"delete\",\"key\":\"b\",\"ifRevision\":7}\r\n"
      "{\"op\":\"put\",\"key\":\"c\",\"data\":null,\"ttl\":60,\"ifRevision\":3}");
  CAF_REQUIRE(ops.ok());
  CAF_REQUIRE_EQUAL(ops->size(), 3u);
  CAF_CHECK((*ops)[0].what == batch_op::kind::put);
  CAF_CHECK_EQUAL((*ops)[0].data, R"({"x":1.5})");  // as JavaScript writes it
  CAF_CHECK((*ops)[0].condition == write_condition::if_absent());
  CAF_CHECK((*ops)[1].what == batch_op::kind::erase);
  CAF_CHECK((*ops)[1].condition == write_condition::if_revision(7));
  CAF_CHECK_EQUAL((*ops)[2].ttl_seconds, 60u);
  CAF_CHECK_EQUAL((*ops)[2].data, "null");
  // Written back as lines, read back the same.
  auto again = parse_batch(batch_lines(*ops));
  CAF_REQUIRE(again.ok());
  CAF_CHECK_EQUAL(again->size(), 3u);
  CAF_CHECK_EQUAL((*again)[0].data, (*ops)[0].data);
  CAF_CHECK((*again)[1].condition == (*ops)[1].condition);
}

CAF_TEST(a bad line is named and refuses the batch) {
  auto error_of = [](const std::string& text) {
    auto why = parse_batch(text).error();
    return std::string(why.message());
  };
  std::string good = "{\"op\":\"put\",\"key\":\"a\",\"data\":1}\n";
  CAF_CHECK_EQUAL(error_of(good + "{\"op\":\"put\",\"key\":\"b\"}"),
                  "line 2: a put needs \"data\"");
  CAF_CHECK_EQUAL(error_of(good + "not json").find("line 2: "), 0u);
  CAF_CHECK_EQUAL(error_of(good + "{\"op\":\"upsert\",\"key\":\"b\"}"),
                  "line 2: \"op\" is \"put\" or \"delete\"");
  CAF_CHECK_EQUAL(error_of(good + good), "line 2: key 'a' is written twice in the batch");
  CAF_CHECK_EQUAL(error_of("{\"op\":\"delete\",\"key\":\"b\",\"ifAbsent\":true}"),
                  "line 1: a delete's condition can only be ifRevision");
  CAF_CHECK_EQUAL(error_of("{\"op\":\"put\",\"key\":\"b\",\"data\":1,\"ifRevision\":0}"),
                  "line 1: \"ifRevision\" takes a positive integer");
  CAF_CHECK_EQUAL(error_of("{\"op\":\"put\",\"key\":\"b\",\"data\":1,\"extra\":0}"),
                  "line 1: unknown member \"extra\"");
  CAF_CHECK_EQUAL(error_of("{\"op\":\"put\",\"key\":\"\",\"data\":1}").find("line 1: "), 0u);
  CAF_CHECK_EQUAL(error_of("\n\n"), "the batch holds no writes");
  // Nesting is bounded before anything recurses.
  std::string deep = "{\"op\":\"put\",\"key\":\"d\",\"data\":" + std::string(100000, '[') + "}";
  CAF_CHECK_EQUAL(parse_batch(deep).error().code(), errc::invalid_argument);
}

CAF_TEST(more writes than jetstream takes are refused before parsing) {
  std::string text;
  for (size_t i = 0; i <= kMaxBatchWrites; ++i) text += "garbage\n";  // never parsed
  auto refused = parse_batch(text).error();
  CAF_CHECK_EQUAL(refused.code(), errc::too_large);
  CAF_CHECK_NOT_EQUAL(refused.message().find("at most 1000 writes"), std::string::npos);
}
