// Unit tests of replica_auditor: stall detection (a quiet replica behind the stream while its
// consumer exists: recreate it, with backoff) and divergence detection (the last applied
// message compared with the leader's: rebuild), actors/replica_auditor.hpp.
#define CAF_SUITE replica_auditor
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "actors/component_fixture.hpp"
#include "actors/replica_auditor.hpp"
#include "protocol/base64.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using eventbase::test::field;
using eventbase::test::published;
using std::chrono::milliseconds;

namespace {

using answer_fn = std::function<void(result<uint64_t>)>;

struct fixture : eventbase::test::component_fixture {
  std::vector<answer_fn> asks;  // questions about the stream's end, to answer by hand
  std::vector<std::string> recreated;
  std::vector<std::string> rebuilt;

  replica_auditor::actions actions() {
    replica_auditor::actions act;
    act.ask_stream_last = [this](answer_fn answered) { asks.push_back(std::move(answered)); };
    act.recreate_consumer = [this](const std::string& why) { recreated.push_back(why); };
    act.rebuild = [this](const std::string& why) { rebuilt.push_back(why); };
    return act;
  }

  replica_auditor auditor{{"s", milliseconds(1000)}, api, clock.fn(), actions()};

  // Moves the clock to the next audit and ticks with the replica at `applied`; returns the
  // interval until the audit after it.
  milliseconds audit(uint64_t applied, bool consumer_active) {
    clock.now = auditor.next_wake().value();
    auditor.tick(applied, consumer_active);
    return std::chrono::duration_cast<milliseconds>(auditor.next_wake().value() - clock.now);
  }

  std::vector<published> reads() { return sent_to("$JS.API.STREAM.MSG.GET.s"); }

  // The leader's answer to MSG.GET: the message at `seq`.
  static std::string stored(const std::string& subject, const std::string& payload, uint64_t seq) {
    return R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":")" +
           subject + R"(","seq":)" + std::to_string(seq) + R"(,"data":")" +
           protocol::base64_encode(payload) + R"(","time":"2024-12-07T10:00:00.123Z"}})";
  }

  static constexpr const char* kNoMessage =
      R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,)"
      R"("err_code":10037,"description":"no message found"}})";
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(replica_auditor_tests, fixture)

CAF_TEST(a busy replica is never audited) {
  auto t0 = clock.now;
  CAF_CHECK(auditor.next_wake() == t0 + milliseconds(1000));
  auditor.tick(0, true);  // not due yet
  CAF_CHECK(auditor.next_wake() == t0 + milliseconds(1000));
  for (uint64_t seq = 1; seq <= 10; ++seq) {
    auditor.on_applied(seq, "s.a-put", "payload");
    CAF_CHECK_EQUAL(audit(seq, true), milliseconds(1000));
  }
  CAF_CHECK(asks.empty());
  CAF_CHECK(reads().empty());
  CAF_CHECK_EQUAL(auditor.stalls(), 0u);
}

CAF_TEST(a quiet replica behind the stream with a consumer has it recreated) {
  audit(5, true);  // from 0 to 5: it moved
  CAF_CHECK(asks.empty());
  audit(5, true);  // quiet for an interval
  CAF_REQUIRE_EQUAL(asks.size(), 1u);
  CAF_CHECK(recreated.empty());  // not before the answer
  asks[0](uint64_t{9});
  CAF_REQUIRE_EQUAL(recreated.size(), 1u);
  CAF_CHECK_EQUAL(recreated[0],
                  "the replica is at sequence 5 but the stream at 9, and the "
                  "consumer delivered nothing for 1000 ms (stalled)");
  CAF_CHECK_EQUAL(auditor.stalls(), 1u);
  CAF_CHECK(rebuilt.empty());
  CAF_CHECK(reads().empty());  // nothing applied was reported: nothing to compare
}

CAF_TEST(a quiet replica the stream is not ahead of is left alone) {
  audit(5, true);
  audit(5, true);
  CAF_REQUIRE_EQUAL(asks.size(), 1u);
  asks[0](uint64_t{5});
  CAF_CHECK(recreated.empty());
  CAF_CHECK_EQUAL(auditor.stalls(), 0u);
}

