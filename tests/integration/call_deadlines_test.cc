// call_deadlines (api/stream_impl.hpp): the deadlines the requester actor keeps for *_async
// calls in place of CAF request timeouts. Each call ends once: settled by its reply, or expired.
// The last tests run the requester actor against a target that never answers, and
// eventbase::ask (a synchronous call with its own deadline) against one that answers late.
#define CAF_SUITE call_deadlines
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "api/stream_impl.hpp"
#include "eventbase/request.hpp"

using eventbase::api::call_deadlines;
using namespace std::chrono_literals;

CAF_TEST(calls expire in deadline order and a settled call never expires) {
  call_deadlines d;
  std::vector<std::string> expired;
  auto t0 = call_deadlines::time_point{} + 1h;
  auto late = d.add(t0 + 30ms, [&] { expired.push_back("late"); });
  auto early = d.add(t0 + 10ms, [&] { expired.push_back("early"); });
  auto answered = d.add(t0 + 20ms, [&] { expired.push_back("answered"); });
  CAF_CHECK(d.settle(answered));
  CAF_CHECK(!d.settle(answered));  // once
  auto next = d.expire_due(t0 + 5ms);
  CAF_CHECK(expired.empty());
  CAF_REQUIRE(next.has_value());
  CAF_CHECK(*next == t0 + 10ms);
  next = d.expire_due(t0 + 30ms);
  CAF_CHECK_EQUAL(expired, (std::vector<std::string>{"early", "late"}));
  CAF_CHECK(!next.has_value());
  CAF_CHECK(!d.settle(early));  // its reply came too late: ignored
  CAF_CHECK(!d.settle(late));
  CAF_CHECK_EQUAL(d.size(), 0u);
}

CAF_TEST(an expiry may register further calls) {
  call_deadlines d;
  auto t0 = call_deadlines::time_point{} + 1h;
  int runs = 0;
  d.add(t0, [&] {
    ++runs;
    d.add(t0 + 1s, [&] { ++runs; });
  });
  auto next = d.expire_due(t0);
  CAF_CHECK_EQUAL(runs, 1);
  CAF_REQUIRE(next.has_value());
  CAF_CHECK(*next == t0 + 1s);
  CAF_CHECK(!d.expire_due(t0 + 1s).has_value());
  CAF_CHECK_EQUAL(runs, 2);
}

namespace {

// Holds every get's promise without delivering it: a target that never answers.
struct silent_state {
  std::vector<caf::response_promise> held;
};

caf::behavior silent(caf::stateful_actor<silent_state>* self) {
  return {[self](eventbase::get_atom, const std::string&) {
    self->state.held.push_back(self->make_response_promise());
    return self->state.held.back();
  }};
}

}  // namespace

CAF_TEST(an async call to a target that never answers ends with a timeout) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto requester = eventbase::api::spawn_requester(sys);
  auto target = sys.spawn(silent);
  std::promise<eventbase::status> first, second;
  eventbase::api::request_async<eventbase::entry>(
      requester, target, std::chrono::milliseconds(50),
      [&](eventbase::result<eventbase::entry> r) { first.set_value(r.error()); },
      eventbase::get_atom::value, std::string("a"));
  eventbase::api::request_async<eventbase::entry>(
      requester, target, std::chrono::milliseconds(100),
      [&](eventbase::result<eventbase::entry> r) { second.set_value(r.error()); },
      eventbase::get_atom::value, std::string("b"));
  auto a = first.get_future();
  auto b = second.get_future();
  CAF_REQUIRE(a.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CAF_REQUIRE(b.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  CAF_CHECK_EQUAL(a.get().code(), eventbase::errc::timeout);
  CAF_CHECK_EQUAL(b.get().code(), eventbase::errc::timeout);
  caf::anon_send_exit(requester, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
}

namespace {

// Holds the promise of each get of "held" until a close_atom releases it (answered "late"),
// and answers any other get at once with the key as the record.
struct late_state {
  std::vector<caf::typed_response_promise<eventbase::entry>> held;
};

caf::behavior late(caf::stateful_actor<late_state>* self) {
  return {
      [self](eventbase::get_atom, const std::string& key) -> caf::result<eventbase::entry> {
        if (key != "held") return eventbase::entry{key};
        self->state.held.push_back(self->make_response_promise<eventbase::entry>());
        return self->state.held.back();
      },
      [self](eventbase::close_atom) {
        for (auto& p : self->state.held) p.deliver(eventbase::entry{"late"});
        self->state.held.clear();
        return eventbase::ok_atom::value;
      },
  };
}

}  // namespace

CAF_TEST(ask gives up at its deadline and the late reply answers no later ask) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto target = sys.spawn(late);
  caf::scoped_actor self{sys};
  auto started = std::chrono::steady_clock::now();
  auto held = eventbase::ask<eventbase::entry>(*self, target, 50ms, eventbase::get_atom::value,
                                               std::string("held"));
  CAF_REQUIRE(!held.ok());
  CAF_CHECK_EQUAL(held.error().code(), eventbase::errc::timeout);
  CAF_CHECK_GREATER_OR_EQUAL(std::chrono::steady_clock::now() - started, 50ms);
  // The release answers the held get first, then this request: the late reply is in the
  // mailbox before the next ask begins.
  CAF_REQUIRE(
      eventbase::ask<eventbase::ok_atom>(*self, target, 5s, eventbase::close_atom::value).ok());
  auto next = eventbase::ask<eventbase::entry>(*self, target, 5s, eventbase::get_atom::value,
                                               std::string("b"));
  CAF_REQUIRE(next.ok());
  CAF_CHECK_EQUAL(next->record, "b");
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
}
