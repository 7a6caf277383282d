// Atomic batches on a real nats-server (README "Atomic batches"): all writes of a batch or
// none, on every node, at consecutive revisions; conditions judged on the stream's state just
// before the batch; readers on another node never see part of one; and on a server older
// than 2.12, a clear refusal that names both versions.
#define CAF_SUITE batch
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <thread>

#include "eventbase/eventbase.hpp"
#include "nats/server_settings.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;

namespace {

bool server_has_batches() {
  return !(nats_server().version() < nats::kAtomicBatchSince);
}

// True, saying so, when the test server has no atomic batches: the test is skipped.
bool skipped_without_batches() {
  if (server_has_batches()) return false;
  CAF_MESSAGE("skipped: needs nats-server 2.12");
  return true;
}

struct seen_change {
  std::string key;
  uint64_t revision = 0;
};

struct fixture {
  temp_dir dir;
  std::string name = unique_name("batch");
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(batch_tests, fixture)

CAF_TEST(a server older than 2.12 refuses batches naming both versions) {
  if (server_has_batches()) {
    CAF_MESSAGE("skipped: nats-server " << nats_server().version().to_string()
                                        << " has atomic batches (the other tests use them)");
    return;
  }
  auto db = stream::open(make_config(name, dir)).value();
  auto refused = db.batch({batch_op::put("a", "1"), batch_op::put("b", "2")});
  CAF_REQUIRE(!refused.ok());
  auto why = refused.error();  // a status held here: message() refers into it
  CAF_CHECK_EQUAL(why.code(), errc::unavailable);
  CAF_CHECK_EQUAL(why.message(), "atomic batches need nats-server 2.12 or newer (this one is " +
                                     nats_server().version().to_string() + ")");
  CAF_CHECK_EQUAL(data_of(db, "a"), json(nullptr));
}

CAF_TEST(a batch applies whole on every node at consecutive revisions) {
  if (skipped_without_batches()) return;
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  collector<seen_change> seen;
  auto sub = b.subscribe("*", [&seen](const std::string& key, const json&,
                                      const std::optional<meta>&, const json& event) {
                seen.add({key, event.at("revision").get<uint64_t>()});
              }).value();
  a.put("gone", json(1)).value();
  a.put("x", json(0)).value();
  auto done = a.batch({batch_op::put("x", R"({"v":1})"),
                       batch_op::put("y", R"({"v":2})", write_condition::if_absent()),
                       batch_op::erase("gone")});
  CAF_REQUIRE(done.ok());
  CAF_CHECK_EQUAL(done->applied, 3u);
  uint64_t r = done->revision;
  // Read-your-writes on the writing node; the metadata continues from each key's state.
  CAF_CHECK_EQUAL(data_of(a, "x"), json({{"v", 1}}));
  CAF_CHECK_EQUAL(meta_of(a, "x").revision, r - 2);
  CAF_CHECK_EQUAL(meta_of(a, "x").changes, 2u);
  CAF_CHECK_EQUAL(meta_of(a, "y").revision, r - 1);
  CAF_CHECK_EQUAL(meta_of(a, "y").changes, 1u);
  CAF_CHECK_EQUAL(data_of(a, "gone"), json(nullptr));
  // The other node: the same state, and its watcher got the batch's changes in order.
  auto y = b.get("y", read_consistency::consistent);
  CAF_REQUIRE(y.ok() && y->has_value());
  CAF_CHECK_EQUAL((*y)->meta.revision, r - 1);
  CAF_CHECK_EQUAL(data_of(b, "gone"), json(nullptr));
  auto changes = seen.wait_for(5);
  CAF_REQUIRE_EQUAL(changes.size(), 5u);
  CAF_CHECK_EQUAL(changes[2].key, "x");
  CAF_CHECK_EQUAL(changes[2].revision, r - 2);
  CAF_CHECK_EQUAL(changes[3].key, "y");
  CAF_CHECK_EQUAL(changes[4].key, "gone");
  CAF_CHECK_EQUAL(changes[4].revision, r);
}

CAF_TEST(a condition that does not hold refuses the whole batch) {
  if (skipped_without_batches()) return;
  auto db = stream::open(make_config(name, dir)).value();
  auto k = db.put("k", json(1)).value();
  auto wrong =
      db.batch({batch_op::put("new", "1"),
                batch_op::put("k", "2", write_condition::if_revision(k.meta.revision + 9))});
  CAF_REQUIRE(!wrong.ok());
  CAF_CHECK_EQUAL(wrong.error().code(), errc::conflict);
  auto conflict = wrong.error();
  CAF_CHECK_NOT_EQUAL(conflict.message().find("key 'k' is at revision"), std::string::npos);
  auto exists =
      db.batch({batch_op::put("new", "1"), batch_op::put("k", "2", write_condition::if_absent())});
  CAF_REQUIRE(!exists.ok());
  CAF_CHECK_EQUAL(exists.error().code(), errc::conflict);
  CAF_CHECK_EQUAL(data_of(db, "new"), json(nullptr));
  CAF_CHECK_EQUAL(data_of(db, "k"), json(1));
  CAF_CHECK_EQUAL(meta_of(db, "k").revision, k.meta.revision);
  // The same batch with the right revision goes through.
  auto right = db.batch({batch_op::put("new", "1"),
                         batch_op::erase("k", write_condition::if_revision(k.meta.revision))});
  CAF_REQUIRE(right.ok());
  CAF_CHECK_EQUAL(data_of(db, "k"), json(nullptr));
  CAF_CHECK_EQUAL(data_of(db, "new"), json(1));
}

CAF_TEST(an invalid write or too many writes refuse the whole batch) {
  auto db = stream::open(make_config(name, dir)).value();
  std::vector<batch_op> many;
  for (size_t i = 0; i <= kMaxBatchWrites; ++i)
    many.push_back(batch_op::put("k" + std::to_string(i), "1"));
  CAF_CHECK_EQUAL(db.batch(many).error().code(), errc::too_large);
  auto bad = db.batch({batch_op::put("a", "1"), batch_op::put("b", "{not json")});
  CAF_CHECK_EQUAL(bad.error().code(), errc::invalid_argument);
  auto invalid = bad.error();
  CAF_CHECK_NOT_EQUAL(invalid.message().find("write 2"), std::string::npos);
  CAF_CHECK_EQUAL(db.batch({batch_op::put("a", "1"), batch_op::erase("a")}).error().code(),
                  errc::invalid_argument);  // a key written twice
  CAF_CHECK_EQUAL(db.batch({}).error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(data_of(db, "a"), json(nullptr));
  CAF_CHECK_EQUAL(data_of(db, "k0"), json(nullptr));
}

CAF_TEST(readers on another node never see part of a batch) {
  if (skipped_without_batches()) return;
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  // Each batch moves one unit from x to y: every state a reader can see has x + y = 100.
  a.batch({batch_op::put("x", "100"), batch_op::put("y", "0")}).value();
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    while (!stop) {
      auto all = b.query(json::object());
      if (!all.ok() || all->size() != 2) continue;
      ++reads;
      if ((*all)[0].data.get<int>() + (*all)[1].data.get<int>() != 100) ++torn;
    }
  });
  for (int i = 1; i <= 100; ++i)
    CAF_REQUIRE(a.batch({batch_op::put("x", std::to_string(100 - i)),
                         batch_op::put("y", std::to_string(i))})
                    .ok());
  auto last = b.get("y", read_consistency::consistent);
  stop = true;
  reader.join();
  CAF_MESSAGE(reads << " reads on the other node while 100 batches applied");
  CAF_CHECK_GREATER(reads.load(), 0);
  CAF_CHECK_EQUAL(torn.load(), 0);
  CAF_REQUIRE(last.ok() && last->has_value());
  CAF_CHECK_EQUAL((*last)->data, json(100));
}

CAF_TEST(batches and puts of one key from two nodes keep every change) {
  if (skipped_without_batches()) return;
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  // A's batches and B's puts race for "c": each refused batch is judged again and retried,
  // so the metadata counts every write once, as if they had run one after the other.
  constexpr int kEach = 20;
  std::thread puts([&] {
    for (int i = 0; i < kEach; ++i) CAF_CHECK(b.put("c", json(i)).ok());
  });
  for (int i = 0; i < kEach; ++i)
    CAF_CHECK(a.batch({batch_op::put("c", std::to_string(i)), batch_op::put("d", "1")}).ok());
  puts.join();
  auto on_a = a.get("c", read_consistency::consistent).value().value();
  auto on_b = b.get("c", read_consistency::consistent).value().value();
  CAF_CHECK_EQUAL(on_a.meta.changes, 2u * kEach);
  CAF_CHECK_EQUAL(on_b.meta.changes, 2u * kEach);
  CAF_CHECK_EQUAL(on_a.meta.revision, on_b.meta.revision);
  CAF_CHECK_EQUAL(meta_of(a, "d").changes, static_cast<uint64_t>(kEach));
}

CAF_TEST_FIXTURE_SCOPE_END()
