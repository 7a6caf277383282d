#define CAF_SUITE stream_actor
#include "actors/stream_actor_fixture.hpp"

#include "eventbase/log.hpp"
#include "protocol/base64.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

const std::string kPutPrefix = "orders." + protocol::base64_encode("k") + "-put";

// One field of a JSON text, by value (CAF's checks must not get references into temporaries).
json field(const std::string& text, const std::string& pointer) {
  return json::parse(text).at(json::json_pointer(pointer));
}

subscriber_actor spawn_collector(caf::actor_system& sys,
                                 std::shared_ptr<std::vector<change>> into) {
  return sys.spawn([into](subscriber_actor::pointer) -> subscriber_actor::behavior_type {
    return {
        [into](change_atom, change& c) {
          into->push_back(std::move(c));
          return ok_atom::value;
        },
        [](ended_atom, uint64_t, caf::error&) {},
    };
  });
}

// A subscriber that takes changes but never acknowledges them (a stalled process, as far as
// the stream can tell); it records how its subscription ended.
subscriber_actor spawn_stalled(caf::actor_system& sys, std::shared_ptr<size_t> received,
                               std::shared_ptr<std::string> ended) {
  return sys.spawn([=](subscriber_actor::pointer) -> subscriber_actor::behavior_type {
    return {
        [=](change_atom, change&) -> caf::result<ok_atom> {
          ++*received;
          return caf::delegated<ok_atom>();  // no reply, ever
        },
        [=](ended_atom, uint64_t, caf::error& why) { *ended = to_status(why).to_string(); },
    };
  });
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(stream_actor_tests, stream_actor_fixture)

CAF_TEST(opens an empty stream without waiting for events) {
  spawn();
  auto ready = ask<ok_atom>(ready_atom::value);
  CAF_CHECK(!ready.arrived());  // still asking JetStream
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(0));
  CAF_CHECK(ready.ok());
  // The consumer starts after what the replica has applied, and two pulls keep it fed.
  auto create = expect_publish("$JS.API.CONSUMER.CREATE.orders");
  CAF_CHECK_EQUAL(field(create.payload, "/config/opt_start_seq"), 1);
  reply(create, R"({"name":"C1"})");
  expect_publish("$JS.API.CONSUMER.MSG.NEXT.orders.C1");
  expect_publish("$JS.API.CONSUMER.MSG.NEXT.orders.C1");
}

CAF_TEST(creates a missing stream with one message per subject) {
  spawn();
  reply(expect_publish("$JS.API.STREAM.INFO.orders"),
        R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})");
  auto create = expect_publish("$JS.API.STREAM.CREATE.orders");
  auto request = json::parse(create.payload);
  CAF_CHECK_EQUAL(request["subjects"], json({"orders.*"}));
  CAF_CHECK_EQUAL(request["max_msgs_per_subject"], 1);
  reply(create, stream_info(0));
  CAF_CHECK(ask<ok_atom>(ready_atom::value).ok());
}

CAF_TEST(is ready only after replaying up to the last sequence) {
  spawn();
  auto ready = ask<ok_atom>(ready_atom::value);
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(3));
  grant_consumer("C1");
  deliver(1, "orders.a-put", js_put("a", "1"));
  deliver(2, "orders.b-put", js_put("b", "2"));
  CAF_CHECK(!ready.arrived());
  deliver(3, "orders.c-put", js_put("c", "3"));
  CAF_CHECK(ready.ok());
  CAF_CHECK_EQUAL(status().applied_sequence, 3u);
}

CAF_TEST(a replaying stream reports and logs its progress) {
  std::vector<std::string> lines;
  log::set_level(log::level::info);
  log::set_sink([&](log::level, std::string_view component, std::string_view message) {
    if (component == "stream") lines.emplace_back(message);
  });
  options.heartbeat = std::chrono::seconds(5);  // 3 s without a delivery stays within the rule
  spawn();
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(4));
  grant_consumer("C1");
  deliver(1, "orders.a-put", js_put("a", "1"));
  advance_time(std::chrono::seconds(3));
  sched.run();
  deliver(2, "orders.b-put", js_put("b", "2"));  // 2 events in 3 s: 1 left, about 1.5 s
  auto replaying = status();
  CAF_CHECK(!replaying.ready);
  CAF_CHECK_EQUAL(replaying.applied_sequence, 2u);
  CAF_CHECK_EQUAL(replaying.replay_target, 4u);
  CAF_CHECK_EQUAL(replaying.replay_eta_ms, 3000);  // (4 - 2) / (2 / 3 s)
  advance_time(std::chrono::seconds(3));
  sched.run();
  deliver(3, "orders.c-put", js_put("c", "3"));  // 6 s since the replay began: a line is due
  deliver(4, "orders.d-put", js_put("d", "4"));
  auto ready = status();
  CAF_CHECK(ready.ready);
  CAF_CHECK_EQUAL(ready.replay_target, 0u);
  CAF_CHECK_EQUAL(ready.replay_eta_ms, -1);
  log::set_sink(nullptr);
  log::set_level(log::level::warning);
  std::string all;
  for (auto& l : lines) all += l + "\n";
  CAF_CHECK(all.find("'orders' replaying: 3 of 4 events applied (75.0%)") != std::string::npos);
  CAF_CHECK(all.find("'orders' replayed 4 events in 6.0 s") != std::string::npos);
}

CAF_TEST(operations are counted with their latency for metrics) {
  open();
  auto get = ask<entry>(get_atom::value, std::string("k"));
  CAF_CHECK(get.ok());
  auto metrics =
      ask_of<actors::stream_metrics>(actors::internal(actor), actors::metrics_atom::value).value();
  CAF_CHECK_EQUAL(metrics.status.name, "orders");
  auto& gets = metrics.operations[static_cast<size_t>(protocol::stats_operation::get)];
  CAF_CHECK_EQUAL(gets.count, 1u);
  CAF_CHECK_EQUAL(metrics.operations[static_cast<size_t>(protocol::stats_operation::put)].count,
                  0u);
}

