// Event sourcing on a real nats-server (README "History and resumable watches"): the events a
// stream keeps per key, reads at a revision, and watches resumed from a revision with writes
// going on.
#define CAF_SUITE event_history
#include "caf/test/unit_test.hpp"

#include <condition_variable>
#include <map>
#include <mutex>

#include "eventbase/eventbase.hpp"
#include "protocol/base64.hpp"
#include "protocol/jetstream.hpp"
#include "support/background_writes.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;

namespace {

struct fixture {
  temp_dir dir;
  std::string name = unique_name("hist");

  stream open(int64_t history, const std::string& node = "node1") {
    auto config = make_config(name, dir, node);
    config.history = history;
    return stream::open(config).value();
  }
};

// The data of `key` at `revision`, null when absent then; a failure as {"error": code name}.
json data_at(stream& db, const std::string& key, uint64_t revision) {
  auto got = db.get_at(key, revision);
  if (!got.ok()) return json{{"error", to_string(got.error().code())}};
  return *got ? (*got)->data : json(nullptr);
}

std::string error_of(const result<std::optional<document>>& r) {
  return r.ok() ? "ok" : r.error().to_string();
}

// What a watcher knows: each key's data (null once deleted) and the last revision it saw.
struct watcher_state {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, json> keys;
  uint64_t last_revision = 0;
  bool out_of_order = false;

  change_callback callback() {
    return [this](const std::string& key, const json& data, const std::optional<meta>& m,
                  const json& event) {
      std::lock_guard<std::mutex> lock(mutex);
      uint64_t revision = event.at("revision").get<uint64_t>();
      if (revision <= last_revision || (m && m->revision != revision)) out_of_order = true;
      last_revision = std::max(last_revision, revision);
      keys[key] = event.at("type") == json("DELETE") ? json(nullptr) : data;
      changed.notify_all();
    };
  }

  // Waits until the watcher has seen a change of `key` whose data is `data`.
  bool await(const std::string& key, const json& data) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] {
      auto it = keys.find(key);
      return it != keys.end() && it->second == data;
    });
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(event_history_tests, fixture)

CAF_TEST(a stream keeps the events of each key up to its history) {
  auto db = open(5);
  std::vector<uint64_t> revisions;
  for (int i = 1; i <= 3; ++i)
    revisions.push_back(db.put("k", json{{"v", i}}).value().meta.revision);
  CAF_CHECK_EQUAL(db.erase("k").value(), 0u);  // a stream with history purges nothing
  auto again = db.put("k", json{{"v", 4}}).value();
  CAF_CHECK_EQUAL(again.meta.changes, 1u);  // a new key after the delete
  auto events = db.history("k").value();
  CAF_REQUIRE_EQUAL(events.size(), 5u);
  CAF_CHECK_EQUAL(events[0].revision, again.meta.revision);  // newest first
  CAF_CHECK_EQUAL(events[0].data, json({{"v", 4}}));
  CAF_CHECK_EQUAL(events[1].type, "DELETE");
  CAF_CHECK_EQUAL(events[1].to_json().contains("data"), false);
  CAF_CHECK_EQUAL(events[4].revision, revisions[0]);
  CAF_CHECK_EQUAL(events[4].type, "PUT");
  CAF_CHECK_EQUAL(db.history("k", 2).value().size(), 2u);
  // The limit counts PUTs: 5 more drop the oldest ones; the DELETE stays.
  for (int i = 5; i <= 9; ++i) db.put("k", json{{"v", i}}).value();
  events = db.history("k").value();
  CAF_CHECK_EQUAL(events.size(), 6u);
  CAF_CHECK_EQUAL(events.front().data, json({{"v", 9}}));
  CAF_CHECK_EQUAL(events.back().type, "DELETE");
  CAF_CHECK(db.history("never").value().empty());
  db.close();
}

CAF_TEST(a read at a revision sees the key as it was then) {
  auto db = open(5);
  uint64_t before = db.put("other", 1).value().meta.revision;
  auto v1 = db.put("k", json{{"v", 1}}).value();
  auto v2 = db.put("k", json{{"v", 2}}).value();
  db.erase("k").value();
  uint64_t deleted = v2.meta.revision + 1;
  auto v3 = db.put("k", json{{"v", 3}}).value();
  CAF_CHECK_EQUAL(data_at(db, "k", before), json(nullptr));  // not created yet
  CAF_CHECK_EQUAL(data_at(db, "k", v1.meta.revision), json({{"v", 1}}));
  CAF_CHECK_EQUAL(data_at(db, "k", deleted - 1), json({{"v", 2}}));
  CAF_CHECK_EQUAL(data_at(db, "k", deleted), json(nullptr));
  CAF_CHECK_EQUAL(data_at(db, "k", v3.meta.revision), json({{"v", 3}}));
  // The record at a revision has that version's metadata.
  auto at = db.get_at("k", v2.meta.revision).value().value();
  CAF_CHECK_EQUAL(at.meta.revision, v2.meta.revision);
  CAF_CHECK_EQUAL(at.meta.changes, 2u);
  CAF_CHECK_EQUAL(at.meta.date_created, v1.meta.date_created);
  // Beyond the stream's end: a clear error, not a guess.
  auto beyond = db.get_at("k", v3.meta.revision + 1000);
  CAF_CHECK_EQUAL(error_of(beyond).find("invalid_argument: revision"), 0u);
  CAF_CHECK_EQUAL(db.get_at("", 1).error().code(), errc::invalid_argument);
  // Another node reads the same history from JetStream.
  auto other = open(5, "node2");
  CAF_CHECK_EQUAL(data_at(other, "k", v1.meta.revision), json({{"v", 1}}));
  CAF_CHECK_EQUAL(other.history("k").value().size(), 4u);
  other.close();
  db.close();
}

