// Unit tests of read_barrier: consistent reads through STREAM.INFO, waits for the replica's
// consistent sequence, and the extra question asked when only open gaps hold a wait back
// (actors/read_barrier.hpp), with a scripted JetStream and a manual clock.
#define CAF_SUITE read_barrier
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "actors/component_fixture.hpp"
#include "actors/read_barrier.hpp"
#include "actors/replica_horizon.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using eventbase::test::published;
using std::chrono::milliseconds;

namespace {

struct fixture : eventbase::test::component_fixture {
  replica_horizon horizon{0};
  std::vector<uint64_t> told;  // every stream last sequence the barrier learnt
  std::string behind;          // what the owner says about why the replica may be behind
  read_barrier barrier{{"s", milliseconds(2000)},
                       api,
                       horizon,
                       clock.fn(),
                       [this](uint64_t last, uint64_t) { told.push_back(last); },
                       [this] { return behind; }};

  // The replica applied `seq`, delivered by consumer 1 with `pending` after it.
  void feed(uint64_t seq, uint64_t pending = 10) {
    horizon.on_delivery(seq, pending, 1);
    horizon.on_applied(seq);
    barrier.check();
  }

  void feed_through(uint64_t last) {
    for (uint64_t seq = horizon.applied() + 1; seq <= last; ++seq) feed(seq);
  }

  std::vector<published> questions() { return sent_to("$JS.API.STREAM.INFO.s"); }

  // JetStream's answer to STREAM.INFO for a stream whose last sequence is `last`.
  static std::string info(uint64_t last) {
    return R"({"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"s",)"
           R"("subjects":["s.*"],"max_msgs_per_subject":1},"state":{"messages":)" +
           std::to_string(last) + R"(,"first_seq":1,"last_seq":)" + std::to_string(last) + "}}";
  }