CAF_TEST(operations before ready are refused) {
  spawn();
  auto get = ask<entry>(get_atom::value, std::string("k"));
  CAF_CHECK_EQUAL(get.error_code(), errc::not_ready);
}

CAF_TEST(fails the open when jetstream is not there) {
  spawn();
  auto ready = ask<ok_atom>(ready_atom::value);
  // No responders is retried with backoff until the operation timeout (10 s), then reported.
  int attempts = 0;
  while (!ready.arrived() && attempts < 100) {
    if (published_to("$JS.API.STREAM.INFO.orders")) {
      ++attempts;
      reply(expect_publish("$JS.API.STREAM.INFO.orders"), "", 503);
    }
    advance_time(std::chrono::milliseconds(100));
    sched.run();
  }
  CAF_CHECK_GREATER(attempts, 5);
  CAF_REQUIRE(ready.arrived());
  CAF_CHECK_NOT_EQUAL(ready.error_message().find("no responders"), std::string::npos);
}

CAF_TEST(fails the open after the open timeout) {
  options.open_timeout = std::chrono::seconds(3);
  spawn();
  auto ready = ask<ok_atom>(ready_atom::value);
  advance_time(std::chrono::seconds(4));
  sched.run();
  CAF_REQUIRE(ready.arrived());
  CAF_CHECK_EQUAL(ready.error_code(), errc::timeout);
}

CAF_TEST(a put replies once applied with carried metadata) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string(R"({"v":1})"));
  auto sent = expect_publish(kPutPrefix);
  CAF_CHECK(!sent.header("Nats-Msg-Id").empty());
  // The body is the JS library's; the metadata travels in headers.
  auto payload = json::parse(sent.payload);
  CAF_CHECK_EQUAL(payload.size(), 4u);
  CAF_CHECK_EQUAL(payload["type"], "PUT");
  CAF_CHECK_EQUAL(payload["id"], "k");
  CAF_CHECK_EQUAL(payload["data"], json({{"v", 1}}));
  CAF_CHECK(payload["timestamp"].is_number_unsigned());
  CAF_CHECK_EQUAL(sent.header("Eventbase-Changes"), "1");
  CAF_CHECK_EQUAL(sent.header("Eventbase-Date-Created"), "");  // a new key
  ack(sent, 1);
  CAF_CHECK(!put.arrived());  // acknowledged but not yet applied here
  deliver_published(sent, 1);
  CAF_REQUIRE(put.ok());
  CAF_CHECK_EQUAL(data_of(put.value().record), json({{"v", 1}}));
  CAF_CHECK_EQUAL(meta_of(put.value().record), (protocol::meta{1733565600123, 1733565600123, 1}));
  // The next put of the key carries what the replica knows.
  ask<entry>(put_atom::value, std::string("k"), std::string(R"({"v":2})"));
  auto second = expect_publish(kPutPrefix);
  CAF_CHECK_EQUAL(second.header("Eventbase-Changes"), "2");
  CAF_CHECK_EQUAL(second.header("Eventbase-Date-Created"), "2024-12-07T10:00:00.123Z");
  CAF_CHECK_EQUAL(json::parse(second.payload).count("meta"), 0u);
}

// The document goes on the wire as JSON.stringify writes it (keys in their order, no white
// space, JavaScript's numbers), and comes back in the same order.
CAF_TEST(a put publishes the document as javascript writes it) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"),
                        std::string(R"({ "zeta" : 1.0, "alpha" : [1E2, 1e-7], "zeta" : 2 })"));
  auto sent = expect_publish(kPutPrefix);
  auto data_at = sent.payload.find(R"("data":)");
  CAF_REQUIRE_NOT_EQUAL(data_at, std::string::npos);
  CAF_CHECK_EQUAL(sent.payload.substr(0, data_at), R"({"type":"PUT","id":"k",)");
  CAF_CHECK_EQUAL(sent.payload.substr(data_at, sent.payload.find(R"(,"timestamp":)") - data_at),
                  R"("data":{"zeta":2,"alpha":[100,1e-7]})");
  deliver_published(sent, 1);
  CAF_REQUIRE(put.ok());
  CAF_CHECK_EQUAL(data_of(put.value().record).dump(), R"({"zeta":2,"alpha":[100,1e-07]})");
}

// Metadata headers from another Eventbase node apply as written, so every replica agrees even
// when compaction removed the key's earlier events.
CAF_TEST(metadata headers of other writers apply) {
  open();
  deliver(1, kPutPrefix, js_put("k", "1"),
          {{"Eventbase-Changes", "7"}, {"Eventbase-Date-Created", "2024-01-01T00:00:00.000Z"}});
  auto got = ask<entry>(get_atom::value, std::string("k"));
  CAF_REQUIRE(got.ok());
  CAF_CHECK_EQUAL(meta_of(got.value().record), (protocol::meta{1704067200000, 1733565600123, 7}));
  // Headers that do not parse are ignored: the event counts as a JS writer's.
  deliver(2, kPutPrefix, js_put("k", "2"), {{"Eventbase-Changes", "many"}});
  got = ask<entry>(get_atom::value, std::string("k"));
  CAF_REQUIRE(got.ok());
  CAF_CHECK_EQUAL(meta_of(got.value().record).changes, 8u);
  CAF_CHECK_EQUAL(data_of(got.value().record), json(2));
  CAF_CHECK_EQUAL(status().skipped_events, 0u);
}

