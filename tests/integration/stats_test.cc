#define CAF_SUITE stats
#include "caf/test/unit_test.hpp"

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

struct fixture {
  temp_dir dir;
  std::string name = unique_name("stats");
  std::string stats_name = name + "-stats";
  raw_client raw;
  stream db;

  fixture() {
    raw.subscribe(stats_name + ".stats");
    auto config = make_config(name, dir);
    config.stats_stream_name = stats_name;
    db = stream::open(config).value();
  }
  ~fixture() { db.close(); }

  // The stats events received so far, parsed; waits for at least `n`.
  std::vector<json> stats(size_t n) {
    std::vector<json> out;
    for (auto& text : raw.wait_for(n)) out.push_back(json::parse(text));
    return out;
  }
};

// The messages a STREAM.INFO answer says its stream holds; 0 for an error. (Not json::value():
// GCC 12 warns about a null dereference inside it.)
int64_t stored_messages(const json& info) {
  if (!info.is_object() || !info.contains("state")) return 0;
  auto& state = info["state"];
  return state.contains("messages") && state["messages"].is_number()
             ? state["messages"].get<int64_t>()
             : 0;
}

void check_shape(const json& ev, const std::string& operation) {
  CAF_CHECK_EQUAL(ev["operation"], operation);
  CAF_CHECK(ev["timestamp"].is_number_integer());
  CAF_CHECK(ev["duration"].is_number_integer());
  CAF_CHECK_GREATER_OR_EQUAL(ev["duration"].get<int64_t>(), 0);
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(stats_tests, fixture)

CAF_TEST(every operation publishes a stats event) {
  db.get("nonexistent").value();
  auto got = stats(1);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  check_shape(got[0], "GET");
  CAF_CHECK_EQUAL(got[0]["id"], "nonexistent");

  db.put("key1", json{{"value", 123}}).value();
  got = stats(2);
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  check_shape(got[1], "PUT");
  CAF_CHECK_EQUAL(got[1]["id"], "key1");

  db.keys("key*").value();
  got = stats(3);
  CAF_REQUIRE_EQUAL(got.size(), 3u);
  check_shape(got[2], "KEYS");
  CAF_CHECK_EQUAL(got[2]["pattern"], "key*");
  CAF_CHECK(!got[2].contains("id"));

  db.erase("key1").value();
  got = stats(4);
  CAF_REQUIRE_EQUAL(got.size(), 4u);
  check_shape(got[3], "DELETE");
  CAF_CHECK_EQUAL(got[3]["id"], "key1");
}

CAF_TEST(subscriptions publish subscribe and emit events) {
  collector<std::string> keys;
  auto sub = db.subscribe("key*", [&](const std::string& key, auto&, auto&, auto&) {
                 keys.add(key);
               }).value();
  auto got = stats(1);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  check_shape(got[0], "SUBSCRIBE");
  CAF_CHECK_EQUAL(got[0]["pattern"], "key*");
  db.put("key1", json{{"value", "test"}}).value();
  CAF_REQUIRE_EQUAL(keys.wait_for(1).size(), 1u);
  got = stats(3);  // SUBSCRIBE, then SUBSCRIBE_EMIT and PUT in either order
  CAF_REQUIRE_EQUAL(got.size(), 3u);
  json emit;
  for (auto& ev : got)
    if (ev["operation"] == "SUBSCRIBE_EMIT") emit = ev;
  CAF_REQUIRE(!emit.is_null());
  check_shape(emit, "SUBSCRIBE_EMIT");
  CAF_CHECK_EQUAL(emit["id"], "key1");
  CAF_CHECK_EQUAL(emit["pattern"], "key*");
  sub.unsubscribe();
}

CAF_TEST(queries and counts publish query events with the filter and the result count) {
  db.put("a", json{{"age", 42}, {"name", "Ada"}}).value();
  db.put("b", json{{"age", 17}}).value();
  json filter = {{"age", {{"$gte", 18}}}, {"name", {{"$exists", true}}}};
  CAF_REQUIRE_EQUAL(db.query(filter).value().size(), 1u);
  auto got = stats(3);
  CAF_REQUIRE_EQUAL(got.size(), 3u);
  check_shape(got[2], "QUERY");
  CAF_CHECK_EQUAL(got[2]["query"], filter);  // the filter object, members in their order
  CAF_CHECK_EQUAL(got[2]["queryResultCount"], 1);
  std::string text = got[2].dump();  // fields in the JS library's order
  CAF_CHECK_EQUAL(text.rfind(R"({"operation":"QUERY","query":{"age":{"$gte":18},"name":)"
                             R"({"$exists":true}},"queryResultCount":1,"timestamp":)",
                             0),
                  0u);
  CAF_REQUIRE_EQUAL(db.count(json::object()).value(), 2u);
  got = stats(4);
  CAF_REQUIRE_EQUAL(got.size(), 4u);
  check_shape(got[3], "COUNT");
  CAF_CHECK_EQUAL(got[3]["query"], json::object());
  CAF_CHECK_EQUAL(got[3]["queryResultCount"], 2);
  // A cursor publishes one QUERY event, once its last page is read, counting every result.
  size_t seen = 0;
  CAF_REQUIRE(db.query_each(json::object(), json{{"limit", 5}}, [&](const keyed_document&) {
                  ++seen;
                  return true;
                }).ok());
  CAF_CHECK_EQUAL(seen, 2u);
  got = stats(5);
  CAF_REQUIRE_EQUAL(got.size(), 5u);
  check_shape(got[4], "QUERY");
  CAF_CHECK_EQUAL(got[4]["queryResultCount"], 2);
  // With consistency, through the stream actor: the same event.
  CAF_REQUIRE(db.count(filter, read_consistency::consistent).ok());
  got = stats(6);
  CAF_REQUIRE_EQUAL(got.size(), 6u);
  check_shape(got[5], "COUNT");
  CAF_CHECK_EQUAL(got[5]["queryResultCount"], 1);
}

// The stream creates its stats stream in the background, while stats are plain publishes:
// those published before JetStream took the stats stream's subjects are not stored (nats-server
// 2.15 took longer here than 2.9, and this test read a stream that was not there yet). So puts
// go on until one is stored, within a deadline.
CAF_TEST(stats land in the stats jetstream stream) {
  json info;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    db.put("k", i).value();
    stats(static_cast<size_t>(i) + 1);
    info = json::parse(raw.request("$JS.API.STREAM.INFO." + stats_name, ""), nullptr, false);
    if (stored_messages(info) >= 1) break;
  }
  CAF_REQUIRE(info.is_object() && info.contains("state"));
  CAF_CHECK_EQUAL(info["config"]["subjects"], json({stats_name + ".*"}));
  CAF_CHECK_GREATER_OR_EQUAL(stored_messages(info), 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
