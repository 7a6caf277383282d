// Unit tests of the stream actor's components, without an actor: the JetStream client, the pull
// consumer, the write pipeline and the subscription set, each driven by hand with a scripted
// NATS transport, a manual clock and (for writes) a real RocksDB replica.
#define CAF_SUITE components
#include "caf/test/unit_test.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/component_fixture.hpp"
#include "actors/jetstream_client.hpp"
#include "actors/pull_consumer.hpp"
#include "actors/read_barrier.hpp"
#include "actors/replica_horizon.hpp"
#include "actors/stats_publisher.hpp"
#include "actors/subscriptions.hpp"
#include "actors/write_pipeline.hpp"
#include "protocol/base64.hpp"
#include "protocol/event.hpp"
#include "protocol/record.hpp"
#include "storage/database.hpp"
#include "storage/stream_store.hpp"
#include "support/scripted_transport.hpp"
#include "support/temp_dir.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using eventbase::test::scripted_transport;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

using eventbase::test::field;
using eventbase::test::manual_clock;
using eventbase::test::pipeline_rig;
using eventbase::test::published;
using eventbase::test::reply_with;
using eventbase::test::token_of;
using fixture = eventbase::test::component_fixture;

}  // namespace

CAF_TEST_FIXTURE_SCOPE(components_tests, fixture)

// -- jetstream_client -------------------------------------------------------------------------

CAF_TEST(a call completes once with its reply) {
  std::vector<result<std::string>> replies;
  api.call("$JS.API.STREAM.INFO.s", "", [&](result<std::string> r) { replies.push_back(r); });
  auto request = sent_to("$JS.API.STREAM.INFO.s");
  CAF_REQUIRE_EQUAL(request.size(), 1u);
  CAF_CHECK(!api.idle());
  answer(request[0], R"({"ok":1})");
  answer(request[0], R"({"again":1})");  // a late duplicate is ignored
  CAF_REQUIRE_EQUAL(replies.size(), 1u);
  CAF_CHECK_EQUAL(*replies[0], R"({"ok":1})");
  CAF_CHECK(api.idle());
}

CAF_TEST(passing failures are retried with backoff until a reply comes) {
  std::vector<result<std::string>> replies;
  api.call("$JS.API.A", "", [&](result<std::string> r) { replies.push_back(r); });
  answer(sent_to("$JS.API.A")[0], "", 503);  // no responders: e.g. a leader election
  CAF_CHECK(replies.empty());
  auto wake = api.next_wake();
  CAF_REQUIRE(wake.has_value());
  // The first retry comes after 50..150 ms (100 ms with jitter).
  CAF_CHECK_GREATER_OR_EQUAL(*wake - clock.now, std::chrono::milliseconds(50));
  CAF_CHECK_LESS_OR_EQUAL(*wake - clock.now, std::chrono::milliseconds(150));
  clock.now = *wake;
  api.expire();
  auto again = sent_to("$JS.API.A");
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  answer(
      again[0],
      R"({"error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}})");
  CAF_CHECK(replies.empty());
  clock.now = *api.next_wake();
  api.expire();
  answer(sent_to("$JS.API.A")[0], R"({"ok":1})");
  CAF_REQUIRE_EQUAL(replies.size(), 1u);
  CAF_CHECK_EQUAL(*replies[0], R"({"ok":1})");
  CAF_CHECK(api.idle());
}