  static read_barrier::proceed note(std::vector<status>& into) {
    return [&into](const status& st) { into.push_back(st); };
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(read_barrier_tests, fixture)

CAF_TEST(a consistent read proceeds once the replica reaches the last sequence of the stream) {
  feed_through(3);
  std::vector<status> done;
  barrier.await_consistency(note(done));
  auto asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  CAF_CHECK_EQUAL(asked[0].payload, "");
  CAF_CHECK(!barrier.empty());
  CAF_CHECK(done.empty());  // not before JetStream told where the stream ends
  answer(asked[0], info(5));
  CAF_CHECK_EQUAL(told, std::vector<uint64_t>{5});
  CAF_CHECK(done.empty());
  feed(4);
  CAF_CHECK(done.empty());
  feed(5);
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK(done[0].ok());
  CAF_CHECK(barrier.empty());
  CAF_CHECK(!barrier.next_wake());
  CAF_CHECK(questions().empty());
}

CAF_TEST(a consistent read of a replica already there proceeds with the answer) {
  feed_through(5);
  std::vector<status> done;
  barrier.await_consistency(note(done));
  auto asked = questions();
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  CAF_CHECK(done.empty());  // even so, the answer is needed
  answer(asked[0], info(5));
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK(done[0].ok());
  CAF_CHECK(barrier.empty());
}

CAF_TEST(reads that begin while a question is in flight wait for the next one) {
  feed_through(5);
  std::vector<status> first, later;
  barrier.await_consistency(note(first));
  auto q1 = questions();
  CAF_REQUIRE_EQUAL(q1.size(), 1u);
  barrier.await_consistency(note(later));
  barrier.await_consistency(note(later));
  CAF_CHECK(questions().empty());  // one question at a time
  // The answer was asked before the later reads began: it could miss writes they must see.
  answer(q1[0], info(5));
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK(first[0].ok());
  CAF_CHECK(later.empty());
  auto q2 = questions();
  CAF_REQUIRE_EQUAL(q2.size(), 1u);  // asked as soon as the first returned
  answer(q2[0], info(7));
  CAF_CHECK(later.empty());
  feed_through(7);
  CAF_REQUIRE_EQUAL(later.size(), 2u);
  CAF_CHECK(later[0].ok() && later[1].ok());
  CAF_CHECK(questions().empty());  // a burst costs two questions
  CAF_CHECK_EQUAL(told, (std::vector<uint64_t>{5, 7}));
}

CAF_TEST(a read begun by a completion waits for a question asked after it) {
  feed_through(5);
  std::vector<status> inner;
  std::vector<status> outer;
  barrier.await_consistency([&](const status& st) {
    outer.push_back(st);
    barrier.await_consistency(note(inner));
  });
  barrier.await_consistency(note(outer));  // waits for the second question
  auto q1 = questions();
  answer(q1[0], info(5));
  CAF_CHECK_EQUAL(outer.size(), 1u);
  auto q2 = questions();
  CAF_REQUIRE_EQUAL(q2.size(), 1u);  // for the second read; the inner one began after it
  answer(q2[0], info(5));
  CAF_CHECK_EQUAL(outer.size(), 2u);
  CAF_CHECK(inner.empty());
  auto q3 = questions();
  CAF_REQUIRE_EQUAL(q3.size(), 1u);
  answer(q3[0], info(5));
  CAF_REQUIRE_EQUAL(inner.size(), 1u);
  CAF_CHECK(inner[0].ok());
}

CAF_TEST(a stream info that cannot be had fails the reads waiting for it) {
  feed_through(2);
  std::vector<status> failed, began_later;
  barrier.await_consistency(note(failed));
  auto q1 = questions();
  CAF_REQUIRE_EQUAL(q1.size(), 1u);
  barrier.await_consistency(note(began_later));
  barrier.await_consistency(note(began_later));
  // No JetStream server answers until the call's deadline (retried meanwhile).
  for (auto p = q1;; p = questions()) {
    CAF_REQUIRE_EQUAL(p.size(), 1u);
    answer(p[0], "", 503);
    if (!failed.empty()) break;
    clock.now = std::max(clock.now, api.next_wake().value());
    api.expire();  // the retry
  }
  CAF_REQUIRE_EQUAL(failed.size(), 1u);
  CAF_CHECK_EQUAL(failed[0].code(), errc::unavailable);
  CAF_CHECK_EQUAL(failed[0].message().rfind("consistent read of 's': cannot learn the stream's "
                                            "last sequence: no JetStream server answered "
                                            "$JS.API.STREAM.INFO.s (no responders",
                                            0),
                  0u);
  CAF_CHECK(told.empty());
  // The reads that began meanwhile are not failed by an answer they were not waiting for.
  CAF_CHECK(began_later.empty());
  auto q2 = questions();
  CAF_REQUIRE_EQUAL(q2.size(), 1u);
  answer(q2[0], info(2));
  CAF_REQUIRE_EQUAL(began_later.size(), 2u);
  CAF_CHECK(began_later[0].ok() && began_later[1].ok());
}

CAF_TEST(a stream info that is never answered fails the read with a timeout) {
  std::vector<status> failed;
  barrier.await_consistency(note(failed));
  CAF_REQUIRE_EQUAL(questions().size(), 1u);
  clock.now += milliseconds(1000);  // the call's deadline, before the barrier's (2 s)
  api.expire();
  CAF_REQUIRE_EQUAL(failed.size(), 1u);
  CAF_CHECK_EQUAL(failed[0].code(), errc::timeout);
  CAF_CHECK_EQUAL(failed[0].message(),
                  "consistent read of 's': cannot learn the stream's last sequence: no reply from "
                  "JetStream to $JS.API.STREAM.INFO.s within 1000 ms");
  CAF_CHECK(barrier.empty());
}

CAF_TEST(an error answer fails the read with the description of jetstream) {
  std::vector<status> failed;
  barrier.await_consistency(note(failed));
  auto q = questions();
  answer(q[0],
         R"({"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}})");
  CAF_REQUIRE_EQUAL(failed.size(), 1u);
  CAF_CHECK_EQUAL(failed[0].code(), errc::unavailable);
  CAF_CHECK_EQUAL(failed[0].message(),
                  "consistent read of 's': cannot learn the stream's last sequence: JetStream: "
                  "maximum messages exceeded (code 503, err_code 10077)");
}

