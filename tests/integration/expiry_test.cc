// Expiry on a real nats-server (README "Expiry"): keys put with a TTL are deleted once on every
// node within TTL + 2 s, a later put clears the expiry, and expiry survives restarts. Two
// "nodes" are two instances with data paths of their own on one stream.
#define CAF_SUITE expiry
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <thread>

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

namespace {

struct seen_change {
  std::string key;
  std::string type;
  bool expired = false;
  std::chrono::steady_clock::time_point at;
};

struct fixture {
  temp_dir dir;
  std::string name = unique_name("ttl");

  subscription watch(stream& db, collector<seen_change>& into,
                     std::optional<uint64_t> from = std::nullopt) {
    return db
        .subscribe(
            "*",
            [&into](const std::string& key, const json&, const std::optional<meta>&,
                    const json& event) {
              into.add(seen_change{key, event.at("type").get<std::string>(),
                                   event.contains("expired"), std::chrono::steady_clock::now()});
            },
            subscribe_options{from})
        .value();
  }
};

// The changes of `key` among `all`.
std::vector<seen_change> of(const std::vector<seen_change>& all, const std::string& key) {
  std::vector<seen_change> out;
  for (const auto& c : all)
    if (c.key == key) out.push_back(c);
  return out;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(expiry_tests, fixture)

CAF_TEST(a key put with a ttl is deleted once on every node within ttl plus two seconds) {
  auto a = stream::open(make_config(name, dir, "a")).value();
  auto b = stream::open(make_config(name, dir, "b")).value();
  collector<seen_change> on_a, on_b;
  auto sub_a = watch(a, on_a);
  auto sub_b = watch(b, on_b);
  a.put("kept", 1).value();
  auto put_at = std::chrono::steady_clock::now();
  a.put("k", json{{"v", 1}}, 1s).value();
  CAF_CHECK_EQUAL(a.count(json{{"v", 1}}).value(), 1u);
  // PUT kept, PUT k, DELETE k on both nodes.
  auto seen_a = on_a.wait_for(3, 5s);
  auto seen_b = on_b.wait_for(3, 5s);
  CAF_REQUIRE_EQUAL(seen_a.size(), 3u);
  CAF_REQUIRE_EQUAL(seen_b.size(), 3u);
  for (auto* seen : {&seen_a, &seen_b}) {
    auto& deletion = (*seen)[2];
    CAF_CHECK_EQUAL(deletion.key, "k");
    CAF_CHECK_EQUAL(deletion.type, "DELETE");
    CAF_CHECK(deletion.expired);
    CAF_CHECK_LESS(deletion.at - put_at, 3s);  // TTL + 2 s
  }
  CAF_CHECK(!a.get("k").value().has_value());
  CAF_CHECK(!b.get("k").value().has_value());
  CAF_CHECK_EQUAL(b.count(json{{"v", 1}}).value(), 0u);
  CAF_CHECK(a.query(json::object()).value().size() == 1u);
  // Both nodes published the expiry; it was deleted once: a later change is the next one seen.
  a.put("after", 1).value();
  seen_a = on_a.wait_for(4, 5s);
  seen_b = on_b.wait_for(4, 5s);
  CAF_REQUIRE_EQUAL(seen_a.size(), 4u);
  CAF_REQUIRE_EQUAL(seen_b.size(), 4u);
  CAF_CHECK_EQUAL(seen_a[3].key, "after");
  CAF_CHECK_EQUAL(seen_b[3].key, "after");
  // JetStream stored one DELETE of it (the nodes' publishes share a message id); the expired
  // PUT stays until the key is written again.
  auto kept = a.history("k").value();
  CAF_REQUIRE_EQUAL(kept.size(), 2u);
  CAF_CHECK_EQUAL(kept[0].type, "DELETE");
  CAF_CHECK_EQUAL(kept[1].type, "PUT");
  sub_a.unsubscribe();
  sub_b.unsubscribe();
  a.close();
  b.close();
}

CAF_TEST(a later put without a ttl clears the expiry) {
  auto db = stream::open(make_config(name, dir)).value();
  collector<seen_change> seen;
  auto sub = watch(db, seen);
  db.put("k", 1, 1s).value();
  db.put("k", 2).value();      // no longer expires
  db.put("j", 1, 2s).value();  // expires after k would have
  auto changes = seen.wait_for(4, 6s);
  CAF_REQUIRE_EQUAL(changes.size(), 4u);
  CAF_CHECK_EQUAL(changes[3].key, "j");
  CAF_CHECK(changes[3].expired);
  CAF_CHECK_EQUAL(of(changes, "k").size(), 2u);
  CAF_CHECK_EQUAL(data_of(db, "k"), json(2));
  sub.unsubscribe();
  db.close();
}

CAF_TEST(a key expires when no node ran at its time) {
  uint64_t revision;
  {
    auto db = stream::open(make_config(name, dir)).value();
    revision = db.put("k", 1, 1s).value().meta.revision;
    db.close();
  }
  std::this_thread::sleep_for(1500ms);  // the TTL passes with no node serving the stream
  auto db = stream::open(make_config(name, dir)).value();
  collector<seen_change> seen;
  auto sub = watch(db, seen, revision);  // from the put on: the expiry, however soon it applies
  auto changes = seen.wait_for(1, 5s);
  CAF_REQUIRE_EQUAL(changes.size(), 1u);
  CAF_CHECK_EQUAL(changes[0].type, "DELETE");
  CAF_CHECK(!db.get("k").value().has_value());
  sub.unsubscribe();
  db.close();
}

CAF_TEST(a ttl out of range is refused and stores nothing) {
  auto db = stream::open(make_config(name, dir)).value();
  CAF_CHECK_EQUAL(db.put("k", 1, 0s).error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(db.put("k", 1, -5s).error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(
      db.put("k", 1, std::chrono::seconds(uint64_t{400} * 365 * 24 * 3600)).error().code(),
      errc::invalid_argument);
  CAF_CHECK(!db.get("k").value().has_value());
  db.close();
}

CAF_TEST_FIXTURE_SCOPE_END()