CAF_TEST(a lost attempt is sent again at once and silence ends the call at its deadline) {
  std::vector<status> errors;
  auto keep = [&](result<std::string> r) { errors.push_back(r.error()); };
  api.call("$JS.API.LOST", "", keep,
           jetstream_client::call_options{std::chrono::milliseconds(200)});
  api.call("$JS.API.SILENT", "", keep);
  CAF_CHECK_EQUAL(sent_to("$JS.API.LOST").size(), 1u);
  CAF_CHECK_EQUAL(sent_to("$JS.API.SILENT").size(), 1u);
  clock.now += std::chrono::milliseconds(200);  // the attempt's own timeout
  api.expire();
  CAF_CHECK_EQUAL(sent_to("$JS.API.LOST").size(), 1u);  // again, to whichever server takes it
  CAF_CHECK(sent_to("$JS.API.SILENT").empty());         // its attempt lasts the whole call
  clock.now += std::chrono::milliseconds(799);
  api.expire();
  CAF_CHECK(errors.empty());
  clock.now += std::chrono::milliseconds(1);
  api.expire();
  CAF_REQUIRE_EQUAL(errors.size(), 2u);
  for (auto& e : errors) {
    CAF_CHECK_EQUAL(e.code(), errc::timeout);
    CAF_CHECK_NOT_EQUAL(e.message().find("within 1000 ms"), std::string::npos);
  }
  CAF_CHECK(api.idle());
}

CAF_TEST(no responders until the deadline end the call with what happened) {
  std::vector<status> errors;
  api.call("$JS.API.NONE", "", [&](result<std::string> r) { errors.push_back(r.error()); });
  int attempts = 0;
  for (auto p = sent_to("$JS.API.NONE"); !p.empty(); p = sent_to("$JS.API.NONE")) {
    ++attempts;
    answer(p[0], "", 503);
    if (auto wake = api.next_wake()) clock.now = std::max(clock.now, *wake);
    api.expire();
  }
  // Retries 100, 200, 400 ms apart (each x0.5..1.5 jitter): at worst 0, 150 and 450 ms fall
  // within the second, the fourth may come at 1050 ms.
  CAF_CHECK_GREATER_OR_EQUAL(attempts, 3);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK_EQUAL(errors[0].code(), errc::unavailable);
  CAF_CHECK_NOT_EQUAL(errors[0].message().find("no responders"), std::string::npos);
  CAF_CHECK_LESS_OR_EQUAL(clock.now - std::chrono::steady_clock::time_point{},
                          std::chrono::milliseconds(1000));
  CAF_CHECK(api.idle());
}

CAF_TEST(a request that cannot be published fails at once and completions may call again) {
  js->fail_publishes(status(errc::unavailable, "connection closed"));
  std::vector<std::string> steps;
  api.call("$JS.API.A", "", [&](result<std::string> r) {
    steps.push_back(r.error().message());
    js->fail_publishes(status::OK());
    api.call("$JS.API.B", "", [&](result<std::string> b) { steps.push_back(*b); });
  });
  CAF_CHECK_EQUAL(steps, std::vector<std::string>{"connection closed"});
  answer(sent_to("$JS.API.B")[0], "second");
  CAF_CHECK_EQUAL(steps, (std::vector<std::string>{"connection closed", "second"}));
}

// -- pull_consumer ------------------------------------------------------------------------------

namespace {

struct consumer_rig {
  fixture& f;
  uint64_t next = 7;
  std::vector<status> gone;
  pull_consumer consumer;

  static pull_consumer::settings settings() {
    pull_consumer::settings s;
    s.stream = "s";
    s.pull_reply_prefix = "_INBOX.t.p.";
    s.heartbeat = std::chrono::seconds(5);
    s.expires = std::chrono::seconds(30);
    s.create_timeout = std::chrono::milliseconds(300);  // within the client's 1 s
    return s;
  }

  explicit consumer_rig(fixture& fx)
      : f(fx),
        consumer(
            settings(), *fx.js, fx.api, fx.clock.fn(), [this] { return next; },
            [this](const status& why) { gone.push_back(why); }) {}

  // Resets and answers the creation with consumer `name`.
  void create(const std::string& name) {
    consumer.reset("test");
    auto create = f.sent_to("$JS.API.CONSUMER.CREATE.s");
    CAF_REQUIRE_EQUAL(create.size(), 1u);
    f.answer(create[0], R"({"name":")" + name + R"("})");
  }

