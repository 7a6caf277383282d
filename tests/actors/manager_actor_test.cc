#define CAF_SUITE manager_actor
#include "actors/stream_actor_fixture.hpp"

#include "actors/manager_actor.hpp"

using namespace eventbase;
using namespace eventbase::test;

namespace {

struct notices {
  std::vector<std::string> opened;
  std::vector<std::string> closed;
};

struct manager_fixture : stream_actor_fixture {
  manager_actor manager;
  std::shared_ptr<notices> seen = std::make_shared<notices>();
  notice_listener_actor listener;

  manager_fixture() {
    options.idle_timeout = std::chrono::seconds(1);
    options.idle_check_interval = std::chrono::milliseconds(500);
  }

  ~manager_fixture() override {
    if (manager) caf::anon_send_exit(manager, caf::exit_reason::kill);
    if (listener) caf::anon_send_exit(listener, caf::exit_reason::kill);
    sched.run();
  }

  void spawn_manager() {
    actors::manager_config config;
    config.nats = js;
    config.db = db;
    config.options = options;
    config.stats_stream_for = [](const std::string& stream) { return stream + "_stats"; };
    manager = actors::spawn_manager(sys, std::move(config));
    auto into = seen;
    listener =
        sys.spawn([into](notice_listener_actor::pointer) -> notice_listener_actor::behavior_type {
          return {
              [into](opened_atom, const std::string& stream) { into->opened.push_back(stream); },
              [into](closed_atom, const std::string& stream) { into->closed.push_back(stream); },
          };
        });
    sched.run();
    CAF_REQUIRE(request_manager<ok_atom>(watch_atom::value, listener).ok());
  }

  template <class T, class... Ts>
  pending_reply<T> request_manager(Ts... xs) {
    return ask_of<T>(manager, xs...);
  }

  pending_reply<stream_actor> open_stream(const std::string& stream_name) {
    return request_manager<stream_actor>(open_atom::value, stream_name);
  }

  /// Plays JetStream for the opening of `stream_name` (an existing stream ending at 0).
  void answer_open(const std::string& stream_name) {
    auto info = expect_publish("$JS.API.STREAM.INFO." + stream_name, true);
    js->reply(info, R"({"config":{"name":")" + stream_name + R"(","subjects":[")" + stream_name +
                        R"(.*"],"max_msgs_per_subject":1},"state":{"last_seq":0}})");
    sched.run();
    auto create = expect_publish("$JS.API.CONSUMER.CREATE." + stream_name, true);
    js->reply(create, R"({"name":"C-)" + stream_name + R"("})");
    sched.run();
  }

  std::vector<std::string> open_streams() {
    return request_manager<std::vector<std::string>>(list_atom::value).value();
  }

  size_t count_published(const std::string& prefix) {
    for (auto& p : js->take()) backlog.push_back(std::move(p));
    size_t n = 0;
    for (auto& p : backlog)
      if (p.subject.compare(0, prefix.size(), prefix) == 0) ++n;
    return n;
  }

  void pass_time(std::chrono::milliseconds how_long) {
    // Advance in steps so that periodic checks run as they would.
    for (auto step = std::chrono::milliseconds(0); step < how_long;
         step += std::chrono::milliseconds(100)) {
      advance_time(std::chrono::milliseconds(100));
      sched.run();
    }
  }
};