CAF_TEST(a read past its deadline fails naming the sequences) {
  feed_through(3);
  auto t0 = clock.now;
  std::vector<status> failed;
  barrier.await_consistency(note(failed));
  CAF_CHECK(barrier.next_wake() == t0 + milliseconds(2000));
  answer(questions()[0], info(9));
  clock.now = t0 + milliseconds(1999);
  barrier.check();
  CAF_CHECK(failed.empty());
  clock.now = t0 + milliseconds(2000);
  barrier.check();
  CAF_REQUIRE_EQUAL(failed.size(), 1u);
  CAF_CHECK_EQUAL(failed[0].code(), errc::timeout);
  CAF_CHECK_EQUAL(failed[0].message(),
                  "consistent read of 's': the replica reached sequence 3 of 9 within 2000 ms");
  CAF_CHECK(barrier.empty());
  CAF_CHECK(!barrier.next_wake());
}

CAF_TEST(a timeout says when the replica skipped events and why it may be behind) {
  feed(1);
  feed(2);
  feed(5);  // 3 and 4 skipped: applied 5, consistent 2
  CAF_REQUIRE_EQUAL(horizon.consistent(), 2u);
  auto t0 = clock.now;
  std::vector<status> failed;
  barrier.await_sequence(9, "a write of 's' waiting for the replica", note(failed));
  CAF_CHECK(questions().empty());  // applied is below 9: the gap is not what holds it back
  behind = "its consumer is being recreated";
  clock.now = t0 + milliseconds(2000);
  barrier.check();
  CAF_REQUIRE_EQUAL(failed.size(), 1u);
  CAF_CHECK_EQUAL(failed[0].code(), errc::timeout);
  CAF_CHECK_EQUAL(failed[0].message(),
                  "a write of 's' waiting for the replica: the replica reached sequence 2 of 9 "
                  "within 2000 ms (it applied up to 5 but has not yet seen what replaced events "
                  "it skipped) (its consumer is being recreated)");
}

CAF_TEST(a read without an answer by its deadline says jetstream did not tell) {
  std::vector<status> failed;
  barrier.await_consistency(note(failed));
  auto q = questions();
  clock.now += milliseconds(2000);
  barrier.check();
  CAF_REQUIRE_EQUAL(failed.size(), 1u);
  CAF_CHECK_EQUAL(failed[0].code(), errc::timeout);
  CAF_CHECK_EQUAL(failed[0].message(),
                  "consistent read of 's': JetStream did not tell the stream's last sequence "
                  "within 2000 ms");
  // Its late answer finds nothing to do.
  answer(q[0], info(1));
  CAF_CHECK_EQUAL(failed.size(), 1u);
  CAF_CHECK(barrier.empty());
}

CAF_TEST(waiting for a sequence already reached proceeds at once) {
  feed_through(5);
  std::vector<status> done;
  barrier.await_sequence(5, "w", note(done));
  barrier.await_sequence(3, "w", note(done));
  CAF_REQUIRE_EQUAL(done.size(), 2u);
  CAF_CHECK(done[0].ok() && done[1].ok());
  CAF_CHECK(barrier.empty());
  CAF_CHECK(questions().empty());
  barrier.await_sequence(7, "w", note(done));
  CAF_CHECK_EQUAL(done.size(), 2u);
  CAF_CHECK(!barrier.empty());
  feed(6);
  CAF_CHECK_EQUAL(done.size(), 2u);
  feed(7);
  CAF_REQUIRE_EQUAL(done.size(), 3u);
  CAF_CHECK(done[2].ok());
  CAF_CHECK(questions().empty());  // no gap: nothing to ask JetStream
}