// An event an earlier Eventbase wrote, with its metadata in the body: the metadata still
// applies, and subscribers get the event without it, like any other writer's.
CAF_TEST(events with metadata in the body still apply and reach subscribers without it) {
  open();
  auto changes = std::make_shared<std::vector<change>>();
  auto subscriber = spawn_collector(sys, changes);
  CAF_REQUIRE(ask<uint64_t>(subscribe_atom::value, std::string("*"), subscriber).ok());
  deliver(1, kPutPrefix,
          R"({"type":"PUT","id":"k","data":{"b":1,"a":2},"timestamp":5,)"
          R"("meta":{"changes":3,"dateCreated":"2024-01-01T00:00:00.000Z"}})");
  std::string js_written = R"({"type":"PUT","id":"j","data":{"b":1,"a":2},"timestamp":6})";
  deliver(2, "orders.ag==-put", js_written);
  auto got = ask<entry>(get_atom::value, std::string("k"));
  CAF_REQUIRE(got.ok());
  CAF_CHECK_EQUAL(meta_of(got.value().record), (protocol::meta{1704067200000, 1733565600123, 3}));
  CAF_REQUIRE_EQUAL(changes->size(), 2u);
  CAF_CHECK_EQUAL(changes->at(0).event,
                  R"({"type":"PUT","id":"k","data":{"b":1,"a":2},"timestamp":5})");
  CAF_CHECK_EQUAL(changes->at(1).event, js_written);  // as on the stream, byte for byte
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
}

CAF_TEST(a put may be applied before its acknowledgement) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string("7"));
  auto sent = expect_publish(kPutPrefix);
  deliver_published(sent, 1);
  CAF_CHECK(put.ok());
  ack(sent, 1);  // late: ignored
  CAF_CHECK_EQUAL(status().pending_writes, 0u);
}

CAF_TEST(a put replaced by compaction completes at its acknowledged sequence) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string("1"));
  auto sent = expect_publish(kPutPrefix);
  ack(sent, 5);
  // Another node's put of the same key replaced message 5 before this node consumed it.
  deliver(6, kPutPrefix, js_put("k", "2"));
  CAF_REQUIRE(put.ok());
  CAF_CHECK_EQUAL(data_of(put.value().record), json(2));  // the key's state as of now
}

CAF_TEST(writes of one key run one after the other) {
  open();
  auto first = ask<entry>(put_atom::value, std::string("k"), std::string("1"));
  auto second = ask<entry>(put_atom::value, std::string("k"), std::string("2"));
  auto other = ask<entry>(put_atom::value, std::string("other"), std::string("3"));
  auto p1 = expect_publish(kPutPrefix);
  CAF_CHECK(!published_to(kPutPrefix));  // the second waits for the first
  expect_publish("orders." + protocol::base64_encode("other") + "-put");  // other keys do not
  ack(p1, 1);
  deliver_published(p1, 1);
  CAF_CHECK(first.ok());
  auto p2 = expect_publish(kPutPrefix);
  CAF_CHECK_EQUAL(p2.header("Eventbase-Changes"), "2");
  deliver_published(p2, 2);
  CAF_REQUIRE(second.ok());
  CAF_CHECK_EQUAL(meta_of(second.value().record).changes, 2u);
  CAF_CHECK(!other.arrived());
}

// A batch is many puts in one message: each runs as a single put would (one key's puts in batch
// order), and the reply holds each put's record or error, in batch order.
CAF_TEST(a batch of puts replies with the outcome of each put in order) {
  open();
  std::vector<std::string> keys{"k", "other", "k", "", "bad"};
  std::vector<std::string> docs{"1", R"({"b":1,"a":2})", "2", "3", "{not json"};
  auto batch = ask<put_batch_reply>(put_atom::value, keys, docs);
  auto p1 = expect_publish(kPutPrefix);
  auto p_other = expect_publish("orders." + protocol::base64_encode("other") + "-put");
  CAF_CHECK(!published_to(kPutPrefix));  // the second put of "k" waits for the first
  deliver_published(p1, 1);
  auto p2 = expect_publish(kPutPrefix);
  CAF_CHECK_EQUAL(p2.header("Eventbase-Changes"), "2");
  CAF_CHECK(!batch.arrived());  // "other" and the second "k" are not applied yet
  deliver_published(p2, 2);
  CAF_CHECK(!batch.arrived());
  deliver_published(p_other, 3);
  CAF_REQUIRE(batch.ok());
  auto reply = batch.value();
  CAF_REQUIRE_EQUAL(reply.records.size(), 5u);
  CAF_REQUIRE_EQUAL(reply.errors.size(), 5u);
  CAF_CHECK(!reply.errors[0] && !reply.errors[1] && !reply.errors[2]);
  CAF_CHECK_EQUAL(data_of(reply.records[0]), json(1));
  CAF_CHECK_EQUAL(meta_of(reply.records[0]).changes, 1u);
  CAF_CHECK_EQUAL(data_of(reply.records[1]).dump(), R"({"b":1,"a":2})");
  CAF_CHECK_EQUAL(data_of(reply.records[2]), json(2));
  CAF_CHECK_EQUAL(meta_of(reply.records[2]).changes, 2u);
  // Invalid puts fail alone, with the single put's errors.
  CAF_CHECK_EQUAL(to_status(reply.errors[3]).code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(to_status(reply.errors[4]).code(), errc::invalid_argument);
  CAF_CHECK(reply.records[3].empty() && reply.records[4].empty());
  CAF_CHECK_EQUAL(status().pending_writes, 0u);
}

CAF_TEST(malformed batches of puts are refused whole) {
  open();
  std::vector<std::string> two{"a", "b"}, one{"1"};
  auto uneven = ask<put_batch_reply>(put_atom::value, two, one);
  CAF_REQUIRE(!uneven.ok());
  CAF_CHECK_EQUAL(uneven.error_code(), errc::invalid_argument);
  std::vector<std::string> many(max_put_batch + 1, "k"), docs(max_put_batch + 1, "1");
  auto too_many = ask<put_batch_reply>(put_atom::value, many, docs);
  CAF_REQUIRE(!too_many.ok());
  CAF_CHECK_EQUAL(too_many.error_code(), errc::invalid_argument);
  CAF_CHECK(!published_to(kPutPrefix));
  std::vector<std::string> none;
  auto empty = ask<put_batch_reply>(put_atom::value, none, none);
  CAF_REQUIRE(empty.ok());
  CAF_CHECK(empty.value().records.empty());
}

CAF_TEST(a write without confirmation times out) {
  options.operation_timeout = std::chrono::seconds(2);
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string("1"));
  auto queued = ask<entry>(put_atom::value, std::string("k"), std::string("2"));
  expect_publish(kPutPrefix);
  advance_time(std::chrono::seconds(3));
  sched.run();
  CAF_REQUIRE(put.arrived());
  CAF_CHECK_EQUAL(put.error_code(), errc::timeout);
  CAF_REQUIRE(queued.arrived());
  CAF_CHECK_EQUAL(queued.error_code(), errc::timeout);
  CAF_CHECK_EQUAL(status().pending_writes, 0u);
  // The key is free again.
  ask<entry>(put_atom::value, std::string("k"), std::string("3"));
  expect_publish(kPutPrefix);
}