CAF_TEST(no recreation while no consumer exists) {
  audit(5, false);
  audit(5, false);
  audit(5, false);
  CAF_CHECK(asks.empty());  // not even asked
  audit(5, true);
  CAF_CHECK_EQUAL(asks.size(), 1u);
}

CAF_TEST(a replica that moved while the question was out is not stalled) {
  audit(5, true);
  audit(5, true);
  CAF_REQUIRE_EQUAL(asks.size(), 1u);
  audit(6, true);                    // it moved meanwhile
  CAF_CHECK_EQUAL(asks.size(), 1u);  // one question at a time
  asks[0](uint64_t{9});
  CAF_CHECK(recreated.empty());
  // A failed question changes nothing and the next quiet audit asks again.
  audit(6, true);
  CAF_REQUIRE_EQUAL(asks.size(), 2u);
  asks[1](status(errc::timeout, "no reply"));
  CAF_CHECK(recreated.empty());
  audit(6, true);
  CAF_CHECK_EQUAL(asks.size(), 3u);
}

CAF_TEST(the interval doubles while stalls repeat up to sixteen times) {
  audit(5, true);
  std::vector<milliseconds> intervals;
  for (int i = 0; i < 7; ++i) {
    intervals.push_back(audit(5, true));  // set before the answer comes
    CAF_REQUIRE_EQUAL(asks.size(), static_cast<size_t>(i + 1));
    asks.back()(uint64_t{9});
  }
  CAF_CHECK_EQUAL(
      intervals, (std::vector<milliseconds>{
                     milliseconds(1000), milliseconds(2000), milliseconds(4000), milliseconds(8000),
                     milliseconds(16000), milliseconds(16000), milliseconds(16000)}));
  CAF_CHECK_EQUAL(auditor.stalls(), 7u);
  CAF_CHECK_EQUAL(recreated.size(), 7u);
  // The replica moves: its consumer works, the interval is the base one again.
  CAF_CHECK_EQUAL(audit(6, true), milliseconds(1000));
  CAF_CHECK_EQUAL(audit(6, true), milliseconds(1000));
  CAF_CHECK_EQUAL(asks.size(), 8u);
}

CAF_TEST(the interval resets when the stream is found not ahead) {
  audit(5, true);
  audit(5, true);
  asks.back()(uint64_t{9});
  audit(5, true);
  asks.back()(uint64_t{9});
  CAF_CHECK_EQUAL(audit(5, true), milliseconds(4000));
  asks.back()(uint64_t{5});  // caught up: what removed the stream's last messages, say
  CAF_CHECK_EQUAL(auditor.stalls(), 2u);
  CAF_CHECK_EQUAL(audit(5, true), milliseconds(1000));
}

CAF_TEST(the last applied message equal to the one of the leader needs nothing) {
  auditor.on_applied(7, "s.YQ==-put", "payload-7");
  audit(7, false);  // it moved: nothing compared while busy
  CAF_CHECK(reads().empty());
  audit(7, false);  // quiet: compared, consumer or not
  auto get = reads();
  CAF_REQUIRE_EQUAL(get.size(), 1u);
  CAF_CHECK_EQUAL(field(get[0].payload, "/seq"), 7);
  audit(7, false);  // one read at a time
  CAF_CHECK(reads().empty());
  answer(get[0], stored("s.YQ==-put", "payload-7", 7));
  CAF_CHECK(rebuilt.empty());
  audit(7, false);  // once per position the replica rests at
  CAF_CHECK(reads().empty());
  CAF_CHECK_EQUAL(auditor.rebuilds(), 0u);
  // A new position is compared once the replica rests there.
  auditor.on_applied(9, "s.Yg==-put", "payload-9");
  audit(9, false);
  CAF_CHECK(reads().empty());
  audit(9, false);
  auto next = reads();
  CAF_REQUIRE_EQUAL(next.size(), 1u);
  CAF_CHECK_EQUAL(field(next[0].payload, "/seq"), 9);
}