subscriber_actor spawn_silent_subscriber(caf::actor_system& sys) {
  return sys.spawn([](subscriber_actor::pointer) -> subscriber_actor::behavior_type {
    return {
        [](change_atom, change&) { return ok_atom::value; },
        [](ended_atom, uint64_t, caf::error&) {},
    };
  });
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(manager_actor_tests, manager_fixture)

CAF_TEST(concurrent requests for one name open it once) {
  spawn_manager();
  std::vector<pending_reply<stream_actor>> replies;
  for (int i = 0; i < 50; ++i) replies.push_back(open_stream("orders"));
  CAF_CHECK_EQUAL(count_published("$JS.API.STREAM.INFO.orders"), 1u);  // no stats stream yet
  for (auto& r : replies) CAF_CHECK(!r.arrived());
  answer_open("orders");
  for (auto& r : replies) {
    CAF_REQUIRE(r.ok());
    CAF_CHECK(r.value() == replies.front().value());
  }
  CAF_CHECK_EQUAL(seen->opened, std::vector<std::string>{"orders"});
  CAF_CHECK_EQUAL(open_streams(), std::vector<std::string>{"orders"});
}

CAF_TEST(every stream gets its stats stream) {
  spawn_manager();
  open_stream("orders");
  answer_open("orders");
  CAF_CHECK_EQUAL(count_published("$JS.API.STREAM.INFO.orders_stats"), 1u);
}

CAF_TEST(an idle stream stops and the manager forgets it) {
  spawn_manager();
  auto first = open_stream("orders");
  answer_open("orders");
  CAF_REQUIRE(first.ok());
  pass_time(std::chrono::milliseconds(700));
  CAF_CHECK_EQUAL(open_streams(), std::vector<std::string>{"orders"});  // not idle long enough
  pass_time(std::chrono::milliseconds(1000));
  CAF_CHECK(open_streams().empty());
  CAF_CHECK_EQUAL(seen->closed, std::vector<std::string>{"orders"});
  // The next request reopens it, from the stored sequence.
  auto second = open_stream("orders");
  answer_open("orders");
  CAF_REQUIRE(second.ok());
  CAF_CHECK(second.value() != first.value());
}

CAF_TEST(activity keeps a stream open) {
  spawn_manager();
  auto opened = open_stream("orders");
  answer_open("orders");
  actor = opened.value();
  for (int i = 0; i < 5; ++i) {
    pass_time(std::chrono::milliseconds(600));
    ask<entry>(get_atom::value, std::string("k"));
  }
  CAF_CHECK_EQUAL(open_streams(), std::vector<std::string>{"orders"});
  pass_time(std::chrono::milliseconds(1600));
  CAF_CHECK(open_streams().empty());
  actor = stream_actor();
}

CAF_TEST(a subscription keeps its stream open until unsubscribed) {
  spawn_manager();
  auto opened = open_stream("orders");
  answer_open("orders");
  actor = opened.value();
  auto subscriber = spawn_silent_subscriber(sys);
  auto id = ask<uint64_t>(subscribe_atom::value, std::string("*"), subscriber).value();
  pass_time(std::chrono::seconds(5));
  CAF_CHECK_EQUAL(open_streams(), std::vector<std::string>{"orders"});
  CAF_CHECK(ask<ok_atom>(unsubscribe_atom::value, id).ok());
  pass_time(std::chrono::milliseconds(1600));
  CAF_CHECK(open_streams().empty());
  actor = stream_actor();
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
}

CAF_TEST(a subscriber going down releases its stream) {
  spawn_manager();
  auto opened = open_stream("orders");
  answer_open("orders");
  actor = opened.value();
  auto subscriber = spawn_silent_subscriber(sys);
  ask<uint64_t>(subscribe_atom::value, std::string("*"), subscriber);
  pass_time(std::chrono::seconds(3));
  CAF_CHECK_EQUAL(open_streams(), std::vector<std::string>{"orders"});
  // A remote subscriber's node disconnecting looks the same: a down message.
  caf::anon_send_exit(subscriber, caf::exit_reason::remote_link_unreachable);
  sched.run();
  pass_time(std::chrono::milliseconds(1600));
  CAF_CHECK(open_streams().empty());
  actor = stream_actor();
}

CAF_TEST(a failed open reports its error and the next request tries again) {
  spawn_manager();
  auto first = open_stream("orders");
  auto second = open_stream("orders");
  // A lasting error (503s and other passing ones are retried within the timeout).
  js->reply(expect_publish("$JS.API.STREAM.INFO.orders", true),
            R"({"error":{"code":500,"err_code":10049,"description":"stream info failed"}})");
  sched.run();
  CAF_REQUIRE(first.arrived());
  CAF_CHECK_EQUAL(first.error_code(), errc::unavailable);
  CAF_CHECK_EQUAL(second.error_code(), errc::unavailable);
  CAF_CHECK(open_streams().empty());
  CAF_CHECK(seen->opened.empty());
  auto third = open_stream("orders");
  answer_open("orders");
  CAF_CHECK(third.ok());
}

CAF_TEST(invalid names are refused) {
  spawn_manager();
  CAF_CHECK_EQUAL(open_stream("a.b").error_code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(open_stream("").error_code(), errc::invalid_argument);
}

CAF_TEST(close all stops every stream and replies when they are gone) {
  spawn_manager();
  open_stream("orders");
  answer_open("orders");
  open_stream("users");
  answer_open("users");
  CAF_CHECK_EQUAL(open_streams(), (std::vector<std::string>{"orders", "users"}));
  auto closed = request_manager<ok_atom>(close_atom::value);
  CAF_CHECK(closed.ok());
  CAF_CHECK(open_streams().empty());
  CAF_CHECK_EQUAL(seen->closed.size(), 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()