  inbound event(const std::string& name, uint64_t consumer_seq, uint64_t stream_seq) {
    inbound in;
    in.what = inbound::kind::event;
    in.consumer = name;
    in.consumer_seq = consumer_seq;
    in.stream_seq = stream_seq;
    return in;
  }
};

}  // namespace

CAF_TEST(a new consumer starts after the replica and keeps two pulls outstanding) {
  consumer_rig rig(*this);
  rig.consumer.reset("open");
  auto create = sent_to("$JS.API.CONSUMER.CREATE.s");
  CAF_REQUIRE_EQUAL(create.size(), 1u);
  CAF_CHECK_EQUAL(field(create[0].payload, "/config/opt_start_seq"), 7);
  CAF_CHECK(!rig.consumer.active());
  answer(create[0], R"({"name":"C1"})");
  CAF_CHECK(rig.consumer.active());
  auto pulls = sent_to("$JS.API.CONSUMER.MSG.NEXT.s.C1");
  CAF_REQUIRE_EQUAL(pulls.size(), 2u);
  CAF_CHECK_EQUAL(pulls[0].reply.rfind("_INBOX.t.p.", 0), 0u);
  rig.consumer.top_up();  // nothing more while two are outstanding
  CAF_CHECK(sent_to("$JS.API.CONSUMER.MSG.NEXT.s.C1").empty());
}

CAF_TEST(deliveries are accepted in order and a gap recreates the consumer) {
  consumer_rig rig(*this);
  rig.create("C1");
  CAF_CHECK(rig.consumer.accept(rig.event("C1", 1, 7)));
  CAF_CHECK(rig.consumer.accept(rig.event("C1", 2, 8)));
  CAF_CHECK(!rig.consumer.accept(rig.event("OLD", 3, 9)));  // a replaced consumer's
  rig.next = 9;
  CAF_CHECK(!rig.consumer.accept(rig.event("C1", 4, 10)));  // 3 is missing
  CAF_CHECK_EQUAL(sent_to("$JS.API.CONSUMER.DELETE.s.C1").size(), 1u);
  auto create = sent_to("$JS.API.CONSUMER.CREATE.s");
  CAF_REQUIRE_EQUAL(create.size(), 1u);
  CAF_CHECK_EQUAL(field(create[0].payload, "/config/opt_start_seq"), 9);
}

CAF_TEST(pulls are renewed before they expire and silence recreates the consumer) {
  consumer_rig rig(*this);
  rig.create("C1");
  sent_to("$JS.API.CONSUMER.MSG.NEXT.s.C1");
  inbound heartbeat;
  heartbeat.what = inbound::kind::pull_status;
  heartbeat.generation = 1;
  heartbeat.msg.status = 100;
  for (int i = 0; i < 5; ++i) {  // 25 s, heartbeats all along
    clock.now += std::chrono::seconds(5);
    rig.consumer.on_pull_status(heartbeat);
    rig.consumer.check_liveness();
  }
  rig.consumer.top_up();
  CAF_CHECK_EQUAL(sent_to("$JS.API.CONSUMER.MSG.NEXT.s.C1").size(), 2u);  // renewed
  CAF_CHECK(sent_to("$JS.API.CONSUMER.CREATE.s").empty());
  CAF_CHECK(!rig.consumer.stale());
  clock.now += std::chrono::seconds(10);  // two heartbeats missed, not yet more
  rig.consumer.check_liveness();
  CAF_CHECK(sent_to("$JS.API.CONSUMER.CREATE.s").empty());
  clock.now += std::chrono::milliseconds(1);
  CAF_CHECK_EQUAL(rig.consumer.next_wake(), clock.now);
  rig.consumer.check_liveness();
  CAF_CHECK_EQUAL(sent_to("$JS.API.CONSUMER.CREATE.s").size(), 1u);
  CAF_CHECK(rig.consumer.stale());  // until it has caught up again
}

