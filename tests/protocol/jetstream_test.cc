#define CAF_SUITE jetstream
#include "caf/test/unit_test.hpp"

#include <nlohmann/json.hpp>

#include "protocol/jetstream.hpp"

using namespace eventbase;
using namespace eventbase::protocol::jetstream;
using nlohmann::json;

// Responses below are verbatim from nats-server 2.9.10.
CAF_TEST(parses stream info and api errors) {
  auto info = parse_stream_info(
      R"({"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"T1",)"
      R"("subjects":["T1.*"],"max_msgs_per_subject":1,"storage":"file"},"created":"x",)"
      R"("state":{"messages":2,"bytes":113,"first_seq":3,"last_seq":4,"num_subjects":2}})");
  CAF_REQUIRE(info.ok());
  CAF_CHECK_EQUAL(info->first_seq, 3u);
  CAF_CHECK_EQUAL(info->last_seq, 4u);
  CAF_CHECK_EQUAL(info->messages, 2u);
  CAF_CHECK_EQUAL(info->max_msgs_per_subject, 1);
  CAF_CHECK_EQUAL(info->subjects.size(), 1u);
  auto missing = parse_stream_info(
      R"({"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":404,)"
      R"("err_code":10059,"description":"stream not found"},"total":0})");
  CAF_REQUIRE(!missing.ok());
  CAF_CHECK_EQUAL(missing.error().code(), errc::not_found);
  CAF_CHECK_NOT_EQUAL(missing.error().message().find("stream not found"), std::string::npos);
  CAF_CHECK_EQUAL(api_error_code(R"({"error":{"code":404,"err_code":10059}})"), 10059);
  CAF_CHECK_EQUAL(parse_stream_info("garbage").error().code(), errc::corrupt);
}

CAF_TEST(parses acks purges and consumers) {
  auto ack = parse_pub_ack(R"({"stream":"T1", "seq":1,"duplicate": true})");
  CAF_REQUIRE(ack.ok());
  CAF_CHECK_EQUAL(ack->sequence, 1u);
  CAF_CHECK(ack->duplicate);
  CAF_CHECK_EQUAL(ack->stream, "T1");
  auto plain = parse_pub_ack(R"({"stream":"bench_put_1", "seq":123456})");
  CAF_REQUIRE(plain.ok());
  CAF_CHECK_EQUAL(plain->sequence, 123456u);
  CAF_CHECK_EQUAL(plain->stream, "bench_put_1");
  CAF_CHECK(!plain->duplicate);
  auto failed = parse_pub_ack(
      R"({"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}})");
  CAF_CHECK_EQUAL(failed.error().code(), errc::unavailable);
  CAF_CHECK_EQUAL(parse_pub_ack(R"({"stream":"S", "seq":12x})").error().code(), errc::corrupt);
  CAF_CHECK_EQUAL(parse_purged(R"({"type":"x","success":true,"purged":1})").value(), 1u);
  CAF_CHECK_EQUAL(parse_consumer_created(R"({"stream_name":"T1","name":"kQmuUKnR"})").value(),
                  "kQmuUKnR");
  CAF_CHECK(parse_success(R"({"type":"x","success":true})").ok());
  CAF_CHECK(!parse_success(R"({"type":"x"})").ok());
}

CAF_TEST(requests are well formed json) {
  auto create = json::parse(stream_create_request({"S", {"S.*"}, 1, 3}));
  CAF_CHECK_EQUAL(create["name"], "S");
  CAF_CHECK_EQUAL(create["max_msgs_per_subject"], 1);
  CAF_CHECK_EQUAL(create["num_replicas"], 3);
  CAF_CHECK_EQUAL(create["storage"], "file");
  auto consumer = json::parse(consumer_create_request("S", 17, 1000));
  CAF_CHECK_EQUAL(consumer["stream_name"], "S");
  CAF_CHECK_EQUAL(consumer["config"]["opt_start_seq"], 17);
  CAF_CHECK_EQUAL(consumer["config"]["ack_policy"], "none");
  auto pull = json::parse(pull_request(256, 1 << 20, 30000000000, 5000000000));
  CAF_CHECK_EQUAL(pull["batch"], 256);
  CAF_CHECK_EQUAL(pull["max_bytes"], 1 << 20);
  auto purge = json::parse(purge_request("S.a-put", 1));
  CAF_CHECK_EQUAL(purge["filter"], "S.a-put");
  CAF_CHECK_EQUAL(purge["keep"], 1);
  CAF_CHECK(!json::parse(purge_request("S.a-put", std::nullopt)).contains("keep"));
  CAF_CHECK_EQUAL(consumer_next_subject("S", "c"), "$JS.API.CONSUMER.MSG.NEXT.S.c");
  CAF_CHECK_EQUAL(stream_info_subject("S"), "$JS.API.STREAM.INFO.S");
  CAF_CHECK_EQUAL(stream_wildcard("S"), "S.*");
}

CAF_TEST(parses ack subjects) {
  auto v1 = parse_ack_subject("$JS.ACK.T1.c2.1.3.2.1795671173419158406.0");
  CAF_REQUIRE(v1.has_value());
  CAF_CHECK_EQUAL(v1->stream, "T1");
  CAF_CHECK_EQUAL(v1->consumer, "c2");
  CAF_CHECK_EQUAL(v1->stream_seq, 3u);
  CAF_CHECK_EQUAL(v1->consumer_seq, 2u);
  CAF_CHECK_EQUAL(v1->timestamp_ns, 1795671173419158406);
  CAF_CHECK_EQUAL(v1->pending, 0u);
  auto v2 = parse_ack_subject("$JS.ACK.dom.ACCHASH.T1.c2.1.3.2.1795671173419158406.5.rnd");
  CAF_REQUIRE(v2.has_value());
  CAF_CHECK_EQUAL(v2->stream_seq, 3u);
  CAF_CHECK_EQUAL(v2->pending, 5u);
  CAF_CHECK(!parse_ack_subject("_INBOX.abc.def"));
  CAF_CHECK(!parse_ack_subject("$JS.ACK.T1.c2.1.x.2.17.0"));
  CAF_CHECK(!parse_ack_subject("$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m"));
}

CAF_TEST(only errors of a changing cluster are transient) {
  auto error = [](int code, int err_code, const std::string& what) {
    return R"({"error":{"code":)" + std::to_string(code) + R"(,"err_code":)" +
           std::to_string(err_code) + R"(,"description":")" + what + R"("}})";
  };
  CAF_CHECK(is_transient_error(error(503, 10008, "JetStream system temporarily unavailable")));
  CAF_CHECK(is_transient_error(error(500, 10118, "stream is offline")));
  CAF_CHECK(is_transient_error(error(400, 10005, "no suitable peers for placement")));
  CAF_CHECK(!is_transient_error(error(503, 10077, "maximum messages exceeded")));
  CAF_CHECK(!is_transient_error(error(404, 10059, "stream not found")));
  CAF_CHECK(!is_transient_error(R"({"stream":"s","seq":1})"));
  CAF_CHECK(!is_transient_error("not json"));
}