CAF_TEST(check asks only when applied passed the target and an unbounded gap holds it back) {
  feed(1);
  feed(2);
  feed(5);  // gap at 2: applied 5, consistent 2
  CAF_REQUIRE(horizon.wants_stream_last());
  barrier.check(6);  // applied is below the target: the consumer still has to deliver
  CAF_CHECK(questions().empty());
  barrier.check(2);  // reached
  CAF_CHECK(questions().empty());
  barrier.check();  // nothing waits
  CAF_CHECK(questions().empty());
  barrier.check(5);  // only the gap holds 5 back
  auto q = questions();
  CAF_REQUIRE_EQUAL(q.size(), 1u);
  barrier.check(5);  // not while one is in flight
  barrier.check(3);
  CAF_CHECK(questions().empty());
  answer(q[0], info(5));  // asked after the gap was seen: bounds it at 5, which is applied
  CAF_CHECK_EQUAL(horizon.consistent(), 5u);
  barrier.check(5);
  CAF_CHECK(questions().empty());
  // A gap with a bound the replica has not reached yet: another question would not help.
  feed(7);  // gap at 5
  barrier.check(7);
  auto q2 = questions();
  CAF_REQUIRE_EQUAL(q2.size(), 1u);
  answer(q2[0], info(9));  // bound 9, applied 7
  CAF_CHECK_EQUAL(horizon.consistent(), 5u);
  CAF_CHECK(!horizon.wants_stream_last());
  barrier.check(7);
  CAF_CHECK(questions().empty());
  // A new unbounded gap: asked again.
  feed(8);
  feed(10);  // gap at 8
  barrier.check(10);
  auto q3 = questions();
  CAF_REQUIRE_EQUAL(q3.size(), 1u);
  answer(q3[0], info(10));
  CAF_CHECK_EQUAL(horizon.consistent(), 10u);
  CAF_CHECK_EQUAL(told, (std::vector<uint64_t>{5, 9, 10}));
}

CAF_TEST(a wait of its own held back only by a gap asks where the stream ends) {
  feed(1);
  feed(4);  // gap at 1: applied 4, consistent 1
  std::vector<status> done;
  barrier.await_sequence(4, "w", note(done));
  auto q = questions();
  CAF_REQUIRE_EQUAL(q.size(), 1u);
  CAF_CHECK(done.empty());
  barrier.check();  // in flight: not again
  CAF_CHECK(questions().empty());
  answer(q[0], info(4));
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK(done[0].ok());
  // The lowest of its own targets and the caller's counts.
  feed(6);  // gap at 4: applied 6, consistent 4
  barrier.await_sequence(9, "w", note(done));
  CAF_CHECK(questions().empty());  // 9 is beyond what was applied
  barrier.check(6);
  CAF_CHECK_EQUAL(questions().size(), 1u);
}

CAF_TEST(ask hands the answer to every caller of the question in flight) {
  std::vector<result<uint64_t>> answers;
  auto keep = [&](result<uint64_t> r) { answers.push_back(std::move(r)); };
  barrier.ask(keep);
  barrier.ask(keep);
  auto q = questions();
  CAF_REQUIRE_EQUAL(q.size(), 1u);
  answer(q[0], info(12));
  CAF_REQUIRE_EQUAL(answers.size(), 2u);
  CAF_CHECK_EQUAL(answers[0].value(), 12u);
  CAF_CHECK_EQUAL(answers[1].value(), 12u);
  CAF_CHECK_EQUAL(told, std::vector<uint64_t>{12});
  barrier.ask(keep);
  answer(questions()[0],
         R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})");
  CAF_REQUIRE_EQUAL(answers.size(), 3u);
  CAF_REQUIRE(!answers[2].ok());
  status why = answers[2].error();
  CAF_CHECK_EQUAL(why.code(), errc::not_found);
  CAF_CHECK(barrier.empty());
}

CAF_TEST(fail all ends every wait with the reason) {
  feed_through(3);
  std::vector<status> ended;
  barrier.await_consistency(note(ended));       // waiting for an answer
  barrier.await_consistency(note(ended));       // waiting for the next question
  barrier.await_sequence(9, "w", note(ended));  // waiting for the replica
  auto q1 = questions();
  CAF_REQUIRE_EQUAL(q1.size(), 1u);
  barrier.fail_all(status(errc::closed, "stream 's' is closing"));
  CAF_REQUIRE_EQUAL(ended.size(), 3u);
  for (auto& st : ended) {
    CAF_CHECK_EQUAL(st.code(), errc::closed);
    CAF_CHECK_EQUAL(st.message(), "stream 's' is closing");
  }
  CAF_CHECK(barrier.empty());
  CAF_CHECK(!barrier.next_wake());
  // The answer in flight ends nothing again and asks for no read that ended.
  answer(q1[0], info(3));
  CAF_CHECK_EQUAL(ended.size(), 3u);
  CAF_CHECK(questions().empty());
  // The barrier goes on working.
  std::vector<status> after;
  barrier.await_consistency(note(after));
  answer(questions()[0], info(3));
  CAF_REQUIRE_EQUAL(after.size(), 1u);
  CAF_CHECK(after[0].ok());
}

CAF_TEST_FIXTURE_SCOPE_END()
