// Unit tests of how write_pipeline serializes writes of one key across nodes
// (actors/write_pipeline.hpp): the expectations and metadata a write carries, what it does when
// JetStream refuses it because another write came first, conditional writes and when their
// failure is a conflict, and the erase's bounded purge. A scripted JetStream, a manual clock and
// a real replica; "another node" writes by applying events to the replica directly.
#define CAF_SUITE write_conflicts
#include "caf/test/unit_test.hpp"

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/component_fixture.hpp"
#include "actors/write_pipeline.hpp"
#include "eventbase/write_condition.hpp"
#include "protocol/base64.hpp"
#include "protocol/event.hpp"
#include "protocol/record.hpp"
#include "protocol/timestamp.hpp"
#include "storage/stream_store.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using eventbase::test::field;
using eventbase::test::published;
using json = nlohmann::ordered_json;
using std::chrono::milliseconds;

namespace {

constexpr const char* kSubjectSeq = "Nats-Expected-Last-Subject-Sequence";
constexpr const char* kLastSeq = "Nats-Expected-Last-Sequence";

bool has_header(const published& p, const std::string& name) {
  for (auto& [k, v] : p.headers)
    if (k == name) return true;
  return false;
}

std::string iso(int64_t ms) {
  return protocol::format_iso8601_ms(ms);
}

struct fixture : eventbase::test::component_fixture {
  eventbase::test::pipeline_rig rig{*this};

  // Another node's PUT of `key` applied here at `seq` (JetStream time seq seconds), carrying
  // what that node computed from its replica at `base`.
  std::string theirs_put(const std::string& key, const json& doc, uint64_t seq,
                         protocol::carried_meta carried) {
    auto payload = protocol::encode_put_payload(key, doc.dump(), 1);
    auto ev = protocol::decode_event(payload, protocol::meta_headers(carried)).value();
    storage::apply_batch batch(*rig.store);
    auto record = batch.put(ev, seq, static_cast<int64_t>(seq) * 1000).value();
    CAF_REQUIRE(batch.commit(seq).ok());
    rig.advance(seq);
    return record;
  }

  // Another node's first PUT of `key` (new there).
  std::string theirs_new(const std::string& key, const json& doc, uint64_t seq) {
    return theirs_put(key, doc, seq, protocol::carry_meta(nullptr, 0));
  }

  // Another node's DELETE of `key` applied here at `seq`.
  void theirs_delete(const std::string& key, uint64_t seq) {
    storage::apply_batch batch(*rig.store);
    CAF_REQUIRE(batch.erase(key, seq).ok());
    CAF_REQUIRE(batch.commit(seq).ok());
    rig.advance(seq);
  }

  // JetStream stored this node's write `p` at `seq` and the replica applied it.
  void mine(const published& p, uint64_t seq) {
    rig.writes.on_ack(rig.ack(p, seq));
    auto record = rig.apply(p, seq);
    rig.barrier.check();
    rig.writes.on_applied(rig.token(p), seq, record);
  }

  // JetStream refused `p`: `err_code` with `description`.
  void refuse(const published& p, int err_code, const std::string& description, int code = 400) {
    inbound in;
    in.what = inbound::kind::pub_ack;
    in.token = rig.token(p);
    in.msg = eventbase::test::reply_with(R"({"error":{"code":)" + std::to_string(code) +
                                         R"(,"err_code":)" + std::to_string(err_code) +
                                         R"(,"description":")" + description + R"("}})");
    rig.writes.on_ack(in);
  }

  std::vector<published> questions() { return sent_to("$JS.API.STREAM.INFO.s"); }

  static std::string info(uint64_t last) {
    return R"({"config":{"name":"s","subjects":["s.*"]},"state":{"messages":1,"first_seq":1,)"
           R"("last_seq":)" +
           std::to_string(last) + "}}";
  }

  // The single put of `key` published since the last look.
  published one_put(const std::string& key) {
    auto sent = rig.puts_of(key);
    CAF_REQUIRE_EQUAL(sent.size(), 1u);
    return sent[0];
  }