CAF_TEST(a different message at the last applied sequence rebuilds once) {
  auditor.on_applied(8, "s.YQ==-put", "mine");
  audit(8, true);
  audit(8, true);
  auto get = reads();
  CAF_REQUIRE_EQUAL(get.size(), 1u);
  answer(get[0], stored("s.Yg==-put", "theirs", 8));
  CAF_REQUIRE_EQUAL(rebuilt.size(), 1u);
  CAF_CHECK_EQUAL(rebuilt[0],
                  "the message at sequence 8 is not the one this replica applied (the stream's "
                  "leader holds s.Yg==-put): the replica was built from a divergent copy");
  CAF_CHECK_EQUAL(auditor.rebuilds(), 1u);
  audit(8, true);
  audit(8, true);
  CAF_CHECK(reads().empty());
  CAF_CHECK_EQUAL(rebuilt.size(), 1u);
  // The same subject with another payload differs as well.
  auditor.on_applied(10, "s.YQ==-put", "mine");
  audit(10, false);
  audit(10, false);
  answer(reads().at(0), stored("s.YQ==-put", "mine!", 10));
  CAF_CHECK_EQUAL(rebuilt.size(), 2u);
  CAF_CHECK_EQUAL(auditor.rebuilds(), 2u);
}

CAF_TEST(a message no longer stored is no divergence and is not asked for again) {
  auditor.on_applied(4, "s.YQ==-put", "p");
  audit(4, false);
  audit(4, false);
  auto get = reads();
  CAF_REQUIRE_EQUAL(get.size(), 1u);
  answer(get[0], kNoMessage);  // compaction removed it since
  CAF_CHECK(rebuilt.empty());
  audit(4, false);
  audit(4, false);
  CAF_CHECK(reads().empty());
}

CAF_TEST(a read that fails is tried again at the next quiet audit) {
  auditor.on_applied(4, "s.YQ==-put", "p");
  audit(4, false);
  audit(4, false);
  auto get = reads();
  CAF_REQUIRE_EQUAL(get.size(), 1u);
  answer(get[0], R"({"error":{"code":500,"err_code":10999,"description":"boom"}})");
  CAF_CHECK(rebuilt.empty());
  audit(4, false);
  auto again = reads();
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  answer(again[0], stored("s.YQ==-put", "p", 4));
  CAF_CHECK(rebuilt.empty());
  // Older positions reported late do not replace the last one.
  auditor.on_applied(3, "s.YQ==-put", "other");
  audit(4, false);
  CAF_CHECK(reads().empty());
}

CAF_TEST(a reset forgets what was applied) {
  auditor.on_applied(4, "s.YQ==-put", "p");
  auditor.reset();
  audit(0, false);
  audit(0, false);
  CAF_CHECK(reads().empty());  // nothing applied since
  auditor.on_applied(2, "s.YQ==-put", "p");
  audit(2, false);
  audit(2, false);
  CAF_CHECK_EQUAL(reads().size(), 1u);
}

CAF_TEST(an interval of zero disables auditing) {
  replica_auditor off({"s", milliseconds(0)}, api, clock.fn(), actions());
  CAF_CHECK(!off.next_wake());
  off.on_applied(3, "s.YQ==-put", "p");
  for (int i = 0; i < 5; ++i) {
    clock.now += std::chrono::hours(1);
    off.tick(3, true);
  }
  CAF_CHECK(asks.empty());
  CAF_CHECK(reads().empty());
  CAF_CHECK_EQUAL(off.stalls(), 0u);
  CAF_CHECK_EQUAL(off.rebuilds(), 0u);
}

CAF_TEST(the digest separates subject from payload) {
  CAF_CHECK_EQUAL(replica_auditor::digest("s.a", "bc"), replica_auditor::digest("s.a", "bc"));
  CAF_CHECK_NOT_EQUAL(replica_auditor::digest("s.a", "bc"), replica_auditor::digest("s.ab", "c"));
  CAF_CHECK_NOT_EQUAL(replica_auditor::digest("s.a", "bc"), replica_auditor::digest("s.a", "bd"));
}

CAF_TEST_FIXTURE_SCOPE_END()
