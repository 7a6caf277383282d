// inbound::classify and the inbound queue (actors/inbound.hpp): what a stream actor's inbox
// receives, told apart on the NATS thread, and when the actor is woken.
#define CAF_SUITE inbound
#include "caf/test/unit_test.hpp"

#include "actors/inbound.hpp"

using namespace eventbase;
using namespace eventbase::actors;

namespace {

const std::string kPrefix = "_INBOX.ebW1";

nats::message on(const std::string& subject, const std::string& data = {}) {
  nats::message m;
  m.subject = subject;
  m.data = data;
  return m;
}

}  // namespace

CAF_TEST(replies are told apart by their subject under the inbox) {
  auto ack = classify(on(kPrefix + ".a.17", R"({"seq":3})"), kPrefix, "W");
  CAF_CHECK(ack.what == inbound::kind::pub_ack);
  CAF_CHECK_EQUAL(ack.token, 17u);
  auto reply = classify(on(kPrefix + ".r.5"), kPrefix, "W");
  CAF_CHECK(reply.what == inbound::kind::api_reply);
  CAF_CHECK_EQUAL(reply.token, 5u);
  auto status = classify(on(kPrefix + ".p.3.9"), kPrefix, "W");
  CAF_CHECK(status.what == inbound::kind::pull_status);
  CAF_CHECK_EQUAL(status.generation, 3u);
  CAF_CHECK_EQUAL(status.token, 9u);
  for (std::string bad : {kPrefix + ".a.", kPrefix + ".a.x", kPrefix + ".p.3", kPrefix + ".q.1",
                          kPrefix + ".r.1.2", std::string("_INBOX.other.a.1"), kPrefix + "X.a.1"})
    CAF_CHECK(classify(on(bad), kPrefix, "W").what == inbound::kind::unknown);
}

CAF_TEST(deliveries are events with their sequences and own writes are recognised) {
  auto m = on(kPrefix + ".p.1.1", R"({"type":"PUT","id":"k","data":1,"timestamp":5})");
  m.reply = "$JS.ACK.orders.C1.1.42.7.1733565600123000000.0";
  m.msg_id = "W.12";
  m.all_headers = {{"Nats-Msg-Id", "W.12"}, {"Eventbase-Changes", "4"}};
  auto ev = classify(std::move(m), kPrefix, "W");
  CAF_CHECK(ev.what == inbound::kind::event);
  CAF_CHECK_EQUAL(ev.consumer, "C1");
  CAF_CHECK_EQUAL(ev.stream_seq, 42u);
  CAF_CHECK_EQUAL(ev.consumer_seq, 7u);
  CAF_CHECK_EQUAL(ev.time_ms, 1733565600123);
  CAF_CHECK_EQUAL(ev.own_write, 12u);
  CAF_REQUIRE(ev.event.has_value());
  CAF_CHECK_EQUAL(ev.event->key, "k");
  CAF_CHECK_EQUAL(ev.event->meta.changes, 4u);  // the writer's metadata, from its headers
  // Another writer's id, and a malformed payload, which stays an event with its reason.
  auto other = on(kPrefix + ".p.1.1", "not json");
  other.reply = "$JS.ACK.orders.C1.1.43.8.1733565600123000000.0";
  other.msg_id = "WX.12";
  auto foreign = classify(std::move(other), kPrefix, "W");
  CAF_CHECK(foreign.what == inbound::kind::event);
  CAF_CHECK_EQUAL(foreign.own_write, 0u);
  CAF_CHECK(!foreign.event.has_value());
  CAF_CHECK_EQUAL(foreign.decode_error.code(), errc::corrupt);
}

CAF_TEST(the queue wakes its consumer once per batch and only for urgent items) {
  inbound_queue q;
  inbound ack;
  ack.what = inbound::kind::pub_ack;
  ack.msg.data = R"({"stream":"s","seq":1})";
  CAF_CHECK(!is_urgent(ack));  // a successful acknowledgement waits for its event
  CAF_CHECK(!q.push(ack, is_urgent(ack)));
  inbound failed = ack;
  failed.msg.status = 503;
  CAF_CHECK(is_urgent(failed));
  inbound event;
  event.what = inbound::kind::event;
  CAF_CHECK(q.push(event, is_urgent(event)));   // wakes
  CAF_CHECK(!q.push(event, is_urgent(event)));  // a wake-up is pending already
  CAF_CHECK_EQUAL(q.take().size(), 3u);
  CAF_CHECK(q.push(event, is_urgent(event)));  // taken: the next one wakes again
}

CAF_TEST(a consumer that hands its buffer back gets the next batch in it) {
  handover_queue<int> q;
  std::vector<int> first{9, 9, 9};  // leftovers: taking clears them
  first.reserve(64);
  for (int i = 0; i < 3; ++i) q.push(i);
  std::vector<int> taken;
  q.take(taken);
  CAF_CHECK_EQUAL(taken, std::vector<int>({0, 1, 2}));
  const int* storage = first.data();
  q.take(first);  // nothing queued: `first` comes back empty, its storage stays with the queue
  CAF_CHECK(first.empty());
  CAF_CHECK(q.push(3));  // taken: the next push wakes the consumer again
  q.push(4);
  std::vector<int> second;
  q.take(second);
  CAF_CHECK_EQUAL(second, std::vector<int>({3, 4}));
  CAF_CHECK_EQUAL(second.data(), storage);  // appended into the buffer handed back
}