CAF_TEST(a lost consumer creation is retried and the replica is stale until caught up) {
  consumer_rig rig(*this);
  rig.consumer.reset("open");
  auto first = sent_to("$JS.API.CONSUMER.CREATE.s");
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(field(first[0].payload, "/config/num_replicas"), 1);
  clock.now += std::chrono::milliseconds(300);  // the create attempt's timeout
  api.expire();
  auto second = sent_to("$JS.API.CONSUMER.CREATE.s");
  CAF_REQUIRE_EQUAL(second.size(), 1u);
  answer(second[0], R"({"name":"C2"})");
  CAF_CHECK_EQUAL(rig.consumer.name(), "C2");
  auto pulls = sent_to("$JS.API.CONSUMER.MSG.NEXT.s.C2");
  CAF_REQUIRE_EQUAL(pulls.size(), 2u);
  // Idle heartbeats ask for one every second (in nanoseconds).
  CAF_CHECK_EQUAL(field(pulls[0].payload, "/idle_heartbeat"), 5000000000LL);
  auto ev = rig.event("C2", 1, 7);
  ev.pending = 3;
  CAF_CHECK(rig.consumer.accept(ev));
  CAF_CHECK_EQUAL(rig.consumer.last_known_sequence(), 10u);
}

CAF_TEST(a consumer of a deleted stream reports it and late creations are removed) {
  consumer_rig rig(*this);
  rig.consumer.reset("first");
  auto first = sent_to("$JS.API.CONSUMER.CREATE.s");
  rig.consumer.reset("second");  // replaces the creation under way
  auto second = sent_to("$JS.API.CONSUMER.CREATE.s");
  answer(first[0], R"({"name":"LATE"})");
  CAF_CHECK_EQUAL(sent_to("$JS.API.CONSUMER.DELETE.s.LATE").size(), 1u);
  CAF_CHECK(!rig.consumer.active());
  answer(second[0], R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})");
  CAF_REQUIRE_EQUAL(rig.gone.size(), 1u);
  CAF_CHECK_EQUAL(rig.gone[0].code(), errc::not_found);
}

// -- write_pipeline -----------------------------------------------------------------------------

CAF_TEST(a put is published with its id and completes when applied) {
  pipeline_rig rig(*this);
  std::vector<result<std::string>> done;
  rig.writes.put("k", R"({"v":1})", [&](result<std::string> r) { done.push_back(r); });
  auto sent = rig.puts_of("k");
  CAF_REQUIRE_EQUAL(sent.size(), 1u);
  CAF_CHECK_EQUAL(sent[0].header("Nats-Msg-Id"), "W." + std::to_string(rig.token(sent[0])));
  rig.writes.on_ack(rig.ack(sent[0], 1));
  CAF_CHECK(done.empty());  // acknowledged, not yet applied
  auto record = rig.apply(sent[0], 1);
  rig.writes.on_applied(rig.token(sent[0]), 1, record);
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK_EQUAL(*done[0], record);
  CAF_CHECK(rig.writes.empty());
}

CAF_TEST(writes of one key wait for each other and bad input fails at once) {
  pipeline_rig rig(*this);
  std::vector<std::string> order;
  rig.writes.put("k", "1", [&](result<std::string>) { order.push_back("first"); });
  rig.writes.put("k", "2", [&](result<std::string>) { order.push_back("second"); });
  rig.writes.put("", "3", [&](result<std::string> r) { order.push_back(r.error().message()); });
  rig.writes.put("k2", std::string(600, '[') + std::string(600, ']'),
                 [&](result<std::string> r) { order.push_back(to_string(r.error().code())); });
  CAF_CHECK_EQUAL(order.size(), 2u);  // the two invalid ones
  CAF_CHECK_EQUAL(order[1], "invalid_argument");
  auto first = rig.puts_of("k");
  CAF_REQUIRE_EQUAL(first.size(), 1u);  // the second waits
  rig.writes.on_applied(rig.token(first[0]), 1, rig.apply(first[0], 1));
  auto second = rig.puts_of("k");
  CAF_REQUIRE_EQUAL(second.size(), 1u);
  // It carries the metadata that follows from the first, in headers.
  CAF_CHECK_EQUAL(second[0].header("Eventbase-Changes"), "2");
  CAF_CHECK_EQUAL(second[0].header("Eventbase-Date-Created"), "1970-01-01T00:00:01.000Z");
  CAF_CHECK_EQUAL(json::parse(second[0].payload).count("meta"), 0u);
  rig.writes.on_applied(rig.token(second[0]), 2, rig.apply(second[0], 2));
  CAF_CHECK_EQUAL(order.back(), "second");
}