  std::vector<published> deletes_of(const std::string& key) {
    return sent_to("s." + protocol::base64_encode(key) + "-delete");
  }
};

// Callbacks that keep what they are given.
struct outcomes {
  std::vector<result<std::string>> puts;
  std::vector<result<uint64_t>> erases;

  write_pipeline::put_done put() {
    return [this](result<std::string> r) { puts.push_back(std::move(r)); };
  }
  write_pipeline::erase_done erase() {
    return [this](result<uint64_t> r) { erases.push_back(std::move(r)); };
  }
};

protocol::record_view view_of(const std::string& record) {
  return protocol::decode_record(record).value();
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(write_conflicts_tests, fixture)

// -- what a put carries -------------------------------------------------------------------------

CAF_TEST(a put of a new key expects an empty subject and starts the count) {
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put());
  auto p = one_put("k");
  CAF_CHECK_EQUAL(p.headers, (nats::headers{{"Nats-Msg-Id", "W." + std::to_string(rig.token(p))},
                                            {kSubjectSeq, "0"},
                                            {"Eventbase-Changes", "1"},
                                            {"Eventbase-Base-Revision", "0"}}));
  mine(p, 1);
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  CAF_CHECK_EQUAL(view_of(*done.puts[0]).m.changes, 1u);
}

CAF_TEST(a put of an existing key expects its revision and continues its metadata) {
  theirs_put("k", json("a"), 3, protocol::carried_meta{4, int64_t{1500}, uint64_t{1}});
  outcomes done;
  rig.writes.put("k", R"({"v":2})", done.put());
  auto p = one_put("k");
  CAF_CHECK_EQUAL(p.header(kSubjectSeq), "3");
  CAF_CHECK_EQUAL(p.header("Eventbase-Base-Revision"), "3");
  CAF_CHECK_EQUAL(p.header("Eventbase-Changes"), "5");
  CAF_CHECK_EQUAL(p.header("Eventbase-Date-Created"), iso(1500));
  CAF_CHECK(!has_header(p, kLastSeq));
  mine(p, 4);
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  auto after = view_of(*done.puts[0]);
  CAF_CHECK_EQUAL(after.m.changes, 5u);
  CAF_CHECK_EQUAL(after.m.date_created_ms, 1500);
  CAF_CHECK_EQUAL(after.sequence, 4u);
}

CAF_TEST(a put of a deleted key expects an empty subject and carries the delete as its base) {
  theirs_new("k", json("a"), 2);
  theirs_delete("k", 5);
  outcomes done;
  rig.writes.put("k", R"({"v":3})", done.put());
  auto p = one_put("k");
  CAF_CHECK_EQUAL(p.header(kSubjectSeq), "0");
  CAF_CHECK_EQUAL(p.header("Eventbase-Base-Revision"), "5");
  CAF_CHECK_EQUAL(p.header("Eventbase-Changes"), "1");
  CAF_CHECK(!has_header(p, "Eventbase-Date-Created"));
}

// -- refusals -----------------------------------------------------------------------------------

CAF_TEST(a put refused with the sequence found waits for the replica and is computed anew) {
  theirs_new("k", json("a"), 2);  // created at 2000 ms
  outcomes done;
  rig.writes.put("k", R"({"v":"mine"})", done.put());
  auto first = one_put("k");
  CAF_CHECK_EQUAL(first.header(kSubjectSeq), "2");
  CAF_CHECK_EQUAL(first.header("Eventbase-Changes"), "2");
  // Another node's write of the key came first, at 4.
  refuse(first, 10071, "wrong last sequence: 4");
  CAF_CHECK(rig.puts_of("k").empty());  // not before the replica holds it
  CAF_CHECK(questions().empty());       // the sequence says how far: no STREAM.INFO
  CAF_CHECK(done.puts.empty());
  theirs_new("unrelated", json(0), 3);
  CAF_CHECK(rig.puts_of("k").empty());
  theirs_put("k", json("b"), 4, protocol::carried_meta{2, int64_t{2000}, uint64_t{2}});
  auto second = one_put("k");
  CAF_CHECK_NOT_EQUAL(second.header("Nats-Msg-Id"), first.header("Nats-Msg-Id"));
  CAF_CHECK_NOT_EQUAL(rig.token(second), rig.token(first));
  CAF_CHECK_EQUAL(second.header(kSubjectSeq), "4");
  CAF_CHECK_EQUAL(second.header("Eventbase-Base-Revision"), "4");
  CAF_CHECK_EQUAL(second.header("Eventbase-Changes"), "3");  // the other node's write counts
  CAF_CHECK_EQUAL(second.header("Eventbase-Date-Created"), iso(2000));
  CAF_CHECK_EQUAL(std::string(protocol::put_payload_document(second.payload)), R"({"v":"mine"})");
  CAF_CHECK(done.puts.empty());
  mine(second, 5);
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  CAF_REQUIRE(done.puts[0].ok());
  auto after = view_of(*done.puts[0]);
  CAF_CHECK_EQUAL(after.m.changes, 3u);
  CAF_CHECK_EQUAL(after.sequence, 5u);
  CAF_CHECK_EQUAL(protocol::decode_document(after.data_msgpack).value(), json({{"v", "mine"}}));
  CAF_CHECK(rig.writes.empty());
}

CAF_TEST(a put refused with a sequence the replica holds already is published again at once) {
  theirs_new("k", json("a"), 2);
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put());
  auto first = one_put("k");
  theirs_put("k", json("b"), 3, protocol::carried_meta{2, int64_t{2000}, uint64_t{2}});
  refuse(first, 10071, "wrong last sequence: 3");
  auto second = one_put("k");
  CAF_CHECK_EQUAL(second.header(kSubjectSeq), "3");
  CAF_CHECK_EQUAL(second.header("Eventbase-Changes"), "3");
  CAF_CHECK_NOT_EQUAL(second.header("Nats-Msg-Id"), first.header("Nats-Msg-Id"));
}

