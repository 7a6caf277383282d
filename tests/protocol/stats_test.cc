#define CAF_SUITE stats
#include "caf/test/unit_test.hpp"

#include "protocol/stats.hpp"

using namespace eventbase::protocol;

CAF_TEST(stats events have the js shape) {
  CAF_CHECK_EQUAL(stats_subject("app_stats"), "app_stats.stats");
  stats_event put{stats_operation::put, std::string("user1"), std::nullopt, 1733565600123, 3};
  CAF_CHECK_EQUAL(encode_stats(put),
                  R"({"operation":"PUT","id":"user1","timestamp":1733565600123,"duration":3})");
  stats_event keys{stats_operation::keys, std::nullopt, std::string("^a"), 5, 0};
  CAF_CHECK_EQUAL(encode_stats(keys),
                  R"({"operation":"KEYS","pattern":"^a","timestamp":5,"duration":0})");
  stats_event emit{stats_operation::subscribe_emit, std::string("k"), std::string("k*"), 5, 1};
  CAF_CHECK_EQUAL(
      encode_stats(emit),
      R"({"operation":"SUBSCRIBE_EMIT","id":"k","pattern":"k*","timestamp":5,"duration":1})");
  CAF_CHECK_EQUAL(std::string(to_string(stats_operation::erase)), "DELETE");
  CAF_CHECK_EQUAL(std::string(to_string(stats_operation::get)), "GET");
  CAF_CHECK_EQUAL(std::string(to_string(stats_operation::subscribe)), "SUBSCRIBE");
}
