#define CAF_SUITE replication
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <thread>

#include "eventbase/eventbase.hpp"
#include "protocol/jetstream.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

struct fixture {
  temp_dir dir;
  std::string name = unique_name("repl");
};

// Waits until `db` has applied a change of `key` (its subscription saw it).
struct change_waiter {
  collector<std::string> seen;
  subscription sub;
  change_waiter(stream& db, const std::string& glob) {
    sub = db.subscribe(glob, [this](const std::string& key, auto&, auto&, auto&) {
              seen.add(key);
            }).value();
  }
  ~change_waiter() { sub.unsubscribe(); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(replication_tests, fixture)

CAF_TEST(two instances on one stream see each others writes) {
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  change_waiter on_b(b, "*");
  change_waiter on_a(a, "*");
  auto put = a.put("user3", json{{"name", "John"}}).value();
  CAF_REQUIRE_EQUAL(on_b.seen.wait_for(1).size(), 1u);
  CAF_CHECK_EQUAL(data_of(b, "user3"), json({{"name", "John"}}));
  // Metadata comes from JetStream, so both replicas agree to the millisecond.
  auto meta_b = meta_of(b, "user3");
  CAF_CHECK_EQUAL(meta_b.date_created, put.meta.date_created);
  CAF_CHECK_EQUAL(meta_b.changes, 1u);
  // And the other way round, including a delete.
  b.put("from-b", 2).value();
  CAF_REQUIRE_EQUAL(on_a.seen.wait_for(2).size(), 2u);
  CAF_CHECK_EQUAL(data_of(a, "from-b"), json(2));
  CAF_CHECK_EQUAL(b.erase("user3").value(), 1u);
  CAF_REQUIRE_EQUAL(on_a.seen.wait_for(3).size(), 3u);
  CAF_CHECK(!a.get("user3").value().has_value());
  a.close();
  b.close();
}

CAF_TEST(a consistent read on another instance sees every acknowledged write) {
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  for (int i = 0; i < 50; ++i) {
    auto key = "k" + std::to_string(i);
    a.put(key, i).value();
    // Right after the put returns on a, without waiting for b's subscription.
    auto read = b.get(key, read_consistency::consistent);
    CAF_REQUIRE(read.ok());
    CAF_REQUIRE(read->has_value());
    CAF_CHECK_EQUAL((*read)->data, json(i));
  }
  auto keys = b.keys("^k", read_consistency::consistent);
  CAF_REQUIRE(keys.ok());
  CAF_CHECK_EQUAL(keys->size(), 50u);
  // A bad pattern fails at once, as a local read does.
  CAF_CHECK_EQUAL(b.keys("(", read_consistency::consistent).error().code(), errc::invalid_argument);
  a.close();
  b.close();
}

CAF_TEST(reopening a data path resumes and sees only new events) {
  {
    auto first = stream::open(make_config(name, dir)).value();
    first.put("user1", json{{"name", "John One"}}).value();
    first.put("user2", json{{"name", "John Two"}}).value();
    first.put("user3", json{{"name", "John Three"}}).value();
    first.close();
  }
  collector<json> messages;
  auto config = make_config(name, dir);
  config.on_message = [&](const json& event) { messages.add(event); };
  auto second = stream::open(config).value();
  CAF_CHECK_EQUAL(data_of(second, "user2"), json({{"name", "John Two"}}));
  second.put("user4", json{{"name", "John Four"}}).value();
  auto seen = messages.wait_for(1);
  CAF_REQUIRE_EQUAL(seen.size(), 1u);
  CAF_CHECK_EQUAL(seen[0]["type"], "PUT");
  CAF_CHECK_EQUAL(seen[0]["id"], "user4");
  CAF_CHECK_EQUAL(seen[0]["data"], json({{"name", "John Four"}}));
  second.close();
  // Nothing else arrived after the close either.
  CAF_CHECK_EQUAL(messages.items().size(), 1u);
}

CAF_TEST(a fresh data path replays the whole stream) {
  {
    auto writer = stream::open(make_config(name, dir, "writer")).value();
    for (int i = 0; i < 50; ++i) writer.put("k" + std::to_string(i), json{{"i", i}}).value();
    for (int i = 0; i < 5; ++i) writer.put("k0", json{{"i", 100 + i}}).value();
    writer.erase("k1").value();
    writer.close();
  }
  auto reader = stream::open(make_config(name, dir, "reader")).value();
  // Open returns once caught up: no waiting needed.
  CAF_CHECK_EQUAL(reader.keys().value().size(), 49u);
  CAF_CHECK_EQUAL(data_of(reader, "k7"), json({{"i", 7}}));
  CAF_CHECK(!reader.get("k1").value().has_value());
  // Compaction kept only the last put of k0, yet the count of changes survived the replay.
  CAF_CHECK_EQUAL(data_of(reader, "k0"), json({{"i", 104}}));
  CAF_CHECK_EQUAL(meta_of(reader, "k0").changes, 6u);
  reader.close();
}

CAF_TEST(two streams in one process do not interfere) {
  auto orders = stream::open(make_config(name + "-orders", dir, "o")).value();
  auto users = stream::open(make_config(name + "-users", dir, "u")).value();
  orders.put("key1", json{{"item", "Laptop"}}).value();
  users.put("key1", json{{"name", "Alice"}}).value();
  CAF_CHECK_EQUAL(data_of(orders, "key1"), json({{"item", "Laptop"}}));
  CAF_CHECK_EQUAL(data_of(users, "key1"), json({{"name", "Alice"}}));
  users.put("only-users", 1).value();
  CAF_CHECK(!orders.get("only-users").value().has_value());
  CAF_CHECK_EQUAL(orders.keys().value().size(), 1u);
  orders.close();
  users.close();
}

CAF_TEST(two streams sharing one data path do not interfere) {
  auto a = stream::open(make_config(name + "-a", dir, "shared")).value();
  auto b = stream::open(make_config(name + "-b", dir, "shared")).value();
  a.put("k", "a").value();
  b.put("k", "b").value();
  CAF_CHECK_EQUAL(data_of(a, "k"), json("a"));
  CAF_CHECK_EQUAL(data_of(b, "k"), json("b"));
  // One stream can be open once per data path.
  auto again = stream::open(make_config(name + "-a", dir, "shared"));
  CAF_CHECK_EQUAL(again.error().code(), errc::invalid_argument);
  a.close();
  b.close();
}

CAF_TEST(a garbage message is skipped and later events still apply) {
  auto db = stream::open(make_config(name, dir)).value();
  db.put("before", 1).value();
  raw_client raw;
  raw.publish(name + ".x", "this is not json");
  raw.publish(name + ".y", R"({"type":"PATCH","id":"k"})");
  raw.publish(name + ".z", R"({"type":"PUT"})");
  auto after = db.put("after", 2);
  CAF_REQUIRE(after.ok());
  CAF_CHECK_EQUAL(data_of(db, "after"), json(2));
  CAF_CHECK_EQUAL(data_of(db, "before"), json(1));
  CAF_CHECK_EQUAL(db.keys().value(), (std::vector<std::string>{"after", "before"}));
  db.close();
  // A fresh replica skips them as well.
  auto fresh = stream::open(make_config(name, dir, "fresh")).value();
  CAF_CHECK_EQUAL(fresh.keys().value(), (std::vector<std::string>{"after", "before"}));
  fresh.close();
}

CAF_TEST(events written by the js library apply on a stream the js library created) {
  // The JS library creates its streams without a per-subject limit and writes no metadata.
  raw_client raw;
  namespace js = protocol::jetstream;
  js::stream_settings settings{name, {name + ".*"}, -1, 1};
  raw.request(js::stream_create_subject(name), js::stream_create_request(settings));
  std::string subject = name + ".dXNlcjE=-put";  // base64("user1")
  raw.request(subject, R"({"type":"PUT","id":"user1","data":{"v":1},"timestamp":1})");
  raw.request(subject, R"({"type":"PUT","id":"user1","data":{"v":2},"timestamp":2})");
  auto db = stream::open(make_config(name, dir)).value();
  CAF_CHECK_EQUAL(data_of(db, "user1"), json({{"v", 2}}));
  CAF_CHECK_EQUAL(meta_of(db, "user1").changes, 2u);  // counted from the replica's own state
  // Our writes to such a stream keep it compacted as the JS library does (purge, keep 1).
  for (int i = 0; i < 5; ++i) db.put("user2", json{{"v", i}}).value();
  CAF_CHECK_EQUAL(meta_of(db, "user2").changes, 5u);
  db.close();
  // user1's two JS puts stay (we only purge after our own writes); user2 keeps its last put.
  // The purges are sent without awaiting their answer, as the JS library sends them, and go
  // through another connection than this request: they may land just after the last put.
  uint64_t messages = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(20))) {
    messages =
        js::parse_stream_info(raw.request(js::stream_info_subject(name), "")).value().messages;
    if (messages <= 3) break;
  }
  CAF_CHECK_LESS_OR_EQUAL(messages, 3u);
}