CAF_TEST(a rejected write reports the jetstream error) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string("1"));
  // No leader (no responders) is retried until the operation timeout, then reported.
  int attempts = 0;
  while (!put.arrived() && attempts < 100) {
    if (published_to(kPutPrefix)) {
      ++attempts;
      reply(expect_publish(kPutPrefix), "", 503);
    }
    advance_time(std::chrono::milliseconds(100));
    sched.run();
  }
  CAF_CHECK_GREATER(attempts, 5);
  CAF_REQUIRE(put.arrived());
  // unavailable when the next retry would pass the deadline, timeout when the deadline came
  // first (backoff has jitter); either way the message says what was happening.
  auto code = put.error_code();
  CAF_CHECK(code == errc::unavailable || code == errc::timeout);
  CAF_CHECK_NOT_EQUAL(put.error_message().find("no JetStream leader"), std::string::npos);
  auto second = ask<entry>(put_atom::value, std::string("k"), std::string("1"));
  reply(expect_publish(kPutPrefix),
        R"({"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}})");
  CAF_CHECK_EQUAL(second.error_code(), errc::unavailable);
  CAF_CHECK_NOT_EQUAL(second.error_message().find("maximum messages exceeded"), std::string::npos);
}

CAF_TEST(invalid documents are refused without publishing) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string("{not json"));
  CAF_CHECK_EQUAL(put.error_code(), errc::invalid_argument);
  auto empty = ask<entry>(put_atom::value, std::string(""), std::string("1"));
  CAF_CHECK_EQUAL(empty.error_code(), errc::invalid_argument);
  auto big = ask<entry>(put_atom::value, std::string("k"), "\"" + std::string(2 << 20, 'x') + "\"");
  CAF_CHECK_EQUAL(big.error_code(), errc::too_large);
  CAF_CHECK(!published_to("orders."));
}

CAF_TEST(an erase purges the key after its delete is applied) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string("1"));
  auto p = expect_publish(kPutPrefix);
  deliver_published(p, 1);
  CAF_REQUIRE(put.ok());
  auto erased = ask<uint64_t>(erase_atom::value, std::string("k"));
  auto del = expect_publish("orders." + protocol::base64_encode("k") + "-delete");
  CAF_CHECK_EQUAL(field(del.payload, "/type"), "DELETE");
  deliver_published(del, 2);
  CAF_CHECK(!erased.arrived());  // purging
  auto purge = expect_publish("$JS.API.STREAM.PURGE.orders");
  CAF_CHECK_EQUAL(field(purge.payload, "/filter"), kPutPrefix);
  reply(purge, R"({"success":true,"purged":1})");
  CAF_REQUIRE(erased.ok());
  CAF_CHECK_EQUAL(erased.value(), 1u);
  CAF_CHECK(ask<entry>(get_atom::value, std::string("k")).value().record.empty());
}

CAF_TEST(malformed messages are skipped and counted) {
  open();
  deliver(1, "orders.x", "not json");
  deliver(2, "orders.y", R"({"type":"PUT"})");
  deliver(3, "orders.a-put", js_put("a", "1"));
  auto st = status();
  CAF_CHECK_EQUAL(st.skipped_events, 2u);
  CAF_CHECK_EQUAL(st.applied_sequence, 3u);
  CAF_CHECK_EQUAL(data_of(ask<entry>(get_atom::value, std::string("a")).value().record), json(1));
}

CAF_TEST(a gap in consumer sequences recreates the consumer) {
  open();
  deliver(1, "orders.a-put", js_put("a", "1"));
  ++consumer_seq;  // lose one delivery
  deliver(2, "orders.b-put", js_put("b", "2"));
  CAF_CHECK_EQUAL(status().applied_sequence, 1u);  // the message after the gap is not applied
  auto create = expect_publish("$JS.API.CONSUMER.CREATE.orders");
  CAF_CHECK_EQUAL(field(create.payload, "/config/opt_start_seq"), 2);
  expect_publish("$JS.API.CONSUMER.DELETE.orders.C1");
  reply(create, R"({"name":"C2"})");
  consumer = "C2";
  consumer_seq = 0;
  deliver(2, "orders.b-put", js_put("b", "2"));
  CAF_CHECK_EQUAL(status().applied_sequence, 2u);
}

CAF_TEST(a reconnect recreates the consumer from the applied sequence) {
  open();
  deliver(1, "orders.a-put", js_put("a", "1"));
  js->fire_reconnect();
  sched.run();
  auto create = expect_publish("$JS.API.CONSUMER.CREATE.orders");
  CAF_CHECK_EQUAL(field(create.payload, "/config/opt_start_seq"), 2);
  reply(create, R"({"name":"C2"})");
  // Messages of the old consumer are ignored; the new one continues without gap.
  deliver(2, "orders.b-put", js_put("b", "2"));
  CAF_CHECK_EQUAL(status().applied_sequence, 1u);
  consumer = "C2";
  consumer_seq = 0;
  deliver(2, "orders.b-put", js_put("b", "2"));
  CAF_CHECK_EQUAL(status().applied_sequence, 2u);
}

CAF_TEST(a silent consumer is recreated) {
  options.heartbeat = std::chrono::seconds(1);
  open();
  advance_time(std::chrono::seconds(2));
  sched.run();
  CAF_CHECK(!published_to("$JS.API.CONSUMER.CREATE.orders"));
  advance_time(std::chrono::seconds(2));
  sched.run();
  CAF_CHECK(published_to("$JS.API.CONSUMER.CREATE.orders"));
}