CAF_TEST(a pipeline holding its maximum refuses new writes at once until some complete) {
  auto config = pipeline_rig::settings();
  config.max_writes = 2;
  config.max_write_bytes = 20;
  pipeline_rig rig(*this, config);
  std::vector<std::string> outcomes;
  std::string refusal;
  auto note = [&](std::string what) {
    return [&outcomes, &refusal, what](auto r) {
      outcomes.push_back(what + (r.ok() ? " ok" : std::string(" ") + to_string(r.error().code())));
      if (!r.ok()) refusal = r.error().message();
    };
  };
  rig.writes.put("a", R"({"v":1})", note("a"));  // 7 bytes
  rig.writes.put("b", R"({"v":2})", note("b"));  // 14 bytes held, two writes: full
  rig.writes.put("c", R"({"v":3})", note("c"));
  rig.writes.erase("d", note("d"));
  CAF_CHECK_EQUAL(outcomes, std::vector<std::string>({"c unavailable", "d unavailable"}));
  CAF_CHECK_NOT_EQUAL(refusal.find("2 writes"), std::string::npos);
  CAF_CHECK(rig.puts_of("c").empty());
  CAF_CHECK_EQUAL(rig.writes.size(), 2u);
  // One completes: room for one write, as long as its document fits beside b's 7 bytes.
  auto a = rig.puts_of("a");
  CAF_REQUIRE_EQUAL(a.size(), 1u);
  rig.writes.on_applied(rig.token(a[0]), 1, rig.apply(a[0], 1));
  rig.writes.put("e", R"({"v":"0123456"})", note("e"));  // 15 bytes: 22 > 20
  rig.writes.put("f", R"({"v":4})", note("f"));          // 14 <= 20
  CAF_CHECK_EQUAL(outcomes, std::vector<std::string>(
                                {"c unavailable", "d unavailable", "a ok", "e unavailable"}));
  CAF_CHECK_NOT_EQUAL(refusal.find("bytes"), std::string::npos);
  CAF_CHECK_EQUAL(rig.puts_of("f").size(), 1u);
  // Writes that fail give their room back as well.
  rig.writes.fail_all(status(errc::closed, "closing"));
  CAF_CHECK(rig.writes.empty());
  rig.writes.put("g", R"({"v":"012345678901"})", note("g"));  // 20 bytes: fits when empty
  CAF_CHECK_EQUAL(rig.puts_of("g").size(), 1u);
}

CAF_TEST(a write replaced before this node saw it completes when the replica passes it) {
  pipeline_rig rig(*this);
  std::vector<result<std::string>> done;
  rig.writes.put("k", "1", [&](result<std::string> r) { done.push_back(r); });
  auto sent = rig.puts_of("k");
  // Another node's later write of the key came first; compaction removed ours.
  protocol::decoded_event theirs;
  theirs.key = "k";
  protocol::append_msgpack(json("theirs"), theirs.data_msgpack);
  storage::apply_batch batch(*rig.store);
  CAF_REQUIRE(batch.put(theirs, 6, 1000).ok());
  CAF_REQUIRE(batch.commit(6).ok());
  rig.advance(6);
  rig.writes.on_ack(rig.ack(sent[0], 5));
  // Before it answers from the replica, the stream's end is asked: had the stream lost what
  // the replica applied, it would end before 6 (the replica is then rebuilt first).
  CAF_CHECK(done.empty());
  auto question = sent_to("$JS.API.STREAM.INFO.s");
  CAF_REQUIRE_EQUAL(question.size(), 1u);
  answer(question[0], R"({"config":{"name":"s","subjects":["s.*"]},"state":{"last_seq":6}})");
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  auto view = protocol::decode_record(*done[0]).value();
  CAF_CHECK_EQUAL(protocol::decode_document(view.data_msgpack).value(), json("theirs"));
}

