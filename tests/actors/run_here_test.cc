// send_and_run_here and run_receivers_here (actors/run_here.hpp) with a real actor system: an
// idle receiver runs on the sending thread, once, and everything else goes to CAF's scheduler.
#define CAF_SUITE run_here
#include "caf/test/unit_test.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/run_here.hpp"

using namespace eventbase::actors;

namespace {

// Which thread handled each message of the actors below, and how many there were.
struct record {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::thread::id> threads;

  void add() {
    std::lock_guard<std::mutex> guard(mutex);
    threads.push_back(std::this_thread::get_id());
    changed.notify_all();
  }
  void clear() {
    std::lock_guard<std::mutex> guard(mutex);
    threads.clear();
  }
  std::vector<std::thread::id> await(size_t n) {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait_for(lock, std::chrono::seconds(30), [&] { return threads.size() >= n; });
    return threads;
  }
};

// Record each int they get; `replier` answers with it + 1, `forwarder` passes it on to `next`
// (if any) and answers nothing.
caf::behavior replier(caf::event_based_actor*, record* seen) {
  return {
      [=](int x) {
        seen->add();
        return x + 1;
      },
  };
}

caf::behavior forwarder(caf::event_based_actor* self, record* seen, caf::actor next) {
  return {
      [=](int x) {
        seen->add();
        if (next) self->send(next, x);
      },
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  record first, second;
  std::thread::id here = std::this_thread::get_id();

  // Waits until `a` has started and is idle again (a new actor starts on a worker), then
  // forgets what that cost `seen` (and `passed_on`, where `a` passes its messages).
  void settle(const caf::actor& a, record& seen, record* passed_on = nullptr) {
    caf::anon_send(a, -1);
    seen.await(1);
    if (passed_on != nullptr) passed_on->await(1);
    await_idle(a);
    seen.clear();
    if (passed_on != nullptr) passed_on->clear();
  }

  // Until `a` waits for messages (its mailbox is blocked), which it does right after its turn.
  static void await_idle(const caf::actor& a) {
    auto* actor = dynamic_cast<caf::scheduled_actor*>(caf::actor_cast<caf::abstract_actor*>(a));
    CAF_REQUIRE(actor != nullptr);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!actor->mailbox().blocked() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    CAF_REQUIRE(actor->mailbox().blocked());
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(run_here_tests, fixture)

CAF_TEST(an idle receiver runs its turn on the sending thread before the send returns) {
  auto a = sys.spawn(replier, &first);
  settle(a, first);
  for (int i = 0; i < 3; ++i) {
    send_and_run_here(caf::actor_cast<caf::strong_actor_ptr>(a), caf::make_message(i));
    std::lock_guard<std::mutex> guard(first.mutex);
    CAF_REQUIRE_EQUAL(first.threads.size(), static_cast<size_t>(i + 1));
    CAF_CHECK(first.threads.back() == here);
  }
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

CAF_TEST(what the receiver sends to another idle actor goes to the scheduler) {
  auto b = sys.spawn(forwarder, &second, caf::actor());
  settle(b, second);
  auto a = sys.spawn(forwarder, &first, b);
  settle(a, first, &second);
  await_idle(b);
  send_and_run_here(caf::actor_cast<caf::strong_actor_ptr>(a), caf::make_message(1));
  auto by_b = second.await(1);
  CAF_REQUIRE_EQUAL(by_b.size(), 1u);
  CAF_CHECK(first.threads.at(0) == here);
  CAF_CHECK(by_b[0] != here);  // a CAF worker ran b
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
}

CAF_TEST(a waiting requester runs the receiver and gets its reply) {
  auto a = sys.spawn(replier, &first);
  settle(a, first);
  caf::scoped_actor self{sys};
  for (int i = 0; i < 3; ++i) {
    int reply = 0;
    {
      run_receivers_here here_too(*self);
      self->request(a, std::chrono::seconds(10), i)
          .receive([&](int x) { reply = x; }, [&](caf::error& err) { CAF_FAIL(sys.render(err)); });
    }
    CAF_CHECK_EQUAL(reply, i + 1);
  }
  auto threads = first.await(3);
  for (auto& t : threads) CAF_CHECK(t == here);
  // Without it, a worker runs the receiver.
  self->request(a, std::chrono::seconds(10), 7).receive([](int) {}, [](caf::error&) {});
  CAF_CHECK(first.await(4).back() != here);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

CAF_TEST(a receiver that is busy elsewhere is not run a second time) {
  // a blocks in its turn on a worker until released; a message sent meanwhile waits for that
  // turn and is handled after it, not on this thread beside it.
  std::mutex gate;
  std::unique_lock<std::mutex> closed(gate);
  record entered;
  auto a = sys.spawn([&](caf::event_based_actor*) -> caf::behavior {
    return {
        [&](int) {
          entered.add();
          std::lock_guard<std::mutex> wait_for_gate(gate);
          first.add();
        },
    };
  });
  caf::anon_send(a, 1);
  entered.await(1);
  send_and_run_here(caf::actor_cast<caf::strong_actor_ptr>(a), caf::make_message(2));
  {
    std::lock_guard<std::mutex> guard(first.mutex);
    CAF_CHECK_EQUAL(first.threads.size(), 0u);  // returned without running a
  }
  closed.unlock();
  auto threads = first.await(2);
  CAF_REQUIRE_EQUAL(threads.size(), 2u);
  CAF_CHECK(threads[1] != here);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