CAF_TEST(a refusal that says the subject is empty waits for a consistent read) {
  theirs_new("k", json("a"), 2);
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put());
  auto first = one_put("k");
  CAF_CHECK_EQUAL(first.header(kSubjectSeq), "2");
  // Another node deleted the key and purged its PUTs: the subject is empty.
  refuse(first, 10071, "wrong last sequence: 0");
  auto asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  CAF_CHECK(rig.puts_of("k").empty());
  answer(asked[0], info(3));
  CAF_CHECK(rig.puts_of("k").empty());  // the replica is at 2
  theirs_delete("k", 3);
  auto second = one_put("k");
  CAF_CHECK_NOT_EQUAL(second.header("Nats-Msg-Id"), first.header("Nats-Msg-Id"));
  CAF_CHECK_EQUAL(second.header(kSubjectSeq), "0");
  CAF_CHECK_EQUAL(second.header("Eventbase-Base-Revision"), "3");
  CAF_CHECK_EQUAL(second.header("Eventbase-Changes"), "1");  // the key starts anew
  CAF_CHECK(!has_header(second, "Eventbase-Date-Created"));
  mine(second, 4);
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  CAF_CHECK(done.puts[0].ok());
}

CAF_TEST(a refusal without a sequence waits for a consistent read) {
  theirs_new("k", json("a"), 2);
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put());
  auto first = one_put("k");
  refuse(first, 10164, "wrong last sequence", 503);  // nats-server 2.11, a concurrent write
  auto asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  CAF_CHECK(rig.puts_of("k").empty());
  answer(asked[0], info(2));  // nothing more was written: the replica is current
  auto second = one_put("k");
  CAF_CHECK_NOT_EQUAL(second.header("Nats-Msg-Id"), first.header("Nats-Msg-Id"));
  CAF_CHECK_EQUAL(second.header(kSubjectSeq), "2");
  CAF_CHECK_EQUAL(second.header("Eventbase-Changes"), "2");
  CAF_CHECK(done.puts.empty());
}