CAF_TEST(a read before the kept events fails as compacted naming the oldest revision) {
  auto db = open(2);
  uint64_t first = db.put("k", 1).value().meta.revision;
  db.put("k", 2).value();
  uint64_t third = db.put("k", 3).value().meta.revision;
  db.put("k", 4).value();
  auto gone = db.get_at("k", first);
  CAF_REQUIRE(!gone.ok());
  CAF_CHECK_EQUAL(gone.error().code(), errc::compacted);
  CAF_CHECK(gone.error().message().find("revision " + std::to_string(third)) != std::string::npos);
  CAF_CHECK_EQUAL(data_at(db, "k", third), json(3));
  db.close();
}

CAF_TEST(a compacted stream answers reads at the current version and compacted before) {
  auto db = open(1);
  uint64_t r1 = db.put("k", 1).value().meta.revision;
  uint64_t r2 = db.put("k", 2).value().meta.revision;
  uint64_t created = db.put("late", 1).value().meta.revision;
  CAF_CHECK_EQUAL(data_at(db, "k", r2), json(2));
  CAF_CHECK_EQUAL(data_at(db, "k", r1), json({{"error", "compacted"}}));
  CAF_CHECK_EQUAL(data_at(db, "late", r2), json(nullptr));  // its one PUT created it
  CAF_CHECK_EQUAL(data_at(db, "late", created), json(1));
  db.erase("k").value();  // purges the PUT on a compacted stream
  auto events = db.history("k").value();
  CAF_REQUIRE_EQUAL(events.size(), 1u);
  CAF_CHECK_EQUAL(events[0].type, "DELETE");
  db.close();
}

CAF_TEST(history out of range is refused) {
  auto config = make_config(name, dir);
  for (int64_t bad : {int64_t{0}, int64_t{-1}, int64_t{65}}) {
    config.history = bad;
    auto opened = stream::open(config);
    CAF_REQUIRE(!opened.ok());
    CAF_CHECK_EQUAL(opened.error().code(), errc::invalid_argument);
  }
  manager_config mc;
  mc.nats = test_nats();
  mc.history = 100;
  CAF_CHECK_EQUAL(manager::create(mc).error().code(), errc::invalid_argument);
}

CAF_TEST(the stream keeps the history it was created with) {
  auto db = open(7);
  db.put("k", 1).value();
  db.close();
  raw_client raw;
  namespace js = protocol::jetstream;
  auto info = js::parse_stream_info(raw.request(js::stream_info_subject(name), "")).value();
  CAF_CHECK_EQUAL(info.max_msgs_per_subject, 7);
  // Opening with another history keeps the stream's.
  auto again = open(1);
  for (int i = 0; i < 3; ++i) again.put("k", i).value();
  CAF_CHECK_EQUAL(again.history("k").value().size(), 4u);
  again.close();
}

CAF_TEST(a resumed subscription ends with the state of one that never stopped) {
  auto writer = open(1, "writer");
  auto reader = open(1, "reader");
  watcher_state steady, resumed;
  auto steady_sub = reader.subscribe("*", steady.callback()).value();
  auto first_sub = reader.subscribe("*", resumed.callback()).value();
  background_writes writes(writer, 7, 5);
  CAF_REQUIRE(writes.await(50));
  first_sub.unsubscribe();
  uint64_t resume_from;
  {
    std::lock_guard<std::mutex> lock(resumed.mutex);
    resume_from = resumed.last_revision;
  }
  CAF_REQUIRE(writes.await(150));  // changes the resumed watcher misses while away
  // From here on k3..k6 stay as they are: the resumed watcher learns their last change (a put
  // or a delete) only from what it missed.
  writes.set_keys(3);
  CAF_REQUIRE(writes.await(160));
  auto second_sub =
      reader.subscribe("*", resumed.callback(), subscribe_options{resume_from}).value();
  CAF_REQUIRE(writes.await(250));
  CAF_REQUIRE(writes.stop());
  auto last = writer.put("final", json{{"done", true}}).value();
  CAF_REQUIRE(steady.await("final", json{{"done", true}}));
  CAF_REQUIRE(resumed.await("final", json{{"done", true}}));
  {
    std::lock_guard<std::mutex> a(steady.mutex), b(resumed.mutex);
    CAF_CHECK_EQUAL(steady.keys.size(), 8u);
    CAF_CHECK(steady.keys == resumed.keys);
    CAF_CHECK(!resumed.out_of_order);
    CAF_CHECK_EQUAL(resumed.last_revision, last.meta.revision);
  }
  // Resuming needs at most a subscription's backlog of changed keys.
  auto from_start = reader.subscribe(
      "*", [](auto&&...) {}, subscribe_options{0});
  CAF_CHECK(from_start.ok());
  steady_sub.unsubscribe();
  second_sub.unsubscribe();
  writer.close();
  reader.close();
}

CAF_TEST_FIXTURE_SCOPE_END()
