// nats::connection against a real nats-server: what a burst of held sends (TCP_CORK on the
// connection's socket) does to delivery — everything published arrives once the holds are
// released, in order, with its headers, whether the holds nest or not.
#define CAF_SUITE nats_connection
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nats/connection.hpp"
#include "nats/server_probe.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;

namespace {

// The messages an inbox received, for the test's thread to wait on.
struct received {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<nats::message> messages;

  // Waits up to 10 s for `n` messages; what came.
  std::vector<nats::message> wait_for(size_t n) {
    std::unique_lock<std::mutex> guard(mutex);
    changed.wait_for(guard, std::chrono::seconds(10), [&] { return messages.size() >= n; });
    return messages;
  }
};

// An inbox of `conn` that collects what it receives into `got`.
std::unique_ptr<nats::inbox> open_collecting_inbox(nats::connection& conn,
                                                   const std::string& prefix,
                                                   std::shared_ptr<received> got) {
  return conn
      .open_inbox(prefix,
                  [got](nats::message&& m) {
                    std::lock_guard<std::mutex> guard(got->mutex);
                    got->messages.push_back(std::move(m));
                    got->changed.notify_all();
                  })
      .value();
}

std::shared_ptr<nats::connection> connect() {
  nats::connect_options options;
  options.servers = {nats_server().url()};
  return nats::connection::open(options).value();
}

}  // namespace

// Features by release start with the server's INFO, which names its release.
CAF_TEST(a connection knows the release of its server) {
  auto conn = connect();
  auto release = conn->server_release();
  CAF_REQUIRE(release.has_value());
  CAF_CHECK_EQUAL(release->to_string(), nats_server().version().to_string());
  // Nothing listening: unavailable, at once.
  auto nobody = nats::probe_server_version("nats://127.0.0.1:1", std::chrono::seconds(2));
  CAF_CHECK_EQUAL(nobody.error().code(), errc::unavailable);
  CAF_CHECK_EQUAL(nats::probe_server_version("nats://", std::chrono::seconds(1)).error().code(),
                  errc::invalid_argument);
}

CAF_TEST(held sends arrive once released in order with their headers) {
  auto conn = connect();
  auto got = std::make_shared<received>();
  std::string prefix = "_INBOX." + unique_name("cork");
  auto inbox = open_collecting_inbox(*conn, prefix, got);
  const size_t total = 300;
  CAF_CHECK(!conn->sends_held());
  {
    nats::send_burst outer(*conn);
    CAF_CHECK(conn->sends_held());  // the connection's socket was found and corked
    for (size_t i = 0; i < total / 2; ++i)
      CAF_REQUIRE(
          conn->publish(prefix + ".m", std::to_string(i), {}, {{"N", std::to_string(i)}}).ok());
    nats::send_burst inner(*conn);  // nested: the socket stays held until the outer one ends
    for (size_t i = total / 2; i < total; ++i)
      CAF_REQUIRE(conn->publish(prefix + ".m", std::to_string(i)).ok());
  }
  CAF_CHECK(!conn->sends_held());
  auto messages = got->wait_for(total);
  CAF_REQUIRE_EQUAL(messages.size(), total);
  for (size_t i = 0; i < total; ++i) {
    CAF_CHECK_EQUAL(messages[i].data, std::to_string(i));
    if (i < total / 2) {
      CAF_REQUIRE_EQUAL(messages[i].all_headers.size(), 1u);
      CAF_CHECK_EQUAL(messages[i].all_headers[0].second, std::to_string(i));
    }
  }
  // A single publish after the bursts is not held back.
  CAF_REQUIRE(conn->publish(prefix + ".m", "last").ok());
  auto all = got->wait_for(total + 1);
  CAF_REQUIRE_EQUAL(all.size(), total + 1);
  CAF_CHECK_EQUAL(all.back().data, "last");
}

// Holds from several threads at once, as the stream actors of one node share a connection.
CAF_TEST(sends held from several threads all arrive) {
  auto conn = connect();
  auto got = std::make_shared<received>();
  std::string prefix = "_INBOX." + unique_name("corks");
  auto inbox = open_collecting_inbox(*conn, prefix, got);
  const int threads = 4, bursts = 50, per_burst = 10;
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&, t] {
      for (int b = 0; b < bursts; ++b) {
        nats::send_burst burst(*conn);
        for (int i = 0; i < per_burst; ++i)
          conn->publish(prefix + "." + std::to_string(t), std::to_string(b * per_burst + i));
      }
    });
  for (auto& w : writers) w.join();
  auto messages = got->wait_for(threads * bursts * per_burst);
  CAF_REQUIRE_EQUAL(messages.size(), static_cast<size_t>(threads * bursts * per_burst));
  // Each writer's messages in its order.
  std::vector<int> next(threads, 0);
  for (auto& m : messages) {
    int t = std::stoi(m.subject.substr(prefix.size() + 1));
    CAF_CHECK_EQUAL(m.data, std::to_string(next[static_cast<size_t>(t)]++));
  }
}

// A handler learns whether more messages wait behind the one it got (the stream actor runs its
// turn on the NATS thread only when none do): while the handler is held on the first of a
// burst, the rest queue up; each is told that more wait, the last one that none do.
CAF_TEST(a handler sees whether more messages wait behind the one it got) {
  auto conn = connect();
  std::string prefix = "_INBOX." + unique_name("queued");
  std::mutex gate;
  std::unique_lock<std::mutex> closed(gate);
  auto got = std::make_shared<received>();
  auto inbox = conn->open_inbox(prefix,
                                [&gate, got](nats::message&& m) {
                                  if (m.data == "0")
                                    std::lock_guard<std::mutex> wait_for_gate(gate);
                                  std::lock_guard<std::mutex> guard(got->mutex);
                                  got->messages.push_back(std::move(m));
                                  got->changed.notify_all();
                                })
                   .value();
  const size_t total = 20;
  for (size_t i = 0; i < total; ++i)
    CAF_REQUIRE(conn->publish(prefix + ".m", std::to_string(i)).ok());
  // A round trip through the server after the burst: every message of it has reached this
  // client (and waits behind the held handler) once the reply is here.
  CAF_REQUIRE(conn->request("$JS.API.INFO", "", std::chrono::seconds(5)).ok());
  closed.unlock();
  auto messages = got->wait_for(total);
  CAF_REQUIRE_EQUAL(messages.size(), total);
  // ("0" may have been handed over before the others arrived.)
  for (size_t i = 1; i + 1 < total; ++i) CAF_CHECK(messages[i].more_queued);
  CAF_CHECK(!messages.back().more_queued);
}