CAF_TEST(subscribers get matching changes and are dropped when they go down) {
  open();
  auto changes = std::make_shared<std::vector<change>>();
  auto subscriber = spawn_collector(sys, changes);
  auto id = ask<uint64_t>(subscribe_atom::value, std::string("a*"), subscriber);
  CAF_REQUIRE(id.ok());
  deliver(1, "orders.a-put", js_put("a1", R"({"x":1})"));
  deliver(2, "orders.b-put", js_put("b1", "2"));
  deliver(3, "orders.a-put", js_put("a1", R"({"x":2})"));
  CAF_REQUIRE_EQUAL(changes->size(), 2u);
  CAF_CHECK_EQUAL(changes->at(0).key, "a1");
  CAF_CHECK(changes->at(0).old_record.empty());
  CAF_CHECK_EQUAL(data_of(changes->at(1).record), json({{"x", 2}}));
  CAF_CHECK_EQUAL(data_of(changes->at(1).old_record), json({{"x", 1}}));
  CAF_CHECK_EQUAL(changes->at(1).sequence, 3u);
  CAF_CHECK_EQUAL(status().subscriptions, 1u);
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK_EQUAL(status().subscriptions, 0u);
}

CAF_TEST(unsubscribe ends one subscription) {
  open();
  auto changes = std::make_shared<std::vector<change>>();
  auto subscriber = spawn_collector(sys, changes);
  auto id = ask<uint64_t>(subscribe_atom::value, std::string("*"), subscriber).value();
  CAF_CHECK(ask<ok_atom>(unsubscribe_atom::value, id).ok());
  CAF_CHECK_EQUAL(ask<ok_atom>(unsubscribe_atom::value, id).error_code(), errc::not_found);
  deliver(1, "orders.a-put", js_put("a", "1"));
  CAF_CHECK(changes->empty());
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
}

CAF_TEST(a replica ahead of the stream is rebuilt) {
  {
    // A replica that applied 10 events of an earlier stream of the same name.
    auto store = db->open_stream(name).value();
    storage::apply_batch batch(*store);
    protocol::decoded_event ev;
    ev.key = "stale";
    protocol::append_msgpack(json(1), ev.data_msgpack);
    CAF_REQUIRE(batch.put(ev, 10, 1).ok());
    CAF_REQUIRE(batch.commit(10).ok());
    store->close();
  }
  open(1);
  deliver(1, "orders.a-put", js_put("fresh", "1"));
  CAF_CHECK(ask<ok_atom>(ready_atom::value).ok());
  CAF_CHECK_EQUAL(ask<std::vector<std::string>>(keys_atom::value, std::string("")).value(),
                  (std::vector<std::string>{"fresh"}));
}

// Issue 24, item 4: JetStream lost events the replica had applied (nats-server 2.9 after a
// leader's kill) and the stream went on from an earlier sequence; the replica, ahead of it,
// must be rebuilt from what the stream has, not stay diverged.
CAF_TEST(a replica the stream fell behind while serving is rebuilt from the stream) {
  open();
  for (uint64_t seq = 1; seq <= 5; ++seq) deliver_put(seq, "k" + std::to_string(seq), "1");
  auto get = ask<entry>(get_atom::value, std::string("k5"), consistent_atom::value);
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(3));  // 4 and 5 are gone
  // The replica starts again from the stream's first event: a new consumer from sequence 1.
  auto again = expect_publish("$JS.API.STREAM.INFO.orders");
  reply(again, stream_info(4));  // another write since, at 4
  auto create = expect_publish("$JS.API.CONSUMER.CREATE.orders");
  CAF_CHECK_EQUAL(field(create.payload, "/config/opt_start_seq"), 1);
  CAF_CHECK_EQUAL(ask<entry>(get_atom::value, std::string("k1")).error_code(), errc::not_ready);
  reply(create, R"({"name":"C2"})");
  consumer = "C2";
  consumer_seq = 0;
  for (uint64_t seq = 1; seq <= 3; ++seq) deliver_put(seq, "k" + std::to_string(seq), "2");
  deliver_put(4, "new", "4");
  CAF_REQUIRE(get.ok());
  CAF_CHECK(get.value().record.empty());  // k5 was lost with the events JetStream lost
  auto st = status();
  CAF_CHECK(st.ready);
  CAF_CHECK_EQUAL(st.replica_rebuilds, 1u);
  CAF_CHECK_EQUAL(st.applied_sequence, 4u);
  CAF_CHECK_EQUAL(ask<std::vector<std::string>>(keys_atom::value, std::string("")).value(),
                  (std::vector<std::string>{"k1", "k2", "k3", "new"}));
}

// A consumer that answers with idle heartbeats but delivers nothing while the stream is ahead
// (its server's copy stopped) is found by the audit of a quiet replica and recreated.
CAF_TEST(a stalled consumer is recreated by the audit) {
  options.audit_interval = std::chrono::seconds(5);
  options.heartbeat = std::chrono::seconds(100);  // no silence rule: it heartbeats
  open();
  deliver_put(1, "a", "1");
  advance_time(std::chrono::seconds(5));  // first audit: the replica moved since the start
  sched.run();
  CAF_CHECK(!published_to("$JS.API.STREAM.INFO.orders"));
  advance_time(std::chrono::seconds(5));  // quiet for an interval
  sched.run();
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(9));
  auto create = expect_publish("$JS.API.CONSUMER.CREATE.orders");
  CAF_CHECK_EQUAL(field(create.payload, "/config/opt_start_seq"), 2);
  CAF_CHECK_EQUAL(status().replica_stalls, 1u);
}

CAF_TEST(close waits for published writes) {
  open();
  auto put = ask<entry>(put_atom::value, std::string("k"), std::string("1"));
  auto p = expect_publish(kPutPrefix);
  auto closed = ask<ok_atom>(close_atom::value);
  CAF_CHECK(!closed.arrived());
  auto refused = ask<entry>(put_atom::value, std::string("k2"), std::string("1"));
  CAF_CHECK_EQUAL(refused.error_code(), errc::closed);
  deliver_published(p, 1);
  CAF_CHECK(put.ok());
  CAF_CHECK(closed.ok());
}

