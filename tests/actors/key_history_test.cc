// Unit tests of key_history: a key's kept events read with MSG.GET (next_by_subj) from both of
// its subjects, and the answer of a read at a revision from them, actors/key_history.hpp.
#define CAF_SUITE key_history
#include "caf/test/unit_test.hpp"

#include <optional>
#include <string>
#include <vector>

#include "actors/component_fixture.hpp"
#include "actors/key_history.hpp"
#include "protocol/base64.hpp"
#include "protocol/record.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using eventbase::test::field;
using eventbase::test::published;

namespace {

const std::string kPut = "s." + protocol::base64_encode("k") + "-put";
const std::string kDelete = "s." + protocol::base64_encode("k") + "-delete";

struct fixture : eventbase::test::component_fixture {
  key_history history{"s", api};
  std::optional<result<key_history::kept>> got;

  void read(int64_t limit) {
    history.read("k", limit, [this](result<key_history::kept> r) { got = std::move(r); });
  }

  // The pending MSG.GET for `subject`; fails the test when there is none.
  published request_for(const std::string& subject) {
    for (auto& p : sent_to("$JS.API.STREAM.MSG.GET.s")) pending.push_back(std::move(p));
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      if (field(it->payload, "/next_by_subj") == subject) {
        auto out = *it;
        pending.erase(it);
        return out;
      }
    }
    CAF_FAIL("no MSG.GET for " << subject);
  }

  // Answers the walk of `subject` with a message at `seq` (its headers given as a NATS header
  // block), and checks that the next request continues after it.
  void give(const std::string& subject, uint64_t seq, const std::string& payload,
            const std::string& headers = "") {
    auto p = request_for(subject);
    CAF_CHECK_LESS_OR_EQUAL(field(p.payload, "/seq").get<uint64_t>(), seq);
    std::string body =
        R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":")" +
        subject + R"(","seq":)" + std::to_string(seq) + R"(,"data":")" +
        protocol::base64_encode(payload) + R"(",)" +
        (headers.empty() ? "" : R"("hdrs":")" + protocol::base64_encode(headers) + R"(",)") +
        R"("time":"2024-12-07T10:00:0)" + std::to_string(seq % 10) + R"(.5Z"}})";
    answer(p, body);
  }

  void end(const std::string& subject) {
    answer(request_for(subject),
           R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,)"
           R"("err_code":10037,"description":"no message found"}})");
  }

  static std::string put(int v) {
    return R"({"type":"PUT","id":"k","data":{"v":)" + std::to_string(v) + R"(},"timestamp":1})";
  }
  static std::string changes(int n) {
    return "NATS/1.0\r\nEventbase-Changes: " + std::to_string(n) + "\r\n\r\n";
  }
  static constexpr const char* kDeletePayload = R"({"type":"DELETE","id":"k","timestamp":2})";

  std::vector<published> pending;
};

