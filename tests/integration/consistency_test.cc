// Consistency across nodes on a real nats-server (README "Consistency"): revisions, writes of one
// key from several nodes counted exactly, compare-and-set with exactly one winner. Two "nodes"
// are two instances with data paths of their own on one stream.
#define CAF_SUITE consistency
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <thread>

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;

namespace {

// The message of a failed result, by value (CAF's checks must not get references into
// temporaries).
template <class T>
std::string why(const result<T>& r) {
  return r.error().message();
}

struct fixture {
  temp_dir dir;
  std::string name = unique_name("cons");
};

document consistent_get(stream& db, const std::string& key) {
  auto got = db.get(key, read_consistency::consistent);
  CAF_REQUIRE(got.ok());
  CAF_REQUIRE(got->has_value());
  return **got;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(consistency_tests, fixture)

CAF_TEST(every record carries the revision of its event on every node) {
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  auto first = a.put("k", json{{"v", 1}}).value();
  auto other = a.put("other", json{{"v", 1}}).value();
  CAF_CHECK_GREATER(first.meta.revision, 0u);
  CAF_CHECK_EQUAL(other.meta.revision, first.meta.revision + 1);  // the stream's sequences
  auto second = b.put("k", json{{"v", 2}}).value();
  CAF_CHECK_EQUAL(second.meta.revision, other.meta.revision + 1);
  CAF_CHECK_EQUAL(consistent_get(a, "k").meta.revision, second.meta.revision);
  auto meta_json = second.meta.to_json();
  CAF_CHECK_EQUAL(meta_json["revision"].get<uint64_t>(), second.meta.revision);
  a.close();
  b.close();
}

// Issue 24: 60 puts of one key through each of two nodes at the same time counted 99 changes.
CAF_TEST(concurrent writers of one key on two nodes count every put) {
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  constexpr int kPuts = 60;
  std::atomic<int> failures{0};
  auto writer = [&failures](stream& db, const std::string& who) {
    for (int i = 0; i < kPuts; ++i)
      if (!db.put("hot", json{{"by", who}, {"i", i}}).ok()) ++failures;
  };
  std::thread on_a(writer, std::ref(a), "a");
  std::thread on_b(writer, std::ref(b), "b");
  on_a.join();
  on_b.join();
  CAF_REQUIRE_EQUAL(failures.load(), 0);
  auto seen_a = consistent_get(a, "hot");
  auto seen_b = consistent_get(b, "hot");
  CAF_CHECK_EQUAL(seen_a.meta.changes, uint64_t{2 * kPuts});
  CAF_CHECK_EQUAL(seen_b.meta.changes, uint64_t{2 * kPuts});
  CAF_CHECK_EQUAL(seen_a.meta.date_created, seen_b.meta.date_created);
  CAF_CHECK_EQUAL(seen_a.meta.revision, seen_b.meta.revision);
  CAF_CHECK_EQUAL(seen_a.data, seen_b.data);
  a.close();
  b.close();
}

CAF_TEST(conditional writes apply only when their condition holds) {
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  auto created = a.put("k", json{{"v", 1}}, write_condition::if_absent());
  CAF_REQUIRE(created.ok());
  uint64_t r1 = created->meta.revision;
  // Through the other node: it exists now, whatever b's replica has seen.
  auto again = b.put("k", json{{"v", 2}}, write_condition::if_absent());
  CAF_REQUIRE(!again.ok());
  CAF_CHECK_EQUAL(again.error().code(), errc::conflict);
  CAF_CHECK_EQUAL(why(again), "key 'k' exists (revision " + std::to_string(r1) + ")");
  auto updated = b.put("k", json{{"v", 2}}, write_condition::if_revision(r1));
  CAF_REQUIRE(updated.ok());
  CAF_CHECK_EQUAL(updated->meta.changes, 2u);
  uint64_t r2 = updated->meta.revision;
  auto stale = a.put("k", json{{"v", 3}}, write_condition::if_revision(r1));
  CAF_REQUIRE(!stale.ok());
  CAF_CHECK_EQUAL(stale.error().code(), errc::conflict);
  CAF_CHECK_EQUAL(why(stale),
                  "key 'k' is at revision " + std::to_string(r2) + ", not " + std::to_string(r1));
  CAF_CHECK_EQUAL(consistent_get(a, "k").data, json({{"v", 2}}));  // nothing written
  // Deletes: only at the revision named.
  auto wrong = a.erase("k", write_condition::if_revision(r1));
  CAF_CHECK_EQUAL(wrong.error().code(), errc::conflict);
  CAF_CHECK_EQUAL(consistent_get(b, "k").meta.revision, r2);
  CAF_CHECK_EQUAL(a.erase("k", write_condition::if_revision(r2)).value(), 1u);
  auto gone = b.put("k", json{{"v", 4}}, write_condition::if_revision(r2));
  CAF_CHECK_EQUAL(gone.error().code(), errc::conflict);
  CAF_CHECK_EQUAL(why(gone),
                  "key 'k' does not exist (expected revision " + std::to_string(r2) + ")");
  // Absent again: if_absent applies, and the key starts anew.
  auto reborn = b.put("k", json{{"v", 5}}, write_condition::if_absent());
  CAF_REQUIRE(reborn.ok());
  CAF_CHECK_EQUAL(reborn->meta.changes, 1u);
  // A delete cannot be "if absent".
  CAF_CHECK_EQUAL(a.erase("k", write_condition::if_absent()).error().code(),
                  errc::invalid_argument);
  a.close();
  b.close();
}

// Four clients on two nodes increment one counter with read + compare-and-set, retrying on
// conflict: exactly one of the writers with the same expected revision wins each round, so
// the counter ends at the number of increments that succeeded.
CAF_TEST(compare and set increments from four clients on two nodes lose none) {
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  a.put("counter", json{{"n", 0}}).value();
  constexpr int kIncrements = 15;
  std::atomic<int> succeeded{0}, conflicts{0}, errors{0};
  auto client = [&](stream& db) {
    for (int done = 0; done < kIncrements;) {
      auto current = db.get("counter", read_consistency::consistent);
      if (!current.ok() || !current->has_value()) {
        ++errors;
        return;
      }
      int64_t n = (*current)->data["n"].get<int64_t>();
      auto put = db.put("counter", json{{"n", n + 1}},
                        write_condition::if_revision((*current)->meta.revision));
      if (put.ok()) {
        ++succeeded;
        ++done;
      } else if (put.error().code() == errc::conflict) {
        ++conflicts;
      } else {
        ++errors;
        return;
      }
    }
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) clients.emplace_back(client, std::ref(i % 2 == 0 ? a : b));
  for (auto& t : clients) t.join();
  CAF_REQUIRE_EQUAL(errors.load(), 0);
  CAF_CHECK_EQUAL(succeeded.load(), 4 * kIncrements);
  CAF_MESSAGE(conflicts.load() << " conflicts retried");
  for (auto* db : {&a, &b}) {
    auto final_state = consistent_get(*db, "counter");
    CAF_CHECK_EQUAL(final_state.data["n"].get<int64_t>(), 4 * kIncrements);
    CAF_CHECK_EQUAL(final_state.meta.changes, uint64_t{4 * kIncrements + 1});
  }
  a.close();
  b.close();
}

CAF_TEST_FIXTURE_SCOPE_END()