CAF_TEST(an erase purges after its delete is applied and reports the count) {
  pipeline_rig rig(*this);
  std::vector<result<uint64_t>> done;
  rig.writes.erase("k", [&](result<uint64_t> r) { done.push_back(r); });
  auto sent = sent_to("s." + protocol::base64_encode("k") + "-delete");
  CAF_REQUIRE_EQUAL(sent.size(), 1u);
  rig.writes.on_applied(rig.token(sent[0]), 1, rig.apply(sent[0], 1));
  auto purge = sent_to("$JS.API.STREAM.PURGE.s");
  CAF_REQUIRE_EQUAL(purge.size(), 1u);
  CAF_CHECK(done.empty());
  answer(purge[0], R"({"success":true,"purged":3})");
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK_EQUAL(*done[0], 3u);
}

CAF_TEST(an acknowledgement that reports an error retries the write only when the error passes) {
  pipeline_rig rig(*this);
  std::vector<result<std::string>> passing, lasting;
  rig.writes.put("p", "1", [&](result<std::string> r) { passing.push_back(r); });
  rig.writes.put("l", "1", [&](result<std::string> r) { lasting.push_back(r); });
  auto refuse = [&](const published& p, int err_code, const std::string& text) {
    inbound in;
    in.what = inbound::kind::pub_ack;
    in.token = rig.token(p);
    in.msg = reply_with(R"({"error":{"code":503,"err_code":)" + std::to_string(err_code) +
                        R"(,"description":")" + text + R"("}})");
    rig.writes.on_ack(in);
  };
  auto p = rig.puts_of("p");
  auto l = rig.puts_of("l");
  CAF_REQUIRE_EQUAL(p.size(), 1u);
  CAF_REQUIRE_EQUAL(l.size(), 1u);
  refuse(p[0], 10008, "JetStream system temporarily unavailable");  // an election: passes
  refuse(l[0], 10077, "maximum messages exceeded");                 // stays until an operator acts
  CAF_CHECK(passing.empty());
  CAF_REQUIRE_EQUAL(lasting.size(), 1u);
  CAF_CHECK_EQUAL(lasting[0].error().code(), errc::unavailable);
  CAF_CHECK_NOT_EQUAL(lasting[0].error().message().find("maximum messages exceeded"),
                      std::string::npos);
  clock.now = *rig.writes.next_wake();
  rig.writes.expire();
  auto again = rig.puts_of("p");
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  rig.writes.on_ack(rig.ack(again[0], 1));
  rig.writes.on_applied(rig.token(again[0]), 1, rig.apply(again[0], 1));
  CAF_REQUIRE_EQUAL(passing.size(), 1u);
  CAF_CHECK(passing[0].ok());
}