CAF_TEST(a write waiting for the replica times out saying another write came first) {
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put());
  auto first = one_put("k");
  clock.now += milliseconds(500);
  rig.writes.put("k", R"({"v":2})", done.put());   // queued behind it
  refuse(first, 10071, "wrong last sequence: 9");  // the replica never gets there
  clock.now += milliseconds(499);
  rig.writes.expire();
  CAF_CHECK(done.puts.empty());
  clock.now += milliseconds(1);  // the write's deadline, before the barrier's wait's
  rig.writes.expire();
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  status why = done.puts[0].error();
  CAF_CHECK_EQUAL(why.code(), errc::timeout);
  CAF_CHECK_EQUAL(why.message(),
                  "the write waited for this node's replica to catch up with the stream (to judge "
                  "its condition, or after another write came first), and it did not in time; 1 "
                  "attempt(s) within 1000 ms; it may still be applied later");
  // The key's next write goes.
  auto next = one_put("k");
  CAF_CHECK_NOT_EQUAL(next.payload.find(R"("data":{"v":2})"), std::string::npos);
  // The barrier's wait ends later and finds the write gone.
  clock.now += milliseconds(500);
  rig.barrier.check();
  CAF_CHECK_EQUAL(done.puts.size(), 1u);
  CAF_CHECK(rig.puts_of("k").empty());
}

// -- conditional writes -------------------------------------------------------------------------

CAF_TEST(a conditional put expects the stream to end where the replica applied) {
  theirs_new("a", json(1), 1);
  theirs_new("b", json(2), 2);
  theirs_new("c", json(3), 3);
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put(), document_form::json, write_condition::if_absent());
  auto absent = one_put("k");
  CAF_CHECK_EQUAL(absent.header(kLastSeq), "3");
  CAF_CHECK(!has_header(absent, kSubjectSeq));
  CAF_CHECK_EQUAL(absent.header("Eventbase-Changes"), "1");
  CAF_CHECK_EQUAL(absent.header("Eventbase-Base-Revision"), "0");
  CAF_CHECK(questions().empty());  // the condition held: no consistent wait
  mine(absent, 4);
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  CAF_CHECK(done.puts[0].ok());
  theirs_new("d", json(4), 5);
  rig.writes.put("k", R"({"v":2})", done.put(), document_form::json,
                 write_condition::if_revision(4));
  auto revision = one_put("k");
  CAF_CHECK_EQUAL(revision.header(kLastSeq), "5");
  CAF_CHECK(!has_header(revision, kSubjectSeq));
  CAF_CHECK_EQUAL(revision.header("Eventbase-Changes"), "2");
  CAF_CHECK_EQUAL(revision.header("Eventbase-Base-Revision"), "4");
  mine(revision, 6);
  CAF_REQUIRE_EQUAL(done.puts.size(), 2u);
  CAF_CHECK(done.puts[1].ok());
}

CAF_TEST(a deleted key is absent for a conditional put) {
  theirs_new("k", json(1), 1);
  theirs_delete("k", 2);
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put(), document_form::json, write_condition::if_absent());
  auto p = one_put("k");
  CAF_CHECK_EQUAL(p.header(kLastSeq), "2");
  CAF_CHECK_EQUAL(p.header("Eventbase-Base-Revision"), "2");
  CAF_CHECK(questions().empty());
}

