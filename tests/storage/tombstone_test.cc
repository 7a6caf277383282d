// Tombstones (storage/stream_store.hpp): the revision a deleted key keeps, and the rule by which
// a PUT computed before a DELETE it landed after starts the key anew.
#define CAF_SUITE tombstones
#include "caf/test/unit_test.hpp"

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "protocol/event.hpp"
#include "protocol/record.hpp"
#include "storage/database.hpp"
#include "storage/events.hpp"
#include "storage/stream_store.hpp"
#include "support/temp_dir.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using namespace eventbase::storage;
using eventbase::test::meta_of;
using eventbase::test::put_event;
using json = nlohmann::ordered_json;

namespace {

// The tombstone of `key`, 0 when there is none (CAF's checks print no std::optional).
uint64_t tombstone_of(const stream_store& store, const std::string& key) {
  return store.tombstone(key).value().value_or(0);
}

bool has_tombstone(const stream_store& store, const std::string& key) {
  return store.tombstone(key).value().has_value();
}

struct fixture {
  eventbase::test::temp_dir dir;
  std::shared_ptr<database> db = database::open(dir.path()).value();
  std::shared_ptr<stream_store> store = db->open_stream("s").value();

  void put(const std::string& key, uint64_t seq, carried_meta m = {}) {
    apply_batch batch(*store);
    CAF_REQUIRE(
        batch.put(put_event(key, json(seq), m), seq, static_cast<int64_t>(seq) * 1000).ok());
    CAF_REQUIRE(batch.commit(seq).ok());
  }