CAF_TEST(a subscriber that stops acknowledging loses its subscription) {
  options.subscriber_max_pending = 8;
  open();
  auto received = std::make_shared<size_t>(0);
  auto ended = std::make_shared<std::string>();
  auto stalled = spawn_stalled(sys, received, ended);
  auto healthy_changes = std::make_shared<std::vector<change>>();
  auto healthy = spawn_collector(sys, healthy_changes);
  CAF_REQUIRE(ask<uint64_t>(subscribe_atom::value, std::string("*"), stalled).ok());
  CAF_REQUIRE(ask<uint64_t>(subscribe_atom::value, std::string("*"), healthy).ok());
  for (uint64_t seq = 1; seq <= 20; ++seq)
    deliver(seq, "orders.a-put", js_put("a" + std::to_string(seq), "1"));
  CAF_CHECK_EQUAL(*received, 8u);  // the bound, then nothing more
  CAF_CHECK_NOT_EQUAL(ended->find("too slow: 8 changes outstanding"), std::string::npos);
  CAF_CHECK_EQUAL(healthy_changes->size(), 20u);  // acknowledging subscribers are unaffected
  auto st = status();
  CAF_CHECK_EQUAL(st.subscriptions, 1u);
  CAF_CHECK_EQUAL(st.slow_subscriptions_ended, 1u);
  for (auto& who : {stalled, healthy}) caf::anon_send_exit(who, caf::exit_reason::user_shutdown);
  sched.run();
}

CAF_TEST(a subscriber that acknowledges keeps up however long the stream) {
  options.subscriber_max_pending = 4;
  open();
  auto changes = std::make_shared<std::vector<change>>();
  auto subscriber = spawn_collector(sys, changes);
  CAF_REQUIRE(ask<uint64_t>(subscribe_atom::value, std::string("*"), subscriber).ok());
  for (uint64_t seq = 1; seq <= 100; ++seq)
    deliver(seq, "orders.a-put", js_put("a" + std::to_string(seq), "1"));
  CAF_CHECK_EQUAL(changes->size(), 100u);
  CAF_CHECK_EQUAL(status().slow_subscriptions_ended, 0u);
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
  sched.run();
}

CAF_TEST(a long keys scan runs in slices and other requests go in between) {
  options.scan_slice = std::chrono::milliseconds(0);  // a slice per clock check (64 keys)
  open();
  for (uint64_t seq = 1; seq <= 1000; ++seq)
    deliver(seq, "orders.a-put", js_put("k" + std::to_string(1000 + seq), "1"));
  auto order = std::make_shared<std::vector<std::string>>();
  auto keys = std::make_shared<size_t>(0);
  auto target = actor;
  sys.spawn([=](caf::event_based_actor* asker) {
    asker->request(target, caf::infinite, keys_atom::value, std::string("1$"))
        .then([=](std::vector<std::string>& found) {
          *keys = found.size();
          order->push_back("keys");
        });
    asker->request(target, caf::infinite, get_atom::value, std::string("k1001")).then([=](entry&) {
      order->push_back("get");
    });
  });
  sched.run();
  CAF_CHECK_EQUAL(*order, (std::vector<std::string>{"get", "keys"}));
  CAF_CHECK_EQUAL(*keys, 100u);
}

CAF_TEST(queries and counts run in slices and other requests go in between) {
  options.scan_slice = std::chrono::milliseconds(0);  // a slice per clock check
  open();
  for (uint64_t seq = 1; seq <= 1000; ++seq)
    deliver(seq, "orders.a-put",
            js_put("k" + std::to_string(1000 + seq), "{\"n\":" + std::to_string(seq) + "}"));
  auto order = std::make_shared<std::vector<std::string>>();
  auto results = std::make_shared<std::vector<std::string>>();
  auto counted = std::make_shared<uint64_t>(0);
  auto target = actor;
  sys.spawn([=](caf::event_based_actor* asker) {
    asker
        ->request(target, caf::infinite, query_atom::value, std::string(R"({"n":{"$gt":990}})"),
                  std::string(R"({"sort":{"n":-1},"limit":3})"))
        .then([=](query_reply& reply) {
          *results = reply.keys;
          order->push_back("query");
        });
    asker->request(target, caf::infinite, count_atom::value, std::string(R"({"n":{"$lte":10}})"))
        .then([=](uint64_t n) {
          *counted = n;
          order->push_back("count");
        });
    asker->request(target, caf::infinite, get_atom::value, std::string("k1001")).then([=](entry&) {
      order->push_back("get");
    });
  });
  sched.run();
  // Both examine every document, a slice each in turn: the query, asked first, ends first.
  CAF_CHECK_EQUAL(*order, (std::vector<std::string>{"get", "query", "count"}));
  CAF_CHECK_EQUAL(*results, (std::vector<std::string>{"k2000", "k1999", "k1998"}));
  CAF_CHECK_EQUAL(*counted, uint64_t{10});
}