// The data of the record a read at `revision` gives, null when absent; the error's name else.
std::string data_at(const key_history::kept& kept, uint64_t revision) {
  auto record = key_history::at_revision(kept, "k", revision);
  if (!record.ok()) return to_string(record.error().code());
  if (record->empty()) return "null";
  auto view = protocol::decode_record(*record).value();
  return protocol::decode_document(view.data_msgpack).value().dump();
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(key_history_tests, fixture)

CAF_TEST(both subjects are walked and merged in revision order) {
  read(5);
  give(kPut, 3, put(1), changes(1));
  give(kDelete, 5, kDeletePayload);
  give(kPut, 7, put(2), changes(1));
  end(kDelete);
  CAF_CHECK(!got.has_value());  // the PUT subject is still being read
  end(kPut);
  CAF_REQUIRE(got.has_value() && got->ok());
  auto& kept = **got;
  CAF_REQUIRE_EQUAL(kept.events.size(), 3u);
  CAF_CHECK_EQUAL(kept.events[0].revision, 3u);
  CAF_CHECK_EQUAL(kept.events[1].revision, 5u);
  CAF_CHECK(kept.events[1].decoded.type == protocol::event_type::erase);
  CAF_CHECK_EQUAL(kept.events[2].revision, 7u);
  CAF_CHECK(kept.whole);  // the first PUT created the key and no DELETE was dropped
  CAF_CHECK_EQUAL(data_at(kept, 2), "null");
  CAF_CHECK_EQUAL(data_at(kept, 3), R"({"v":1})");
  CAF_CHECK_EQUAL(data_at(kept, 4), R"({"v":1})");
  CAF_CHECK_EQUAL(data_at(kept, 5), "null");
  CAF_CHECK_EQUAL(data_at(kept, 6), "null");
  CAF_CHECK_EQUAL(data_at(kept, 9), R"({"v":2})");
  // The record of a version has the metadata its writer carried and its JetStream time.
  auto view = protocol::decode_record(key_history::at_revision(kept, "k", 3).value()).value();
  CAF_CHECK_EQUAL(view.sequence, 3u);
  CAF_CHECK_EQUAL(view.m.changes, 1u);
  CAF_CHECK_EQUAL(view.m.date_modified_ms, 1733565603500);
}

CAF_TEST(a history that lost its first events answers compacted before them) {
  read(2);
  give(kPut, 8, put(3), changes(3));  // the first two PUTs were dropped
  give(kPut, 9, put(4), changes(4));
  end(kPut);
  end(kDelete);
  CAF_REQUIRE(got.has_value() && got->ok());
  CAF_CHECK(!(*got)->whole);
  CAF_CHECK_EQUAL(data_at(**got, 7), "compacted");
  auto message = key_history::at_revision(**got, "k", 7).error().message();
  CAF_CHECK_NOT_EQUAL(message.find("revision 8 and later"), std::string::npos);
  CAF_CHECK_EQUAL(data_at(**got, 8), R"({"v":3})");
}

CAF_TEST(as many deletes as the limit may have dropped older ones) {
  read(1);
  give(kPut, 4, put(1), changes(1));
  give(kDelete, 3, kDeletePayload);  // the subject is full: an earlier DELETE may be gone
  end(kPut);
  end(kDelete);
  CAF_REQUIRE(got.has_value() && got->ok());
  CAF_CHECK(!(*got)->whole);
  CAF_CHECK_EQUAL(data_at(**got, 2), "compacted");
}

CAF_TEST(events without carried metadata never make the history whole) {
  read(-1);  // a stream the JS library created: no limit, and its writers purge
  give(kPut, 4, put(1));
  end(kPut);
  end(kDelete);
  CAF_REQUIRE(got.has_value() && got->ok());
  CAF_CHECK(!(*got)->whole);
}

CAF_TEST(malformed messages and other keys are left out) {
  read(5);
  give(kPut, 2, "not json");
  give(kPut, 3, R"({"type":"PUT","id":"other","data":1,"timestamp":1})");
  give(kPut, 4, put(1), changes(1));
  end(kPut);
  end(kDelete);
  CAF_REQUIRE(got.has_value() && got->ok());
  CAF_REQUIRE_EQUAL((*got)->events.size(), 1u);
  CAF_CHECK_EQUAL((*got)->events[0].revision, 4u);
}

CAF_TEST(a failed request fails the read once) {
  read(5);
  answer(request_for(kPut),
         R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":500,)"
         R"("err_code":10000,"description":"boom"}})");
  end(kDelete);
  CAF_REQUIRE(got.has_value());
  CAF_CHECK(!got->ok());
  CAF_CHECK_NOT_EQUAL(got->error().message().find("reading the history of 'k'"), std::string::npos);
}

CAF_TEST(a subject with more events than the bound fails as too large) {
  read(-1);
  end(kDelete);
  for (uint64_t seq = 1; seq <= key_history::kMaxEventsPerSubject; ++seq) give(kPut, seq, put(1));
  CAF_CHECK(!got.has_value());
  give(kPut, key_history::kMaxEventsPerSubject + 1, put(1));
  CAF_REQUIRE(got.has_value());
  CAF_CHECK_EQUAL(got->error().code(), errc::too_large);
}

CAF_TEST(a watch resumed from a revision gets each change as its event) {
  storage::key_change put_change{"k", 7, "", 0};
  protocol::meta m{1000, 1733565600123, 2};
  std::string doc;
  protocol::append_msgpack(nlohmann::ordered_json{{"v", 1}}, doc);
  put_change.record = protocol::encode_record(m, 7, doc);
  CAF_CHECK_EQUAL(key_history::event_of(put_change).value(),
                  R"({"type":"PUT","id":"k","data":{"v":1},"timestamp":1733565600123})");
  storage::key_change deleted{"k", 9, "", 1733565600999};
  CAF_CHECK_EQUAL(key_history::event_of(deleted).value(),
                  R"({"type":"DELETE","id":"k","timestamp":1733565600999})");
}

CAF_TEST_FIXTURE_SCOPE_END()