  void erase(const std::string& key, uint64_t seq) {
    apply_batch batch(*store);
    CAF_REQUIRE(batch.erase(key, seq, nullptr, static_cast<int64_t>(seq) * 1000).ok());
    CAF_REQUIRE(batch.commit(seq).ok());
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(tombstone_tests, fixture)

CAF_TEST(an erase leaves a tombstone with its sequence) {
  put("k", 1);
  CAF_CHECK(!has_tombstone(*store, "k"));
  apply_batch batch(*store);
  CAF_REQUIRE(batch.erase("k", 2).ok());
  CAF_CHECK(!has_tombstone(*store, "k"));  // not before the commit
  CAF_REQUIRE(batch.commit(2).ok());
  CAF_CHECK(!store->get("k").value().has_value());
  CAF_CHECK_EQUAL(tombstone_of(*store, "k"), 2u);
  // A key this replica never saw gets one as well: the stream deleted it.
  erase("never", 3);
  CAF_CHECK_EQUAL(tombstone_of(*store, "never"), 3u);
  // Deleting again moves it.
  erase("k", 4);
  CAF_CHECK_EQUAL(tombstone_of(*store, "k"), 4u);
}

CAF_TEST(a put removes the tombstone) {
  put("k", 1);
  erase("k", 2);
  put("k", 3);
  CAF_CHECK(!has_tombstone(*store, "k"));
  CAF_CHECK(store->get("k").value().has_value());
  erase("other", 4);
  CAF_CHECK_EQUAL(tombstone_of(*store, "other"), 4u);  // other keys keep theirs
}

CAF_TEST(the revision of a key is its record 's or its tombstone' s or zero) {
  CAF_CHECK_EQUAL(store->revision("unknown").value(), 0u);  // nothing deleted at all yet
  put("live", 3);
  put("dead", 4);
  erase("dead", 5);
  CAF_CHECK_EQUAL(store->revision("live").value(), 3u);
  CAF_CHECK_EQUAL(store->revision("dead").value(), 5u);
  CAF_CHECK_EQUAL(store->revision("unknown").value(), 0u);
  CAF_CHECK(!has_tombstone(*store, "live"));
  CAF_CHECK(!has_tombstone(*store, "unknown"));
  put("dead", 6);
  CAF_CHECK_EQUAL(store->revision("dead").value(), 6u);
}

CAF_TEST(tombstones survive reopening and clear removes them) {
  put("k", 1);
  erase("k", 2);
  store->close();
  store.reset();
  db.reset();
  db = database::open(dir.path()).value();
  store = db->open_stream("s").value();
  CAF_CHECK_EQUAL(store->applied_sequence(), 2u);
  CAF_CHECK_EQUAL(tombstone_of(*store, "k"), 2u);  // read from disk
  CAF_CHECK_EQUAL(store->revision("k").value(), 2u);
  CAF_REQUIRE(store->clear().ok());
  CAF_CHECK(!has_tombstone(*store, "k"));
  CAF_CHECK_EQUAL(store->revision("k").value(), 0u);
  // Reopened after the clear, still none; and deletes after it leave tombstones again.
  store->close();
  store.reset();
  db.reset();
  db = database::open(dir.path()).value();
  store = db->open_stream("s").value();
  CAF_CHECK(!has_tombstone(*store, "k"));
  erase("k", 1);
  CAF_CHECK_EQUAL(tombstone_of(*store, "k"), 1u);
}

CAF_TEST(a put computed before a delete it landed after starts the key anew) {
  put("k", 1, carried_meta{1, std::nullopt, uint64_t{0}});
  put("k", 2, carried_meta{2, int64_t{1000}, uint64_t{1}});
  erase("k", 3);
  // Written by a node that had seen the key at 2, not its DELETE at 3.
  apply_batch batch(*store);
  bool raced = false;
  std::optional<std::string> previous = std::string("untouched");
  auto record = batch.put(put_event("k", json("late"), carried_meta{3, int64_t{1000}, uint64_t{2}}),
                          4, 4000, &previous, &raced);
  CAF_REQUIRE(record.ok());
  CAF_CHECK(raced);
  CAF_CHECK(!previous.has_value());
  CAF_CHECK_EQUAL(meta_of(*record), (meta{4000, 4000, 1}));
  CAF_REQUIRE(batch.commit(4).ok());
  CAF_CHECK_EQUAL(meta_of(store->get("k").value().value()), (meta{4000, 4000, 1}));
  CAF_CHECK(!has_tombstone(*store, "k"));
}

CAF_TEST(a put based on the delete or later keeps the metadata it carries) {
  erase("at", 5);
  erase("after", 5);
  erase("unsaid", 5);
  apply_batch batch(*store);
  bool raced = true;
  // It saw the delete (its base is the delete's revision): the key is new there already.
  auto at = batch.put(put_event("at", 1, carried_meta{1, std::nullopt, uint64_t{5}}), 6, 6000,
                      nullptr, &raced);
  CAF_REQUIRE(at.ok());
  CAF_CHECK(!raced);
  CAF_CHECK_EQUAL(meta_of(*at), (meta{6000, 6000, 1}));
  // A base beyond the delete (a later revision): as carried.
  raced = true;
  auto after = batch.put(put_event("after", 1, carried_meta{7, int64_t{100}, uint64_t{6}}), 7, 7000,
                         nullptr, &raced);
  CAF_REQUIRE(after.ok());
  CAF_CHECK(!raced);
  CAF_CHECK_EQUAL(meta_of(*after), (meta{100, 7000, 7}));
  // No base carried (an Eventbase before revisions): as carried.
  raced = true;
  auto unsaid = batch.put(put_event("unsaid", 1, carried_meta{3, int64_t{100}, std::nullopt}), 8,
                          8000, nullptr, &raced);
  CAF_REQUIRE(unsaid.ok());
  CAF_CHECK(!raced);
  CAF_CHECK_EQUAL(meta_of(*unsaid), (meta{100, 8000, 3}));
  // A key without a tombstone is never raced.
  raced = true;
  auto fresh = batch.put(put_event("fresh", 1, carried_meta{2, int64_t{100}, uint64_t{0}}), 9, 9000,
                         nullptr, &raced);
  CAF_REQUIRE(fresh.ok());
  CAF_CHECK(!raced);
  CAF_CHECK_EQUAL(meta_of(*fresh), (meta{100, 9000, 2}));
  CAF_REQUIRE(batch.commit(9).ok());
  CAF_CHECK(!has_tombstone(*store, "at"));
  CAF_CHECK(!has_tombstone(*store, "after"));
  CAF_CHECK(!has_tombstone(*store, "unsaid"));
}

CAF_TEST(a put of a js writer after a delete counts from nothing) {
  put("k", 1);
  put("k", 2);
  erase("k", 3);
  apply_batch batch(*store);
  bool raced = true;
  auto record = batch.put(put_event("k", 1), 4, 4000, nullptr, &raced);  // no carried metadata
  CAF_REQUIRE(record.ok());
  CAF_CHECK(!raced);
  CAF_CHECK_EQUAL(meta_of(*record), (meta{4000, 4000, 1}));
}

CAF_TEST(a delete then a put in one batch) {
  put("k", 1, carried_meta{1, std::nullopt, uint64_t{0}});
  put("same", 2, carried_meta{1, std::nullopt, uint64_t{0}});
  apply_batch batch(*store);
  CAF_REQUIRE(batch.erase("k", 3).ok());
  CAF_REQUIRE(batch.erase("same", 4).ok());
  bool raced = false;
  auto raced_put = batch.put(put_event("k", 2, carried_meta{2, int64_t{1000}, uint64_t{1}}), 5,
                             5000, nullptr, &raced);
  CAF_REQUIRE(raced_put.ok());
  CAF_CHECK(raced);  // the batch's own delete counts
  CAF_CHECK_EQUAL(meta_of(*raced_put), (meta{5000, 5000, 1}));
  auto after_put = batch.put(put_event("same", 2, carried_meta{1, std::nullopt, uint64_t{4}}), 6,
                             6000, nullptr, &raced);
  CAF_REQUIRE(after_put.ok());
  CAF_CHECK(!raced);
  CAF_REQUIRE(batch.commit(6).ok());
  CAF_CHECK(!has_tombstone(*store, "k"));
  CAF_CHECK(!has_tombstone(*store, "same"));
  CAF_CHECK_EQUAL(store->revision("k").value(), 5u);
  CAF_CHECK_EQUAL(store->revision("same").value(), 6u);
  // And a put then a delete: the tombstone stays.
  apply_batch other(*store);
  CAF_REQUIRE(
      other.put(put_event("k", 3, carried_meta{2, int64_t{5000}, uint64_t{5}}), 7, 7000).ok());
  CAF_REQUIRE(other.erase("k", 8).ok());
  CAF_REQUIRE(other.commit(8).ok());
  CAF_CHECK(!store->get("k").value().has_value());
  CAF_CHECK_EQUAL(tombstone_of(*store, "k"), 8u);
}

CAF_TEST(changes since a revision are each keys latest in revision order) {
  put("a", 1);
  put("b", 2);
  put("a", 3);
  erase("b", 4);
  put("c", 5);
  put("other", 6);
  auto since = store->changes_since(1, protocol::glob("?"), 100);
  CAF_REQUIRE(since.ok());  // '?' is literal in a glob: nothing matches
  CAF_CHECK(since->empty());
  auto changes = store->changes_since(1, protocol::glob("*"), 100).value();
  CAF_REQUIRE_EQUAL(changes.size(), 4u);
  CAF_CHECK_EQUAL(changes[0].key, "a");
  CAF_CHECK_EQUAL(changes[0].revision, 3u);
  CAF_CHECK(!changes[0].record.empty());
  CAF_CHECK_EQUAL(changes[1].key, "b");
  CAF_CHECK_EQUAL(changes[1].revision, 4u);
  CAF_CHECK(changes[1].record.empty());
  CAF_CHECK_EQUAL(changes[1].deleted_ms, 4000);  // the DELETE's time, kept with the tombstone
  CAF_CHECK_EQUAL(changes[2].key, "c");
  CAF_CHECK_EQUAL(changes[3].key, "other");
  auto later = store->changes_since(4, protocol::glob("*"), 100).value();
  CAF_REQUIRE_EQUAL(later.size(), 2u);  // c and other: b's delete is not after 4
  CAF_CHECK_EQUAL(later[0].key, "c");
  auto too_many = store->changes_since(0, protocol::glob("*"), 3);
  CAF_REQUIRE(!too_many.ok());
  CAF_CHECK_EQUAL(too_many.error().code(), errc::too_large);
  CAF_CHECK_EQUAL(store->changes_since(0, protocol::glob("*"), 4).value().size(), 4u);
}

CAF_TEST(a put with a ttl is due at its time plus the ttl until written again) {
  auto put_ttl = [&](const std::string& key, uint64_t seq, uint64_t ttl) {
    auto ev = put_event(key, json(seq), carried_meta{});
    ev.ttl_seconds = ttl;
    apply_batch batch(*store);
    CAF_REQUIRE(batch.put(ev, seq, 10000).ok());
    CAF_REQUIRE(batch.commit(seq).ok());
  };
  CAF_CHECK(!store->may_have_expiries());
  CAF_CHECK(store->expiries_due(1'000'000, 10).value().empty());
  put_ttl("a", 1, 5);  // due at 15000
  put_ttl("b", 2, 2);  // due at 12000
  CAF_CHECK(store->may_have_expiries());
  CAF_CHECK_EQUAL(store->next_expiry(0).value().value_or(0), 12000);
  CAF_CHECK_EQUAL(store->next_expiry(12000).value().value_or(0), 15000);
  CAF_CHECK(!store->next_expiry(15000).value().has_value());
  CAF_CHECK(store->expiries_due(11999, 10).value().empty());
  auto due = store->expiries_due(15000, 10).value();
  CAF_REQUIRE_EQUAL(due.size(), 2u);
  CAF_CHECK_EQUAL(due[0].key, "b");  // earliest first
  CAF_CHECK_EQUAL(due[0].revision, 2u);
  CAF_CHECK_EQUAL(due[1].key, "a");
  CAF_CHECK_EQUAL(store->expiries_due(15000, 1).value().size(), 1u);
  put("b", 3);  // written again without a ttl: no longer expires
  CAF_CHECK_EQUAL(store->expiries_due(15000, 10).value().size(), 1u);
  // An expiry applies only while the key is at the revision that expired.
  {
    apply_batch batch(*store);
    CAF_CHECK_EQUAL(batch.expire("b", 4, 2).value(), false);  // b is at 3 now
    CAF_CHECK_EQUAL(batch.expire("a", 4, 1).value(), true);
    CAF_REQUIRE(batch.commit(4).ok());
  }
  CAF_CHECK(!store->get("a").value().has_value());
  CAF_CHECK(store->get("b").value().has_value());
  CAF_CHECK(store->expiries_due(1'000'000, 10).value().empty());
  CAF_CHECK(!store->next_expiry(0).value().has_value());
  // An erase removes an expiry too, and reopening keeps what is left.
  put_ttl("c", 5, 1);
  erase("c", 6);
  put_ttl("d", 7, 1);
  db.reset();
  store.reset();
  db = database::open(dir.path()).value();
  store = db->open_stream("s").value();
  CAF_CHECK(store->may_have_expiries());
  auto left = store->expiries_due(1'000'000, 10).value();
  CAF_REQUIRE_EQUAL(left.size(), 1u);
  CAF_CHECK_EQUAL(left[0].key, "d");
}

CAF_TEST_FIXTURE_SCOPE_END()
