#define CAF_SUITE remote
#include "caf/test/unit_test.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/manager_actor.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/request.hpp"
#include "nats/connection.hpp"
#include "storage/database.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

struct net_config : caf::actor_system_config {
  net_config() {
    load<caf::io::middleman>();
    eventbase::add_message_types(*this);
  }
};

// One CAF node: an actor system with CAF's network layer.
struct caf_node {
  net_config cfg;
  caf::actor_system sys{cfg};

  template <class T, class Handle, class... Ts>
  result<T> ask(const Handle& target, Ts&&... xs) {
    caf::scoped_actor self{sys};
    return eventbase::ask<T>(*self, target, std::chrono::seconds(15), std::forward<Ts>(xs)...);
  }
};

// The serving side: a manager published on a loopback port, with its notices collected.
struct server_node : caf_node {
  temp_dir dir;
  std::shared_ptr<nats::connection> nats = nats::connection::open([] {
                                             nats::connect_options o;
                                             o.servers = {nats_server().url()};
                                             return o;
                                           }())
                                               .value();
  manager_actor manager;
  notice_listener_actor listener;
  uint16_t port = 0;
  collector<std::string> closed;

  explicit server_node(std::chrono::milliseconds keep_alive = std::chrono::minutes(1)) {
    actors::manager_config mc;
    mc.nats = nats;
    mc.db = storage::database::open(dir.path()).value();
    mc.options.idle_timeout = keep_alive;
    mc.options.idle_check_interval = std::chrono::milliseconds(100);
    manager = actors::spawn_manager(sys, std::move(mc));
    listener =
        sys.spawn([this](notice_listener_actor::pointer) -> notice_listener_actor::behavior_type {
          return {[](opened_atom, const std::string&) {},
                  [this](closed_atom, const std::string& name) { closed.add(name); }};
        });
    CAF_REQUIRE(ask<ok_atom>(manager, watch_atom::value, listener).ok());
    port = sys.middleman().publish(manager, 0, "127.0.0.1").value();
  }

  ~server_node() {
    ask<ok_atom>(manager, close_atom::value);
    caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
    // The listener writes into `closed`: it must be gone before the members are.
    caf::scoped_actor self{sys};
    self->send_exit(listener, caf::exit_reason::kill);
    self->wait_for(listener);
  }
};

subscriber_actor spawn_collector(caf::actor_system& sys, collector<change>& into) {
  return sys.spawn([&into](subscriber_actor::pointer) -> subscriber_actor::behavior_type {
    return {
        [&into](change_atom, change& c) {
          into.add(std::move(c));
          return ok_atom::value;
        },
        [](ended_atom, uint64_t, caf::error&) {},
    };
  });
}

json data_of_entry(const entry& e) {
  auto doc = decode_record(e.record).value();
  return doc ? doc->data : json(nullptr);
}

}  // namespace

CAF_TEST(a remote node uses the same messages as local code) {
  server_node server;
  auto name = unique_name("remote");
  caf_node client;
  auto manager = client.sys.middleman().remote_actor<manager_actor>("127.0.0.1", server.port);
  CAF_REQUIRE(manager);
  auto stream = client.ask<stream_actor>(*manager, open_atom::value, name);
  CAF_REQUIRE(stream.ok());
  // A subscriber on the client node gets changes pushed over the network.
  collector<change> changes;
  auto subscriber = spawn_collector(client.sys, changes);
  CAF_REQUIRE(
      client.ask<uint64_t>(*stream, subscribe_atom::value, std::string("k*"), subscriber).ok());
  auto put =
      client.ask<entry>(*stream, put_atom::value, std::string("k1"), std::string(R"({"v":1})"));
  CAF_REQUIRE(put.ok());
  CAF_CHECK_EQUAL(data_of_entry(*put), json({{"v", 1}}));
  auto got = client.ask<entry>(*stream, get_atom::value, std::string("k1"));
  CAF_CHECK_EQUAL(data_of_entry(got.value()), json({{"v", 1}}));
  // A batch of puts, one of them invalid: each outcome crosses the network in its place.
  std::vector<std::string> keys{"b1", "b2", "b3"}, docs{"1", "[oops", R"({"v":3})"};
  auto batch = client.ask<put_batch_reply>(*stream, put_atom::value, keys, docs);
  CAF_REQUIRE(batch.ok());
  CAF_REQUIRE_EQUAL(batch->errors.size(), 3u);
  CAF_REQUIRE_EQUAL(batch->records.size(), 3u);
  CAF_CHECK(!batch->errors[0] && !batch->errors[2]);
  CAF_CHECK_EQUAL(to_status(batch->errors[1]).code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(data_of_entry(entry{batch->records[0]}), json(1));
  CAF_CHECK_EQUAL(data_of_entry(entry{batch->records[2]}), json({{"v", 3}}));
  for (const auto& key : {"b1", "b3"})
    CAF_CHECK_EQUAL(client.ask<uint64_t>(*stream, erase_atom::value, std::string(key)).value(), 1u);
  CAF_CHECK_EQUAL(
      client.ask<std::vector<std::string>>(*stream, keys_atom::value, std::string("")).value(),
      std::vector<std::string>{"k1"});
  auto pushed = changes.wait_for(1);
  CAF_REQUIRE_EQUAL(pushed.size(), 1u);
  CAF_CHECK_EQUAL(pushed[0].key, "k1");
  CAF_CHECK_EQUAL(pushed[0].stream, name);
  CAF_CHECK_EQUAL(client.ask<uint64_t>(*stream, erase_atom::value, std::string("k1")).value(), 1u);
  // Errors cross the network as eventbase errors.
  auto bad = client.ask<std::vector<std::string>>(*stream, keys_atom::value, std::string("("));
  CAF_CHECK_EQUAL(bad.error().code(), errc::invalid_argument);
  auto bad_name = client.ask<stream_actor>(*manager, open_atom::value, std::string("a.b"));
  CAF_CHECK_EQUAL(bad_name.error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(client.ask<std::vector<std::string>>(*manager, list_atom::value).value(),
                  std::vector<std::string>{name});
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
}

// A remote subscriber that stops: its node tells the server, whose proxy goes down. (A node that
// vanishes without a word, a killed process, is covered by the system tests.)
CAF_TEST(a remote subscriber that stops releases its stream) {
  server_node server(std::chrono::milliseconds(300));
  auto name = unique_name("remote-gone");
  {
    caf_node client;
    auto manager = client.sys.middleman().remote_actor<manager_actor>("127.0.0.1", server.port);
    CAF_REQUIRE(manager);
    auto stream = client.ask<stream_actor>(*manager, open_atom::value, name).value();
    collector<change> changes;
    auto subscriber = spawn_collector(client.sys, changes);
    CAF_REQUIRE(
        client.ask<uint64_t>(stream, subscribe_atom::value, std::string("*"), subscriber).ok());
    // The subscription keeps the stream open well past its keep-alive...
    auto early = server.closed.wait_for(1, std::chrono::milliseconds(1200));
    CAF_CHECK(early.empty());
    caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
  }  // the client node goes away here
  // Once the server notices, the stream is idle and closes itself.
  auto closed = server.closed.wait_for(1, std::chrono::seconds(10));
  CAF_REQUIRE_EQUAL(closed.size(), 1u);
  CAF_CHECK_EQUAL(closed[0], name);
}
