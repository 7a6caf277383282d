#define CAF_SUITE stats
#include "caf/test/unit_test.hpp"

#include "protocol/stats.hpp"

using namespace eventbase::protocol;

CAF_TEST(stats events have the js shape) {
  CAF_CHECK_EQUAL(stats_subject("app_stats"), "app_stats.stats");
  stats_event put{stats_operation::put, std::string("user1"), std::nullopt, 1733565600123, 3,
                  std::nullopt,         std::nullopt};
  CAF_CHECK_EQUAL(encode_stats(put),
                  R"({"operation":"PUT","id":"user1","timestamp":1733565600123,"duration":3})");
  stats_event keys{stats_operation::keys, std::nullopt, std::string("^a"), 5, 0,
                   std::nullopt,          std::nullopt};
  CAF_CHECK_EQUAL(encode_stats(keys),
                  R"({"operation":"KEYS","pattern":"^a","timestamp":5,"duration":0})");
  stats_event emit{stats_operation::subscribe_emit,
                   std::string("k"),
                   std::string("k*"),
                   5,
                   1,
                   std::nullopt,
                   std::nullopt};
  CAF_CHECK_EQUAL(
      encode_stats(emit),
      R"({"operation":"SUBSCRIBE_EMIT","id":"k","pattern":"k*","timestamp":5,"duration":1})");
  CAF_CHECK_EQUAL(std::string(to_string(stats_operation::erase)), "DELETE");
  CAF_CHECK_EQUAL(std::string(to_string(stats_operation::get)), "GET");
  CAF_CHECK_EQUAL(std::string(to_string(stats_operation::subscribe)), "SUBSCRIBE");
}

CAF_TEST(query and count events carry the filter object and the result count) {
  stats_event query;
  query.operation = stats_operation::query;
  query.query = R"({"age":{"$gte":30},"name":"Ada"})";
  query.result_count = 12;
  query.timestamp_ms = 7;
  query.duration_ms = 2;
  CAF_CHECK_EQUAL(encode_stats(query),
                  R"({"operation":"QUERY","query":{"age":{"$gte":30},"name":"Ada"},)"
                  R"("queryResultCount":12,"timestamp":7,"duration":2})");
  stats_event count;
  count.operation = stats_operation::count;
  count.query = "{}";
  count.result_count = 0;
  CAF_CHECK_EQUAL(encode_stats(count),
                  R"({"operation":"COUNT","query":{},"queryResultCount":0,"timestamp":0,)"
                  R"("duration":0})");
}
