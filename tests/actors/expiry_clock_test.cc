// Unit tests of expiry_clock: which expiry DELETEs a node publishes and when it wakes for the
// next, over a real replica (RocksDB) and clocks moved by hand, actors/expiry_clock.hpp.
#define CAF_SUITE expiry_clock
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/expiry_clock.hpp"
#include "protocol/event.hpp"
#include "protocol/record.hpp"
#include "storage/database.hpp"
#include "support/temp_dir.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using namespace std::chrono_literals;

namespace {

struct fixture {
  eventbase::test::temp_dir dir;
  std::shared_ptr<storage::database> db = storage::database::open(dir.path()).value();
  std::shared_ptr<storage::stream_store> store = db->open_stream("s").value();
  std::chrono::steady_clock::time_point now{};
  int64_t wall = 100000;
  std::vector<std::string> published;  // "key@revision"
  expiry_clock clock{{5000ms, 2},
                     *store,
                     [this] { return now; },
                     [this] { return wall; },
                     [this](const storage::due_expiry& e) {
                       published.push_back(e.key + "@" + std::to_string(e.revision));
                     }};

  // Applies a PUT of `key` at `seq` stored at `time_ms` expiring after `ttl` seconds.
  void put(const std::string& key, uint64_t seq, int64_t time_ms, uint64_t ttl) {
    protocol::decoded_event ev;
    ev.key = key;
    protocol::append_msgpack(nlohmann::ordered_json(1), ev.data_msgpack);
    ev.ttl_seconds = ttl;
    storage::apply_batch batch(*store);
    CAF_REQUIRE(batch.put(ev, seq, time_ms).ok());
    CAF_REQUIRE(batch.commit(seq).ok());
  }

  void expire(const std::string& key, uint64_t seq, uint64_t revision) {
    storage::apply_batch batch(*store);
    CAF_REQUIRE(batch.expire(key, seq, revision).ok());
    CAF_REQUIRE(batch.commit(seq).ok());
  }

  // Milliseconds from now to the next wake, -1 for none.
  int64_t wake_in() {
    auto at = clock.next_wake();
    if (!at) return -1;
    return std::chrono::duration_cast<std::chrono::milliseconds>(*at - now).count();
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(expiry_clock_tests, fixture)

CAF_TEST(nothing expires without ttls) {
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK(published.empty());
  CAF_CHECK_EQUAL(wake_in(), -1);
}

CAF_TEST(a key is published once when due and again only after the retry interval) {
  put("k", 1, 100000, 3);  // due at 103000
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK(published.empty());
  CAF_CHECK_EQUAL(wake_in(), 3000);
  now += 3000ms;
  wall += 3000;
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK_EQUAL(published, std::vector<std::string>{"k@1"});
  CAF_CHECK_EQUAL(wake_in(), 5000);  // the retry, should the DELETE not show up
  now += 1000ms;
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK_EQUAL(published.size(), 1u);
  now += 4000ms;
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK_EQUAL(published.size(), 2u);  // lost: published again
  expire("k", 2, 1);                      // applied
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK_EQUAL(published.size(), 2u);
  CAF_CHECK_EQUAL(wake_in(), -1);
}

CAF_TEST(a tick does a bounded amount and goes on at once) {
  for (uint64_t i = 1; i <= 3; ++i) put("k" + std::to_string(i), i, 90000, 1);
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK_EQUAL(published.size(), 2u);  // max_per_tick
  CAF_CHECK_EQUAL(wake_in(), 0);
}

CAF_TEST(the earliest of a retry and the next expiry wakes it) {
  put("a", 1, 99000, 1);   // due at 100000: now
  put("b", 2, 100000, 2);  // due at 102000
  CAF_CHECK(clock.tick().ok());
  CAF_CHECK_EQUAL(published, std::vector<std::string>{"a@1"});
  CAF_CHECK_EQUAL(wake_in(), 2000);
}

CAF_TEST_FIXTURE_SCOPE_END()