CAF_TEST(bad queries are refused) {
  open();
  auto bad =
      ask<query_reply>(query_atom::value, std::string(R"({"n":{"$nope":1}})"), std::string("{}"));
  CAF_CHECK_EQUAL(bad.error_code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(bad.error_message().find("unknown operator '$nope' at 'n'"),
                      std::string::npos);
  auto not_json = ask<uint64_t>(count_atom::value, std::string("{n:1}"));
  CAF_CHECK_EQUAL(not_json.error_code(), errc::invalid_argument);
  auto bad_options = ask<query_reply>(query_atom::value, std::string("{}"), std::string("[]"));
  CAF_CHECK_EQUAL(bad_options.error_code(), errc::invalid_argument);
}

CAF_TEST(regexes that exceed their limits are refused) {
  open();
  deliver(1, "orders.a-put", js_put(std::string(30, 'a') + "b", "1"));
  auto too_complex = ask<std::vector<std::string>>(keys_atom::value, std::string("(a+)+$"));
  CAF_CHECK_EQUAL(too_complex.error_code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(too_complex.error_message().find("regex too complex"), std::string::npos);
  auto too_long = ask<std::vector<std::string>>(keys_atom::value, std::string(5000, 'a'));
  CAF_CHECK_EQUAL(too_long.error_code(), errc::invalid_argument);
  auto ok = ask<std::vector<std::string>>(keys_atom::value, std::string("b$"));
  CAF_CHECK_EQUAL(ok.value().size(), 1u);
}

CAF_TEST(documents nested deeper than the limit are refused) {
  open();
  auto deep =
      ask<entry>(put_atom::value, std::string("k"), std::string(600, '[') + std::string(600, ']'));
  CAF_CHECK_EQUAL(deep.error_code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(deep.error_message().find("512"), std::string::npos);
  CAF_CHECK(!published_to(kPutPrefix));
}

CAF_TEST(pull requests are renewed before they expire without waiting for a 408) {
  open();
  auto first = expect_publish("$JS.API.CONSUMER.MSG.NEXT.orders.C1");
  expect_publish("$JS.API.CONSUMER.MSG.NEXT.orders.C1");
  // The server sends idle heartbeats and, at expiry, may drop the requests silently.
  for (int second = 1; second <= 29; ++second) {  // a heartbeat every second, for 29 s
    advance_time(std::chrono::seconds(1));
    reply(first, "", 100);
  }
  CAF_CHECK(published_to("$JS.API.CONSUMER.MSG.NEXT.orders.C1"));  // renewed, same consumer
  CAF_CHECK(!published_to("$JS.API.CONSUMER.CREATE.orders"));
}

CAF_TEST(an open that times out leaves nothing registered with NATS) {
  options.open_timeout = std::chrono::seconds(3);
  spawn();
  CAF_CHECK_EQUAL(js->reconnect_listeners(), 1u);
  CAF_CHECK(js->has_inbox());
  advance_time(std::chrono::seconds(4));
  sched.run();
  CAF_CHECK_EQUAL(js->reconnect_listeners(), 0u);
  CAF_CHECK(!js->has_inbox());
}

CAF_TEST(a killed stream actor releases its subscription listener and consumer) {
  open();
  caf::anon_send_exit(actor, caf::exit_reason::kill);
  sched.run();
  actor = nullptr;
  CAF_CHECK_EQUAL(js->reconnect_listeners(), 0u);
  CAF_CHECK(!js->has_inbox());
  CAF_CHECK(published_to("$JS.API.CONSUMER.DELETE.orders.C1"));
  CAF_CHECK(db->open_stream(name).ok());  // the replica is free for the next actor
}

CAF_TEST(a consistent read waits until the replica has applied the last sequence) {
  open();
  deliver(1, "orders.a-put", js_put("a", "1"));
  auto get = ask<entry>(get_atom::value, std::string("a"), consistent_atom::value);
  auto keys =
      ask<std::vector<std::string>>(keys_atom::value, std::string(""), consistent_atom::value);
  // The keys read began after the first STREAM.INFO was sent: it waits for the next one.
  auto info = expect_publish("$JS.API.STREAM.INFO.orders");
  CAF_CHECK(!published_to("$JS.API.STREAM.INFO.orders"));
  // Another node wrote sequences 2 and 3; this replica has not seen them yet.
  reply(info, stream_info(3));
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(3));
  CAF_CHECK(!get.arrived());
  CAF_CHECK(!keys.arrived());
  CAF_CHECK_EQUAL(status().lag, 2u);
  deliver(2, "orders.a-put", js_put("a", "2"));
  CAF_CHECK(!get.arrived());
  deliver(3, "orders.b-put", js_put("b", "3"));
  CAF_REQUIRE(get.ok());
  CAF_CHECK_EQUAL(data_of(get.value().record), json(2));
  CAF_CHECK_EQUAL(keys.value(), (std::vector<std::string>{"a", "b"}));
  // The plain read does not ask JetStream.
  CAF_CHECK(ask<entry>(get_atom::value, std::string("a")).ok());
  CAF_CHECK(!published_to("$JS.API.STREAM.INFO.orders"));
}

// However many consistent reads a peer sends at once, JetStream is asked at most twice: once for
// the first, once more for all that began while that call was in flight.
CAF_TEST(a burst of consistent reads asks jetstream twice) {
  open();
  deliver(1, "orders.a-put", js_put("a", "1"));
  std::vector<pending_reply<entry>> gets;
  for (int i = 0; i < 200; ++i)
    gets.push_back(ask<entry>(get_atom::value, std::string("a"), consistent_atom::value));
  auto first = expect_publish("$JS.API.STREAM.INFO.orders");
  CAF_CHECK(!published_to("$JS.API.STREAM.INFO.orders"));
  reply(first, stream_info(1));
  CAF_CHECK(gets[0].ok());        // its answer was enough for the first read
  CAF_CHECK(!gets[1].arrived());  // the others began after that call was sent
  auto second = expect_publish("$JS.API.STREAM.INFO.orders");
  CAF_CHECK(!published_to("$JS.API.STREAM.INFO.orders"));
  reply(second, stream_info(2));  // another node wrote sequence 2
  CAF_CHECK(!gets[199].arrived());
  deliver(2, "orders.a-put", js_put("a", "2"));
  for (auto& get : gets) CAF_CHECK(get.ok());
  CAF_CHECK_EQUAL(data_of(gets[199].value().record), json(2));
  CAF_CHECK(!published_to("$JS.API.STREAM.INFO.orders"));
}

CAF_TEST(a consistent read fails rather than answer from a replica that cannot catch up) {
  open();
  auto get = ask<entry>(get_atom::value, std::string("a"), consistent_atom::value);
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(5));
  advance_time(std::chrono::seconds(11));
  sched.run();
  CAF_REQUIRE(get.arrived());
  CAF_CHECK_EQUAL(get.error_code(), errc::timeout);
  CAF_CHECK_NOT_EQUAL(get.error_message().find("sequence 0 of 5"), std::string::npos);
  // Bad patterns fail at once, before JetStream is asked.
  auto bad =
      ask<std::vector<std::string>>(keys_atom::value, std::string("("), consistent_atom::value);
  CAF_CHECK_EQUAL(bad.error_code(), errc::invalid_argument);
}

// The stale read of issue 24: the consumer lagged; k0=old (2) was acknowledged before the read
// began; k0=new (4) replaced it later. Catching up, the replica skips 2 (compaction removed it)
// and passes the read's target 2 at sequence 3 with k0 still at its first value. The read must
// wait until what replaced 2 is applied.
CAF_TEST(a consistent read waits for what replaced the events the replica skipped) {
  open();
  deliver_put(1, "k0", R"("first")");
  auto get = ask<entry>(get_atom::value, std::string("k0"), consistent_atom::value);
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(2));
  deliver_put(3, "x", "3", 1);  // 2 is gone: a gap, and one message pending
  CAF_CHECK_EQUAL(status().applied_sequence, 3u);
  CAF_CHECK_EQUAL(status().consistent_sequence, 1u);
  CAF_CHECK(!get.arrived());  // answering now would return "first"
  deliver_put(4, "k0", R"("new")");
  CAF_REQUIRE(get.ok());
  CAF_CHECK_EQUAL(data_of(get.value().record), json("new"));
  CAF_CHECK_EQUAL(status().consistent_sequence, 4u);
}