CAF_TEST(writes are retried under their message id and fail with what was happening) {
  pipeline_rig rig(*this);
  std::vector<status> errors;
  std::vector<std::string> records;
  rig.writes.put("a", "1", [&](result<std::string> r) { errors.push_back(r.error()); });
  rig.writes.put("b", "1", [&](result<std::string> r) {
    if (r.ok())
      records.push_back(*r);
    else
      errors.push_back(r.error());
  });
  auto b = rig.puts_of("b");
  CAF_REQUIRE_EQUAL(b.size(), 1u);
  rig.writes.on_ack(rig.ack(b[0], 0, 503));  // no leader for the moment
  CAF_CHECK(errors.empty());
  clock.now = *rig.writes.next_wake();
  rig.writes.expire();
  auto b_again = rig.puts_of("b");
  CAF_REQUIRE_EQUAL(b_again.size(), 1u);
  // The same message id: JetStream stores it once however often it is sent.
  CAF_CHECK_EQUAL(b_again[0].header("Nats-Msg-Id"), b[0].header("Nats-Msg-Id"));
  CAF_CHECK_EQUAL(b_again[0].payload, b[0].payload);
  rig.writes.on_ack(rig.ack(b_again[0], 1));
  rig.writes.on_applied(rig.token(b_again[0]), 1, rig.apply(b_again[0], 1));
  CAF_CHECK_EQUAL(records.size(), 1u);
  // "a" is never acknowledged: sent again after each lost attempt, then a timeout that says so.
  while (errors.empty()) {
    auto wake = rig.writes.next_wake();
    CAF_REQUIRE(wake.has_value());
    clock.now = std::max(clock.now, *wake);
    rig.writes.expire();
  }
  CAF_CHECK_GREATER(rig.puts_of("a").size(), 0u);
  CAF_REQUIRE_EQUAL(errors.size(), 1u);
  CAF_CHECK_EQUAL(errors[0].code(), errc::timeout);
  CAF_CHECK_NOT_EQUAL(errors[0].message().find("may still be applied later"), std::string::npos);
  CAF_CHECK(rig.writes.empty());
}

// next_wake() is asked after every put and drain, so it does not walk the writes: it may be
// early after the write due first completed, never late, and expire() makes it exact again.
CAF_TEST(the next wake of the writes is never late and exact again after an expiry) {
  using std::chrono::milliseconds;
  auto config = pipeline_rig::settings();
  config.timeout = std::chrono::seconds(10);
  config.ack_timeout = std::chrono::seconds(1);
  pipeline_rig rig(*this, config);
  CAF_CHECK(!rig.writes.next_wake());
  auto t0 = clock.now;
  std::vector<result<std::string>> done;
  rig.writes.put("a", "1", [&](result<std::string> r) { done.push_back(r); });
  clock.now += milliseconds(100);
  rig.writes.put("b", "1", [&](result<std::string> r) { done.push_back(r); });
  auto a = rig.puts_of("a");
  auto b = rig.puts_of("b");
  CAF_REQUIRE(a.size() == 1 && b.size() == 1);
  CAF_CHECK(rig.writes.next_wake() == t0 + milliseconds(1000));  // a's acknowledgement
  rig.writes.on_ack(rig.ack(a[0], 1));
  rig.writes.on_applied(rig.token(a[0]), 1, rig.apply(a[0], 1));
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK(*rig.writes.next_wake() <= t0 + milliseconds(1100));  // early or exact
  rig.writes.expire();                                            // nothing is due yet
  CAF_CHECK(rig.puts_of("b").empty());
  CAF_CHECK(rig.writes.next_wake() == t0 + milliseconds(1100));  // b's acknowledgement
  rig.writes.on_ack(rig.ack(b[0], 2));
  clock.now = *rig.writes.next_wake();
  rig.writes.expire();  // b is acknowledged: not sent again
  CAF_CHECK(rig.puts_of("b").empty());
  CAF_CHECK(rig.writes.next_wake() == t0 + milliseconds(10100));  // b's deadline
  rig.writes.on_applied(rig.token(b[0]), 2, rig.apply(b[0], 2));
  CAF_CHECK_EQUAL(done.size(), 2u);
  CAF_CHECK(!rig.writes.next_wake());
}

// -- subscription_set ---------------------------------------------------------------------------

namespace {

struct subscriber_rig {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::vector<subscriber_actor> actors;

