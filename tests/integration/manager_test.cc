#define CAF_SUITE manager
#include "caf/test/unit_test.hpp"

#include <set>
#include <thread>

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

struct fixture {
  temp_dir dir;
  collector<std::string> opened;
  collector<std::string> closed;

  manager_config config() {
    manager_config c;
    c.data_path = dir.sub("db");
    c.nats = test_nats();
    c.keep_alive = std::chrono::seconds(60);
    c.cleanup_interval = std::chrono::seconds(60);
    c.on_stream_opened = [this](const std::string& name) { opened.add(name); };
    c.on_stream_closed = [this](const std::string& name) { closed.add(name); };
    return c;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(manager_tests, fixture)

CAF_TEST(the same name gives the same instance) {
  auto m = manager::create(config()).value();
  auto name = unique_name("mgr-same");
  auto a = m.get_stream(name).value();
  auto b = m.get_stream(name).value();
  CAF_CHECK(a == b);
  CAF_CHECK_EQUAL(m.open_streams().value(), std::vector<std::string>{name});
  m.close_all();
}

CAF_TEST(streams are independent) {
  auto m = manager::create(config()).value();
  auto one = m.get_stream(unique_name("mgr-one")).value();
  auto two = m.get_stream(unique_name("mgr-two")).value();
  CAF_CHECK(one != two);
  one.put("key1", json{{"data", "value1"}}).value();
  CAF_CHECK_EQUAL(data_of(one, "key1"), json({{"data", "value1"}}));
  CAF_CHECK(!two.get("key1").value().has_value());
  CAF_CHECK_EQUAL(m.open_streams().value().size(), 2u);
  m.close_all();
}

CAF_TEST(an idle stream closes itself and reopens with its data) {
  auto c = config();
  c.keep_alive = std::chrono::seconds(1);
  c.cleanup_interval = std::chrono::milliseconds(500);
  auto m = manager::create(c).value();
  auto name = unique_name("mgr-idle");
  auto first = m.get_stream(name).value();
  first.put("key", json{{"data", "value"}}).value();
  // The stream announces its closing once idle for the keep-alive.
  auto closed_names = closed.wait_for(1, std::chrono::seconds(10));
  CAF_REQUIRE_EQUAL(closed_names.size(), 1u);
  CAF_CHECK_EQUAL(closed_names[0], name);
  CAF_CHECK(m.open_streams().value().empty());
  CAF_CHECK_EQUAL(first.get("key").error().code(), errc::closed);
  auto second = m.get_stream(name).value();
  CAF_CHECK(first != second);
  CAF_CHECK_EQUAL(data_of(second, "key"), json({{"data", "value"}}));
  CAF_CHECK_EQUAL(opened.wait_for(2).size(), 2u);  // notices arrive asynchronously
  m.close_all();
}

CAF_TEST(a subscription keeps its stream open) {
  auto c = config();
  c.keep_alive = std::chrono::seconds(1);
  c.cleanup_interval = std::chrono::milliseconds(200);
  auto m = manager::create(c).value();
  auto watched = unique_name("mgr-watched");
  auto idle = unique_name("mgr-idle2");
  auto stream_w = m.get_stream(watched).value();
  auto sub = stream_w.subscribe("*", [](auto&, auto&, auto&, auto&) {}).value();
  m.get_stream(idle).value();
  // The unwatched stream closes; the watched one stays open meanwhile.
  auto closed_names = closed.wait_for(1, std::chrono::seconds(10));
  CAF_REQUIRE_EQUAL(closed_names.size(), 1u);
  CAF_CHECK_EQUAL(closed_names[0], idle);
  CAF_CHECK_EQUAL(m.open_streams().value(), std::vector<std::string>{watched});
  // Unsubscribing releases it.
  sub.unsubscribe();
  closed_names = closed.wait_for(2, std::chrono::seconds(10));
  CAF_REQUIRE_EQUAL(closed_names.size(), 2u);
  CAF_CHECK_EQUAL(closed_names[1], watched);
  m.close_all();
}

CAF_TEST(close all then get stream gives a new instance) {
  auto m = manager::create(config()).value();
  auto name = unique_name("mgr-closeall");
  auto first = m.get_stream(name).value();
  first.put("k", 1).value();
  CAF_REQUIRE(m.close_all().ok());
  CAF_CHECK(m.open_streams().value().empty());
  CAF_CHECK_EQUAL(closed.wait_for(1).size(), 1u);
  auto second = m.get_stream(name).value();
  CAF_CHECK(first != second);
  CAF_CHECK_EQUAL(data_of(second, "k"), json(1));
  m.close_all();
}

CAF_TEST(on message reaches every stream) {
  collector<std::pair<std::string, json>> events;
  auto c = config();
  c.on_message = [&](const std::string& stream_name, const json& event) {
    events.add({stream_name, event});
  };
  auto m = manager::create(c).value();
  auto a = unique_name("mgr-msg-a");
  auto b = unique_name("mgr-msg-b");
  m.get_stream(a).value().put("key", json{{"data", "value"}}).value();
  m.get_stream(b).value().put("key2", 2).value();
  auto got = events.wait_for(2);
  CAF_REQUIRE_EQUAL(got.size(), 2u);
  std::set<std::string> streams{got[0].first, got[1].first};
  CAF_CHECK_EQUAL(streams, (std::set<std::string>{a, b}));
  for (auto& [stream_name, event] : got) CAF_CHECK_EQUAL(event["type"], "PUT");
  m.close_all();
}

CAF_TEST(fifty concurrent gets of a new name open it once) {
  auto m = manager::create(config()).value();
  auto name = unique_name("mgr-race");
  std::vector<stream> handles(50);
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i)
    threads.emplace_back([&, i] { handles[i] = m.get_stream(name).value(); });
  for (auto& t : threads) t.join();
  for (auto& h : handles) CAF_CHECK(h == handles[0]);
  // Notices reach the listener in order: once the marker's has arrived, every notice about
  // `name` has too.
  auto marker = unique_name("mgr-marker");
  m.get_stream(marker).value();
  auto notices = opened.wait_for(2);
  CAF_CHECK_EQUAL(notices, (std::vector<std::string>{name, marker}));
  m.close_all();
}

CAF_TEST(a failing open reports its error and the next get tries again) {
  auto c = config();
  auto m = manager::create(c).value();
  auto bad = m.get_stream("not.valid");
  CAF_CHECK_EQUAL(bad.error().code(), errc::invalid_argument);
  // A stream name JetStream refuses (too long for its limits) fails at open time.
  auto name = unique_name("mgr-ok");
  CAF_CHECK(m.get_stream(name).ok());
  m.close_all();
}

CAF_TEST(two hundred streams with data close and reopen intact) {
  auto m = manager::create(config()).value();
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back(unique_name("mgr-many"));
  // Open all at once from a few threads, each writing its own data.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 200; i += 4) {
        auto s = m.get_stream(names[i]).value();
        s.put("id", json{{"stream", names[i]}, {"i", i}}).value();
      }
    });
  }
  for (auto& t : threads) t.join();
  CAF_CHECK_EQUAL(m.open_streams().value().size(), 200u);
  CAF_REQUIRE(m.close_all().ok());
  CAF_CHECK(m.open_streams().value().empty());
  for (int i = 0; i < 200; ++i) {
    auto s = m.get_stream(names[i]).value();
    if (data_of(s, "id") != json{{"stream", names[i]}, {"i", i}})
      CAF_FAIL("stream " << names[i] << " lost its data");
  }
  CAF_CHECK_EQUAL(m.open_streams().value().size(), 200u);
  m.close_all();
}

CAF_TEST(delete stream removes it) {
  auto m = manager::create(config()).value();
  auto name = unique_name("mgr-del");
  m.get_stream(name).value().put("k", 1).value();
  CAF_REQUIRE(m.delete_stream(name).ok());
  CAF_CHECK(m.open_streams().value().empty());
  auto again = m.get_stream(name).value();
  CAF_CHECK(again.keys().value().empty());
  m.close_all();
}

CAF_TEST_FIXTURE_SCOPE_END()