CAF_TEST(a failing condition is a conflict only after a consistent wait) {
  struct failing {
    write_condition condition;
    std::string key;
    std::string message;
  };
  theirs_new("k", json(1), 1);
  theirs_new("k2", json(2), 2);
  theirs_new("gone", json(3), 3);
  theirs_delete("gone", 4);
  std::vector<failing> cases{
      {write_condition::if_absent(), "k", "key 'k' exists (revision 1)"},
      {write_condition::if_revision(7), "k2", "key 'k2' is at revision 2, not 7"},
      {write_condition::if_revision(5), "new", "key 'new' does not exist (expected revision 5)"},
      {write_condition::if_revision(4), "gone", "key 'gone' does not exist (expected revision 4)"},
  };
  for (auto& c : cases) {
    CAF_MESSAGE(c.message);
    outcomes done;
    rig.writes.put(c.key, R"({"v":1})", done.put(), document_form::json, c.condition);
    CAF_CHECK(done.puts.empty());  // judged on a replica that may be behind: not yet
    CAF_CHECK(rig.puts_of(c.key).empty());
    auto asked = questions();
    CAF_REQUIRE_EQUAL(asked.size(), 1u);
    answer(asked[0], info(4));  // the replica is current
    CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
    status why = done.puts[0].error();
    CAF_CHECK_EQUAL(why.code(), errc::conflict);
    CAF_CHECK_EQUAL(why.message(), c.message);
    CAF_CHECK(rig.puts_of(c.key).empty());  // nothing was written
  }
  // An erase's condition likewise.
  outcomes done;
  rig.writes.erase("k", done.erase(), write_condition::if_revision(9));
  CAF_CHECK(done.erases.empty());
  answer(questions().at(0), info(4));
  CAF_REQUIRE_EQUAL(done.erases.size(), 1u);
  status why = done.erases[0].error();
  CAF_CHECK_EQUAL(why.code(), errc::conflict);
  CAF_CHECK_EQUAL(why.message(), "key 'k' is at revision 1, not 9");
  CAF_CHECK(deletes_of("k").empty());
  CAF_CHECK(rig.writes.empty());
}

CAF_TEST(a condition that fails on a replica behind holds once it caught up) {
  theirs_new("k", json(1), 2);
  outcomes done;
  rig.writes.put("k", R"({"v":"cas"})", done.put(), document_form::json,
                 write_condition::if_revision(4));
  auto asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  answer(asked[0], info(4));
  CAF_CHECK(done.puts.empty());  // the replica is at 2 of 4
  CAF_CHECK(rig.puts_of("k").empty());
  theirs_new("x", json(0), 3);
  theirs_put("k", json(2), 4, protocol::carried_meta{2, int64_t{2000}, uint64_t{2}});
  auto p = one_put("k");
  CAF_CHECK_EQUAL(p.header(kLastSeq), "4");
  CAF_CHECK_EQUAL(p.header("Eventbase-Changes"), "3");
  mine(p, 5);
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  CAF_CHECK(done.puts[0].ok());
}

CAF_TEST(a conditional put refused because the stream moved is judged again) {
  theirs_new("k", json(1), 2);
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put(), document_form::json,
                 write_condition::if_revision(2));
  auto first = one_put("k");
  CAF_CHECK_EQUAL(first.header(kLastSeq), "2");
  refuse(first, 10071, "wrong last sequence: 3");  // something else was written, at 3
  CAF_CHECK(rig.puts_of("k").empty());
  theirs_new("other", json(0), 3);  // not the key: the condition still holds
  // A refusal may come from a leader that was replaced while paused: the condition is judged
  // again once the replica holds the stream's end, as a consistent read learns it.
  CAF_CHECK(rig.puts_of("k").empty());
  auto asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  answer(asked[0], info(3));
  auto second = one_put("k");
  CAF_CHECK_NOT_EQUAL(second.header("Nats-Msg-Id"), first.header("Nats-Msg-Id"));
  CAF_CHECK_EQUAL(second.header(kLastSeq), "3");
  mine(second, 4);
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  CAF_CHECK(done.puts[0].ok());
}

