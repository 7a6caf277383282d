#define CAF_SUITE faults
#include "caf/test/unit_test.hpp"

#include "eventbase/eventbase.hpp"
#include "nats/embedded_server.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

// A nats-server of the test's own, so restarting it disturbs no other test.
struct fixture {
  temp_dir dir;
  std::unique_ptr<nats::embedded_server> server;
  std::string name = unique_name("fault");

  fixture() {
    nats::embedded_server_options options;
    options.store_dir = dir.sub("nats");
    server = nats::embedded_server::start(options).value();
  }

  stream_config config(const std::string& node) {
    stream_config c;
    c.stream_name = name;
    c.nats.servers = {server->url()};
    c.data_path = dir.sub(node);
    return c;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(fault_tests, fixture)

CAF_TEST(a nats restart loses nothing and the consumers resume without a gap) {
  auto writer = stream::open(config("writer")).value();
  auto reader = stream::open(config("reader")).value();
  collector<std::string> seen;
  auto sub =
      reader.subscribe("*", [&](const std::string& key, auto&, auto&, auto&) { seen.add(key); })
          .value();
  for (int i = 0; i < 10; ++i) writer.put("before" + std::to_string(i), i).value();
  CAF_REQUIRE_EQUAL(seen.wait_for(10).size(), 10u);

  CAF_REQUIRE(server->restart().ok());

  // Writes after the restart succeed once the client has reconnected (within the timeout).
  for (int i = 0; i < 10; ++i) {
    auto put = writer.put("after" + std::to_string(i), i);
    CAF_REQUIRE(put.ok());
  }
  auto keys = seen.wait_for(20, std::chrono::seconds(15));
  CAF_REQUIRE_EQUAL(keys.size(), 20u);
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) expected.push_back("before" + std::to_string(i));
  for (int i = 0; i < 10; ++i) expected.push_back("after" + std::to_string(i));
  CAF_CHECK_EQUAL(keys, expected);  // in order, none twice, none missing
  CAF_CHECK_EQUAL(reader.keys().value().size(), 20u);
  sub.unsubscribe();
  writer.close();
  reader.close();
}

CAF_TEST(writes during an outage fail with a timeout and the data stays intact) {
  auto cfg = config("node");
  cfg.timeout = std::chrono::milliseconds(1500);
  auto db = stream::open(cfg).value();
  db.put("kept", 1).value();
  server->stop();
  auto put = db.put("lost", 2);
  CAF_REQUIRE(!put.ok());
  CAF_CHECK_EQUAL(put.error().code(), errc::timeout);
  // Reads keep working from the replica.
  CAF_CHECK_EQUAL(data_of(db, "kept"), json(1));
  CAF_REQUIRE(server->restart().ok());
  // The write buffered during the outage may land after reconnecting: either way the stream
  // and the replica agree, and new writes work.
  CAF_CHECK(db.put("later", 3).ok());
  CAF_CHECK_EQUAL(data_of(db, "kept"), json(1));
  CAF_CHECK_EQUAL(data_of(db, "later"), json(3));
  // "later" was published after "lost" on the same connection, so once "later" is applied the
  // replica has seen "lost" too, if JetStream stored it.
  auto replica_keys = db.keys().value();
  db.close();
  auto fresh = stream::open(config("fresh")).value();
  CAF_CHECK_EQUAL(fresh.keys().value(), replica_keys);
  CAF_CHECK_EQUAL(data_of(fresh, "later"), json(3));
  fresh.close();
}

CAF_TEST_FIXTURE_SCOPE_END()