  subscriber_actor spawn() {
    actors.push_back(sys.spawn([]() -> subscriber_actor::behavior_type {
      return {[](change_atom, change&) { return ok_atom::value; },
              [](ended_atom, uint64_t, caf::error&) {}};
    }));
    return actors.back();
  }

  ~subscriber_rig() {
    for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
};

change change_of(const std::string& key, size_t bytes = 10) {
  return change{"s", key, 1, std::string(bytes, 'r'), "", "{}", false};
}

}  // namespace

CAF_TEST(changes go to matching subscriptions with periodic acknowledgement points) {
  subscriber_rig rig;
  subscription_set subs({1000, 1 << 20});
  auto a = rig.spawn();
  auto b = rig.spawn();
  auto id_a = subs.add(protocol::glob("user:*"), a);
  subs.add(protocol::glob("order:*"), b);
  CAF_CHECK(subs.matches_any("user:1"));
  CAF_CHECK(!subs.matches_any("other"));
  std::vector<std::pair<bool, bool>> sent;  // (to a, with an ack point)
  auto deliver = [&](const subscriber_actor& to, const change&,
                     const std::optional<subscription_set::ack_point>& ack) {
    sent.emplace_back(to == a, ack.has_value());
  };
  size_t stats = 0;
  for (int i = 0; i < 64; ++i) subs.dispatch(change_of("user:1"), deliver, [&](auto&) { ++stats; });
  CAF_CHECK_EQUAL(sent.size(), 64u);
  CAF_CHECK_EQUAL(stats, 64u);
  CAF_CHECK_EQUAL(std::count(sent.begin(), sent.end(), std::make_pair(true, true)), 2);  // 32, 64
  CAF_CHECK(sent[31].second && !sent[30].second);
  CAF_CHECK(subs.remove(id_a).has_value());  // its subscriber has no other subscription
  CAF_CHECK_EQUAL(subs.size(), 1u);
}

CAF_TEST(a subscription past its bound ends and acknowledgements keep it alive) {
  subscriber_rig rig;
  subscription_set subs({8, 1 << 20});
  auto slow = rig.spawn();
  auto id = subs.add(protocol::glob("*"), slow);
  std::optional<subscription_set::ack_point> last_ack;
  auto deliver = [&](const subscriber_actor&, const change&,
                     const std::optional<subscription_set::ack_point>& ack) {
    if (ack) last_ack = ack;
  };
  auto nothing = [](auto&) {};
  for (int i = 0; i < 8; ++i) CAF_CHECK(subs.dispatch(change_of("k"), deliver, nothing).empty());
  CAF_REQUIRE(last_ack.has_value());
  subs.acknowledged(last_ack->id, last_ack->through, last_ack->through_bytes);  // all 8 handled
  for (int i = 0; i < 8; ++i) CAF_CHECK(subs.dispatch(change_of("k"), deliver, nothing).empty());
  auto ended = subs.dispatch(change_of("k"), deliver, nothing);  // the ninth unacknowledged
  CAF_REQUIRE_EQUAL(ended.size(), 1u);
  CAF_CHECK_EQUAL(ended[0].id, id);
  CAF_CHECK(ended[0].subscriber_left);
  CAF_CHECK_NOT_EQUAL(ended[0].why.message().find("too slow: 8 changes outstanding"),
                      std::string::npos);
  CAF_CHECK(subs.empty());
  CAF_CHECK_EQUAL(subs.slow_ended(), 1u);
}

CAF_TEST(the byte bound counts too) {
  subscriber_rig rig;
  subscription_set subs({1000, 100});
  subs.add(protocol::glob("*"), rig.spawn());
  auto none = [](const subscriber_actor&, const change&,
                 const std::optional<subscription_set::ack_point>&) {};
  auto nothing = [](auto&) {};
  CAF_CHECK(subs.dispatch(change_of("k", 80), none, nothing).empty());
  CAF_CHECK_EQUAL(subs.dispatch(change_of("k", 80), none, nothing).size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