CAF_TEST(a stream created by eventbase stays compacted) {
  auto db = stream::open(make_config(name, dir)).value();
  for (int i = 0; i < 20; ++i) db.put("hot", i).value();
  db.put("other", 1).value();
  db.erase("other").value();
  db.close();
  raw_client raw;
  namespace js = protocol::jetstream;
  auto info = js::parse_stream_info(raw.request(js::stream_info_subject(name), "")).value();
  CAF_CHECK_EQUAL(info.max_msgs_per_subject, 1);
  // One put of "hot" and the tombstone of "other".
  CAF_CHECK_EQUAL(info.messages, 2u);
}

CAF_TEST(delete stream removes the jetstream stream and the local data) {
  auto db = stream::open(make_config(name, dir)).value();
  db.put("k", 1).value();
  CAF_REQUIRE(db.delete_stream().ok());
  CAF_CHECK_EQUAL(db.get("k").error().code(), errc::closed);
  raw_client raw;
  namespace js = protocol::jetstream;
  auto info = js::parse_stream_info(raw.request(js::stream_info_subject(name), ""));
  CAF_CHECK_EQUAL(info.error().code(), errc::not_found);
  // Opening again starts from nothing.
  auto again = stream::open(make_config(name, dir)).value();
  CAF_CHECK(again.keys().value().empty());
  again.close();
}

CAF_TEST(a recreated stream rebuilds the replica) {
  {
    auto db = stream::open(make_config(name, dir)).value();
    for (int i = 0; i < 5; ++i) db.put("old" + std::to_string(i), i).value();
    db.close();
  }
  {
    // Someone else deletes and recreates the stream, then writes one event.
    auto other = stream::open(make_config(name, dir, "other")).value();
    CAF_REQUIRE(other.delete_stream().ok());
    auto fresh = stream::open(make_config(name, dir, "other2")).value();
    fresh.put("new", 1).value();
    fresh.close();
  }
  auto db = stream::open(make_config(name, dir)).value();
  CAF_CHECK_EQUAL(db.keys().value(), (std::vector<std::string>{"new"}));
  db.close();
}

CAF_TEST_FIXTURE_SCOPE_END()
