// Unit tests of batch_writer (actors/batch_writer.hpp): what an atomic batch publishes, when it
// completes, and the paths a real server rarely shows: a lost commit acknowledgement (the copy
// is refused and the first one completes the batch, applied once), a refusal because another
// write came first (computed again from the replica), a condition judged on a current replica,
// a stream that does not allow atomic batches yet, and servers without them. A scripted
// JetStream, a manual clock and a real replica.
#define CAF_SUITE batch_writer
#include "caf/test/unit_test.hpp"

#include "actors/batch_writer.hpp"
#include "actors/component_fixture.hpp"
#include "nats/server_settings.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using eventbase::test::published;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kLastSeq = "Nats-Expected-Last-Sequence";

struct fixture : eventbase::test::component_fixture {
  eventbase::test::pipeline_rig rig{*this};
  batch_writer batches{
      batch_writer::settings{"s", "W", "_INBOX.t.b.", std::chrono::milliseconds(10000)},
      *js,
      api,
      *rig.store,
      clock.fn(),
      rig.view()};
  std::vector<result<batch_result>> done;

  fixture() { js->release = nats::server_version{2, 15, 1}; }

  batch_writer::done_fn keep() {
    return [this](result<batch_result> r) { done.push_back(std::move(r)); };
  }

  // The messages of the batch published since the last look, in order.
  std::vector<published> batch_messages() {
    for (auto& p : js->take()) log.push_back(std::move(p));
    std::vector<published> out;
    for (auto it = log.begin(); it != log.end();) {
      if (!it->header("Nats-Batch-Id").empty()) {
        out.push_back(std::move(*it));
        it = log.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  void answer_commit(const published& commit, const std::string& body) {
    inbound in;
    in.what = inbound::kind::batch_ack;
    in.token = eventbase::test::token_of(commit, "_INBOX.t.b.");
    in.msg = eventbase::test::reply_with(body);
    batches.on_ack(in);
  }

  // The replica applies the batch `messages` from `first_seq` on, as the stream actor would.
  void apply(const std::vector<published>& messages, uint64_t first_seq) {
    for (size_t i = 0; i < messages.size(); ++i) rig.apply(messages[i], first_seq + i);
    uint64_t last = first_seq + messages.size() - 1;
    // In the stream actor's order: the batch is told before waiters for the replica are.
    batches.on_applied(messages.back().header("Nats-Batch-Id"), last);
    rig.barrier.check();
  }

  static std::string info(uint64_t last) {
    return R"({"config":{"name":"s","subjects":["s.*"],"max_msgs_per_subject":1},)"
           R"("state":{"messages":1,"first_seq":1,"last_seq":)" +
           std::to_string(last) + "}}";
  }
};

std::vector<batch_op> two_writes() {
  return {batch_op::put("a", R"({"v": 1})"), batch_op::erase("b")};
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(batch_writer_tests, fixture)

CAF_TEST(a batch is one atomic publish that completes once the replica applied it) {
  batches.submit(two_writes(), keep());
  auto sent = batch_messages();
  CAF_REQUIRE_EQUAL(sent.size(), 2u);
  CAF_CHECK_EQUAL(sent[0].subject, "s." + protocol::base64_encode("a") + "-put");
  CAF_CHECK_EQUAL(sent[0].payload.find(R"("data":{"v":1})") != std::string::npos, true);
  CAF_CHECK_EQUAL(sent[1].subject, "s." + protocol::base64_encode("b") + "-delete");
  CAF_CHECK_EQUAL(sent[0].header("Nats-Batch-Id"), sent[1].header("Nats-Batch-Id"));
  CAF_CHECK_EQUAL(sent[0].header("Nats-Batch-Sequence"), "1");
  CAF_CHECK_EQUAL(sent[1].header("Nats-Batch-Sequence"), "2");
  CAF_CHECK_EQUAL(sent[0].header(kLastSeq), "0");  // nothing applied here yet
  CAF_CHECK_EQUAL(sent[0].header("Nats-Batch-Commit"), "");
  CAF_CHECK_EQUAL(sent[1].header("Nats-Batch-Commit"), "1");
  CAF_CHECK(sent[0].reply.empty());  // only the commit is answered
  CAF_CHECK_EQUAL(sent[0].header("Eventbase-Changes"), "1");
  answer_commit(sent[1], R"({"stream":"s","seq":2,"batch":"x","count":2})");
  CAF_CHECK(done.empty());  // read-your-writes: not before the replica has it
  apply(sent, 1);
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_REQUIRE(done[0].ok());
  CAF_CHECK_EQUAL(done[0]->applied, 2u);
  CAF_CHECK_EQUAL(done[0]->revision, 2u);
  CAF_CHECK(batches.empty());
}

CAF_TEST(a lost acknowledgement sends a copy that is refused and the first copy completes it) {
  batches.submit(two_writes(), keep());
  auto first = batch_messages();
  clock.now += std::chrono::milliseconds(2000);  // no answer to the commit
  batches.expire();
  auto copy = batch_messages();
  CAF_REQUIRE_EQUAL(copy.size(), 2u);
  CAF_CHECK_NOT_EQUAL(copy[0].header("Nats-Batch-Id"), first[0].header("Nats-Batch-Id"));
  CAF_CHECK_EQUAL(copy[0].header(kLastSeq), "0");  // the same expectation: stored at most once
  // The first copy was stored at 1..2: the copy is refused, and waits for the replica.
  answer_commit(copy[1], R"({"error":{"code":400,"err_code":10071,)"
                         R"("description":"wrong last sequence: 2"},"stream":"s","seq":0})");
  CAF_CHECK(done.empty());
  apply(first, 1);
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_REQUIRE(done[0].ok());
  CAF_CHECK_EQUAL(done[0]->revision, 2u);
  rig.barrier.check();
  CAF_CHECK(batch_messages().empty());  // nothing more was sent
}

CAF_TEST(a batch refused because another write came first is computed again) {
  batches.submit({batch_op::put("a", "1")}, keep());
  auto first = batch_messages();
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  // Another node's put of "a" landed at 1 first.
  rig.writes.put("a", "0", [](result<std::string>) {});
  auto theirs = rig.puts_of("a");
  CAF_REQUIRE_EQUAL(theirs.size(), 1u);
  answer_commit(first[0], R"({"error":{"code":400,"err_code":10071,)"
                          R"("description":"wrong last sequence: 1"},"stream":"s","seq":0})");
  CAF_CHECK(batch_messages().empty());  // waits until the replica holds 1
  rig.apply(theirs[0], 1);
  rig.barrier.check();
  auto again = batch_messages();
  CAF_REQUIRE_EQUAL(again.size(), 1u);
  CAF_CHECK_EQUAL(again[0].header(kLastSeq), "1");
  CAF_CHECK_EQUAL(again[0].header("Eventbase-Changes"), "2");  // continues from their put
  answer_commit(again[0], R"({"stream":"s","seq":2})");
  apply(again, 2);
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  CAF_CHECK(done[0].ok());
}

CAF_TEST(a condition is a conflict only when judged on a current replica and writes nothing) {
  batches.submit(
      {batch_op::put("n", "1"), batch_op::put("k", "2", write_condition::if_revision(5))}, keep());
  CAF_CHECK(batch_messages().empty());
  auto asked = sent_to("$JS.API.STREAM.INFO.s");
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  answer(asked[0], info(0));  // the replica is current: "k" does not exist
  CAF_REQUIRE_EQUAL(done.size(), 1u);
  status why = done[0].error();
  CAF_CHECK_EQUAL(why.code(), errc::conflict);
  CAF_CHECK_EQUAL(why.message(), "key 'k' does not exist (expected revision 5)");
  CAF_CHECK(batch_messages().empty());
}

CAF_TEST(a stream without allow_atomic is updated once and the batch sent again) {
  batches.submit(two_writes(), keep());
  auto first = batch_messages();
  answer_commit(first[1], R"({"error":{"code":400,"err_code":10174,)"
                          R"("description":"atomic publish is disabled"},"stream":"s","seq":0})");
  auto asked = sent_to("$JS.API.STREAM.INFO.s");
  CAF_REQUIRE_EQUAL(asked.size(), 1u);
  answer(asked[0], info(0));
  auto update = sent_to("$JS.API.STREAM.UPDATE.s");
  CAF_REQUIRE_EQUAL(update.size(), 1u);
  auto config = json::parse(update[0].payload);
  CAF_CHECK_EQUAL(config.at("allow_atomic"), json(true));
  CAF_CHECK_EQUAL(config.at("max_msgs_per_subject"), json(1));  // the rest as it was
  CAF_CHECK(batch_messages().empty());
  answer(update[0], info(0));
  auto again = batch_messages();
  CAF_CHECK_EQUAL(again.size(), 2u);
  CAF_CHECK(done.empty());
}

CAF_TEST(servers without atomic batches are refused before anything is sent) {
  for (auto release : {std::optional<nats::server_version>(nats::server_version{2, 11, 4}),
                       std::optional<nats::server_version>()}) {
    js->release = release;
    done.clear();
    batches.submit(two_writes(), keep());
    CAF_REQUIRE_EQUAL(done.size(), 1u);
    status why = done[0].error();
    CAF_CHECK_EQUAL(why.code(), errc::unavailable);
    CAF_MESSAGE(why.message());
    CAF_CHECK_EQUAL(
        why.message().find("atomic batches need nats-server 2.12 or newer (this one is "), 0u);
    CAF_CHECK(batch_messages().empty());
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
