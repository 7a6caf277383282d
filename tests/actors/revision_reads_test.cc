// Unit tests of revision_reads: a read at a revision answered from the replica when the key did
// not change since, from the stream's kept events otherwise, and refused beyond the stream's
// end; actors/revision_reads.hpp.
#define CAF_SUITE revision_reads
#include "caf/test/unit_test.hpp"

#include <optional>
#include <string>

#include "actors/component_fixture.hpp"
#include "actors/replica_reader.hpp"
#include "actors/revision_reads.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using eventbase::test::published;

namespace {

struct fixture : eventbase::test::component_fixture {
  eventbase::test::pipeline_rig rig{*this};
  replica_reader reader{rig.store, rig.stats};
  key_history history{"s", api};
  revision_reads past{
      "s", *rig.store, reader, rig.horizon, rig.barrier, history, [] { return int64_t{5}; }};
  std::optional<result<std::string>> got;

  void get_at(const std::string& key, uint64_t revision) {
    got.reset();
    past.get_at(key, revision, [this](result<std::string> r) { got = std::move(r); });
  }

  // Applies a PUT of `key` at `seq` to the replica.
  void put(const std::string& key, uint64_t seq) {
    published p;
    p.subject = "s." + protocol::base64_encode(key) + "-put";
    p.payload = R"({"type":"PUT","id":")" + key + R"(","data":)" + std::to_string(seq) +
                R"(,"timestamp":1})";
    rig.apply(p, seq);
  }

  size_t history_reads() { return sent_to("$JS.API.STREAM.MSG.GET.s").size(); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(revision_reads_tests, fixture)

CAF_TEST(a key unchanged since the revision is read from the replica) {
  put("k", 1);
  put("other", 2);
  get_at("k", 2);
  CAF_REQUIRE(got.has_value() && got->ok());
  CAF_CHECK_EQUAL(protocol::decode_record(**got).value().sequence, 1u);
  get_at("never", 2);
  CAF_REQUIRE(got.has_value() && got->ok());
  CAF_CHECK((*got)->empty());
  CAF_CHECK_EQUAL(history_reads(), 0u);
}

CAF_TEST(a key changed since the revision is read from the kept events) {
  put("k", 1);
  put("k", 2);
  get_at("k", 1);
  CAF_CHECK(!got.has_value());           // asking JetStream
  CAF_CHECK_EQUAL(history_reads(), 2u);  // its PUT and its DELETE subject
}

CAF_TEST(a revision beyond the end and a bad key are refused) {
  put("k", 1);
  get_at("k", 2);  // the replica is not there: a consistent wait first
  CAF_CHECK(!got.has_value());
  rig.advance(1);
  auto info = sent_to("$JS.API.STREAM.INFO.s");
  CAF_REQUIRE_EQUAL(info.size(), 1u);
  answer(info[0],
         R"({"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"s"},)"
         R"("state":{"messages":1,"first_seq":1,"last_seq":1}})");
  rig.barrier.check();
  CAF_REQUIRE(got.has_value());
  CAF_CHECK_EQUAL(got->error().code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(got->error().message().find("beyond the end of 's'"), std::string::npos);
  get_at("", 1);
  CAF_REQUIRE(got.has_value());
  CAF_CHECK_EQUAL(got->error().code(), errc::invalid_argument);
}

CAF_TEST_FIXTURE_SCOPE_END()
