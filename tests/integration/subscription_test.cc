#define CAF_SUITE subscriptions
#include "caf/test/unit_test.hpp"

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

using update = callback_args;

struct fixture {
  temp_dir dir;
  std::string name = unique_name("subs");
  stream db = stream::open(make_config(name, dir)).value();

  subscription watch(const std::string& glob, collector<update>& into) {
    return collect(db, glob, into);
  }

  ~fixture() { db.close(); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(subscription_tests, fixture)

CAF_TEST(subscribers get changes in order with metadata and the event) {
  collector<update> updates;
  auto sub = watch("test:*", updates);
  auto first = db.put("test:1", json{{"value", 1}}).value();
  db.put("test:2", json{{"value", 2}}).value();
  db.put("other", json{{"value", 3}}).value();
  auto got = updates.wait_for(2);
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_CHECK_EQUAL(got[0].key, "test:1");
  CAF_CHECK_EQUAL(got[0].data, json({{"value", 1}}));
  CAF_REQUIRE(got[0].m.has_value());
  CAF_CHECK_EQUAL(got[0].m->changes, 1u);
  CAF_CHECK_EQUAL(got[0].m->date_created, first.meta.date_created);
  CAF_CHECK_EQUAL(got[0].event["type"], "PUT");
  CAF_CHECK_EQUAL(got[0].event["id"], "test:1");
  CAF_CHECK_EQUAL(got[0].event["data"], json({{"value", 1}}));
  CAF_CHECK(got[0].event["oldData"].is_null());
  CAF_CHECK(got[0].event["timestamp"].is_number());
  CAF_CHECK_EQUAL(got[1].key, "test:2");
  // An update reports the previous document as oldData.
  db.put("test:1", json{{"value", 10}}).value();
  got = updates.wait_for(3);
  CAF_REQUIRE_EQUAL(got.size(), 3u);
  CAF_CHECK_EQUAL(got[2].event["oldData"], json({{"value", 1}}));
  CAF_CHECK_EQUAL(got[2].m->changes, 2u);
  sub.unsubscribe();
}

CAF_TEST(unsubscribe stops the callbacks) {
  collector<update> updates;
  auto sub = watch("unsub:*", updates);
  db.put("unsub:1", json{{"value", 1}}).value();
  CAF_REQUIRE_EQUAL(updates.wait_for(1).size(), 1u);
  sub.unsubscribe();
  CAF_CHECK(!sub.active());
  db.put("unsub:2", json{{"value", 2}}).value();
  // A second subscription, made after the put above, proves the stream has moved on.
  collector<update> later;
  auto probe = watch("unsub:*", later);
  db.put("unsub:3", 3).value();
  CAF_REQUIRE_EQUAL(later.wait_for(1).size(), 1u);
  CAF_CHECK_EQUAL(updates.items().size(), 1u);
  probe.unsubscribe();
  sub.unsubscribe();  // idempotent
}

CAF_TEST(multiple subscriptions each get their keys) {
  collector<update> one, two, all;
  auto s1 = watch("multi:1", one);
  auto s2 = watch("multi:2", two);
  auto s3 = watch("multi:*", all);
  db.put("multi:1", json{{"value", 1}}).value();
  db.put("multi:2", json{{"value", 2}}).value();
  CAF_REQUIRE_EQUAL(all.wait_for(2).size(), 2u);
  CAF_REQUIRE_EQUAL(one.wait_for(1).size(), 1u);
  CAF_REQUIRE_EQUAL(two.wait_for(1).size(), 1u);
  auto got_one = one.items();
  auto got_two = two.items();
  CAF_CHECK_EQUAL(got_one.size(), 1u);
  CAF_CHECK_EQUAL(got_one.front().key, "multi:1");
  CAF_CHECK_EQUAL(got_two.front().key, "multi:2");
  s1.unsubscribe();
  s2.unsubscribe();
  s3.unsubscribe();
}

CAF_TEST(deletes notify with null data) {
  collector<update> updates;
  auto sub = watch("del:*", updates);
  db.put("del:1", json{{"value", 1}}).value();
  db.erase("del:1").value();
  auto got = updates.wait_for(2);
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  CAF_CHECK(got[1].data.is_null());
  CAF_CHECK(!got[1].m.has_value());
  CAF_CHECK_EQUAL(got[1].event["type"], "DELETE");
  CAF_CHECK_EQUAL(got[1].event["oldData"], json({{"value", 1}}));
  sub.unsubscribe();
}

CAF_TEST(globs with several stars match the whole key) {
  collector<update> updates;
  auto sub = watch("user:*:profile:*", updates);
  for (std::string key : {"user:1:profile:a", "user:2:settings:a", "user:3:profile",
                          "xuser:4:profile:b", "user:5:profile:b:c", "user::profile:"})
    db.put(key, 1).value();
  db.put("end", 1).value();
  collector<update> end;
  auto end_sub = watch("end", end);
  db.put("end", 2).value();
  CAF_REQUIRE_EQUAL(end.wait_for(1).size(), 1u);
  std::vector<std::string> keys;
  for (auto& u : updates.items()) keys.push_back(u.key);
  CAF_CHECK_EQUAL(
      keys, (std::vector<std::string>{"user:1:profile:a", "user:5:profile:b:c", "user::profile:"}));
  sub.unsubscribe();
  end_sub.unsubscribe();
}

CAF_TEST(a callback may call the synchronous api) {
  collector<json> seen;
  auto sub = db.subscribe("ping", [&](const std::string&, const json&, auto&, auto&) {
                 // Runs on the subscription's own thread, so waiting here is fine.
                 seen.add(data_of(db, "ping"));
               }).value();
  db.put("ping", 42).value();
  auto got = seen.wait_for(1);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got[0], json(42));
  sub.unsubscribe();
}

CAF_TEST(closing the stream ends its subscriptions) {
  collector<update> updates;
  auto sub = watch("*", updates);
  db.close();
  CAF_CHECK(!sub.active());
}

CAF_TEST_FIXTURE_SCOPE_END()