CAF_TEST(a conditional put refused because the key changed is a conflict once current) {
  theirs_new("k", json(1), 2);
  outcomes done;
  rig.writes.put("k", R"({"v":1})", done.put(), document_form::json,
                 write_condition::if_revision(2));
  auto first = one_put("k");
  refuse(first, 10071, "wrong last sequence: 3");
  theirs_put("k", json(2), 3, protocol::carried_meta{2, int64_t{2000}, uint64_t{2}});
  auto asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  answer(asked[0], info(3));
  CAF_REQUIRE_EQUAL(done.puts.size(), 1u);
  status why = done.puts[0].error();
  CAF_CHECK_EQUAL(why.code(), errc::conflict);
  CAF_CHECK_EQUAL(why.message(), "key 'k' is at revision 3, not 2");
  CAF_CHECK(rig.puts_of("k").empty());
  // Likewise for a put that expected the key absent.
  outcomes absent;
  rig.writes.put("n", R"({"v":1})", absent.put(), document_form::json,
                 write_condition::if_absent());
  auto p = one_put("n");
  CAF_CHECK_EQUAL(p.header(kLastSeq), "3");
  refuse(p, 10071, "wrong last sequence: 4");
  theirs_new("n", json(1), 4);
  asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  answer(asked[0], info(4));
  CAF_REQUIRE_EQUAL(absent.puts.size(), 1u);
  why = absent.puts[0].error();
  CAF_CHECK_EQUAL(why.code(), errc::conflict);
  CAF_CHECK_EQUAL(why.message(), "key 'n' exists (revision 4)");
}

// -- erases -------------------------------------------------------------------------------------

CAF_TEST(an erase cannot expect the key absent) {
  outcomes done;
  rig.writes.erase("k", done.erase(), write_condition::if_absent());
  CAF_REQUIRE_EQUAL(done.erases.size(), 1u);
  status why = done.erases[0].error();
  CAF_CHECK_EQUAL(why.code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(why.message(), "a delete's condition can only be a revision (--if-revision)");
  CAF_CHECK(deletes_of("k").empty());
  CAF_CHECK(rig.writes.empty());
}

CAF_TEST(an erase purges only the puts before its delete) {
  theirs_new("k", json(1), 1);
  theirs_new("other", json(1), 2);
  outcomes done;
  rig.writes.erase("k", done.erase());
  auto sent = deletes_of("k");
  CAF_REQUIRE_EQUAL(sent.size(), 1u);
  // A delete carries no expectation: deleting twice deletes.
  CAF_CHECK_EQUAL(sent[0].headers,
                  (nats::headers{{"Nats-Msg-Id", "W." + std::to_string(rig.token(sent[0]))}}));
  mine(sent[0], 3);
  CAF_CHECK_EQUAL(rig.store->tombstone("k").value().value_or(0), 3u);
  auto purge = sent_to("$JS.API.STREAM.PURGE.s");
  CAF_REQUIRE_EQUAL(purge.size(), 1u);
  CAF_CHECK_EQUAL(json::parse(purge[0].payload),
                  json({{"filter", "s." + protocol::base64_encode("k") + "-put"}, {"seq", 3}}));
  CAF_CHECK(done.erases.empty());
  answer(purge[0], R"({"success":true,"purged":1})");
  CAF_REQUIRE_EQUAL(done.erases.size(), 1u);
  CAF_CHECK_EQUAL(done.erases[0].value(), 1u);
}

CAF_TEST(a conditional erase expects the stream to end where the replica applied) {
  theirs_new("k", json(1), 1);
  theirs_new("other", json(1), 2);
  outcomes done;
  rig.writes.erase("k", done.erase(), write_condition::if_revision(1));
  auto sent = deletes_of("k");
  CAF_REQUIRE_EQUAL(sent.size(), 1u);
  CAF_CHECK_EQUAL(sent[0].header(kLastSeq), "2");
  mine(sent[0], 3);
  auto purge = sent_to("$JS.API.STREAM.PURGE.s");
  CAF_REQUIRE_EQUAL(purge.size(), 1u);
  CAF_CHECK_EQUAL(field(purge[0].payload, "/seq"), 3);
}

CAF_TEST_FIXTURE_SCOPE_END()