// When the consumer never runs dry, a later STREAM.INFO bounds the gap: the read proceeds once
// the replica has passed the stream's end as it was after the gap was seen.
CAF_TEST(gaps the consumer never resolves are bounded by the streams last sequence) {
  open();
  deliver_put(1, "k0", R"("first")");
  auto get = ask<entry>(get_atom::value, std::string("k0"), consistent_atom::value);
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(2));
  deliver_put(3, "x", "3", 5);
  // Only the gap holds the read back: the stream's end is asked again.
  auto bound = expect_publish("$JS.API.STREAM.INFO.orders");
  reply(bound, stream_info(6));
  deliver_put(4, "k0", R"("new")", 4);
  deliver_put(5, "y", "5", 3);
  CAF_CHECK(!get.arrived());
  deliver_put(6, "z", "6", 2);
  CAF_REQUIRE(get.ok());
  CAF_CHECK_EQUAL(data_of(get.value().record), json("new"));
}

// Readiness after a restart has the same trap: ready at the stream's end at open time only once
// nothing skipped before it is still unapplied.
CAF_TEST(a stream is ready only when what replaced skipped events is applied) {
  open(2);  // k0=old at 2, replaced by k0=new at 4 before the consumer got there
  auto ready = ask<ok_atom>(ready_atom::value);
  deliver_put(1, "k0", R"("first")", 2);
  deliver_put(3, "x", "3", 1);
  CAF_CHECK(!ready.arrived());
  CAF_CHECK_EQUAL(ask<entry>(get_atom::value, std::string("k0")).error_code(), errc::not_ready);
  deliver_put(4, "k0", R"("new")");
  CAF_CHECK(ready.ok());
  CAF_CHECK_EQUAL(data_of(ask<entry>(get_atom::value, std::string("k0")).value().record),
                  json("new"));
}

// An idle heartbeat says the consumer delivered everything its server holds: the gaps it left
// are resolved.
CAF_TEST(an idle heartbeat resolves the gaps of its consumer) {
  spawn();
  reply(expect_publish("$JS.API.STREAM.INFO.orders"), stream_info(0));
  grant_consumer("C1");
  auto pull = expect_publish("$JS.API.CONSUMER.MSG.NEXT.orders.C1");
  deliver_put(2, "k0", "2", 3);
  CAF_CHECK_EQUAL(status().consistent_sequence, 0u);
  heartbeat(pull);
  CAF_CHECK_EQUAL(status().consistent_sequence, 2u);
}

CAF_TEST(status reports lag contact and staleness of the replica) {
  open();
  deliver(1, "orders.a-put", js_put("a", "1"));
  auto st = status();
  CAF_CHECK_EQUAL(st.consumer, "C1");
  CAF_CHECK_EQUAL(st.last_contact_ms, 0);
  CAF_CHECK(!st.stale);
  advance_time(std::chrono::milliseconds(1500));
  CAF_CHECK_EQUAL(status().last_contact_ms, 1500);
  // Silence past two heartbeats: the consumer is recreated and the replica is stale.
  advance_time(std::chrono::milliseconds(600));
  sched.run();
  st = status();
  CAF_CHECK(st.stale);
  CAF_CHECK_EQUAL(st.consumer, "");
  auto create = expect_publish("$JS.API.CONSUMER.CREATE.orders");
  CAF_CHECK_EQUAL(field(create.payload, "/config/opt_start_seq"), 2);
  reply(create, R"({"name":"C2"})");
  consumer = "C2";
  consumer_seq = 0;
  // Caught up again: the next delivery says nothing more is pending.
  deliver(2, "orders.b-put", js_put("b", "2"));
  st = status();
  CAF_CHECK(!st.stale);
  CAF_CHECK_EQUAL(st.applied_sequence, 2u);
  CAF_CHECK_EQUAL(st.lag, 0u);
}

CAF_TEST(deleting the stream succeeds when its consumer is told it is gone first) {
  open();
  auto pull = expect_publish("$JS.API.CONSUMER.MSG.NEXT.orders.C1");
  auto dropped = ask<ok_atom>(drop_atom::value);
  auto del = expect_publish("$JS.API.STREAM.DELETE.orders");
  // Newer servers end the pending pulls of a deleted stream's consumer before the delete's
  // reply arrives; recreating the consumer then finds no stream.
  pull_status(pull, 409, "Consumer Deleted");
  if (published_to("$JS.API.CONSUMER.CREATE.orders"))
    reply(expect_publish("$JS.API.CONSUMER.CREATE.orders"),
          R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})");
  CAF_CHECK(!dropped.arrived());
  reply(del, R"({"type":"io.nats.jetstream.api.v1.stream_delete_response","success":true})");
  CAF_CHECK(dropped.ok());
}

CAF_TEST_FIXTURE_SCOPE_END()
