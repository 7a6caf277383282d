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

CAF_TEST(a refused expectation says the sequence jetstream found when it says one) {
  auto error = [](int code, int err_code, const std::string& what) {
    return R"({"error":{"code":)" + std::to_string(code) + R"(,"err_code":)" +
           std::to_string(err_code) + R"(,"description":")" + what + R"("}})";
  };
  auto found = parse_wrong_sequence(error(400, 10071, "wrong last sequence: 17"));
  CAF_REQUIRE(found.has_value());
  CAF_CHECK_EQUAL(found->last.value_or(0), 17u);
  auto empty = parse_wrong_sequence(error(400, 10071, "wrong last sequence: 0"));
  CAF_REQUIRE(empty.has_value());
  CAF_REQUIRE(empty->last.has_value());
  CAF_CHECK_EQUAL(*empty->last, 0u);
  // The refusal without a number it can read: refused all the same, sequence unknown.
  for (const char* what :
       {"wrong last sequence", "wrong last sequence: ", "wrong last sequence: x7",
        "wrong last sequence: 7 (again)", "wrong last sequence: -1"}) {
    auto unknown = parse_wrong_sequence(error(400, 10071, what));
    CAF_REQUIRE(unknown.has_value());
    CAF_CHECK(!unknown->last.has_value());
  }
  auto no_description = parse_wrong_sequence(R"({"error":{"code":400,"err_code":10071}})");
  CAF_REQUIRE(no_description.has_value());
  CAF_CHECK(!no_description->last.has_value());
  // nats-server 2.11 while another write of the subject is being stored: never a number.
  auto busy = parse_wrong_sequence(error(400, 10164, "wrong last sequence: 9"));
  CAF_REQUIRE(busy.has_value());
  CAF_CHECK(!busy->last.has_value());
  // Anything else is not a refused expectation.
  CAF_CHECK(!parse_wrong_sequence(error(503, 10077, "maximum messages exceeded")));
  CAF_CHECK(!parse_wrong_sequence(error(503, 10163, "wrong last sequence: 3")));
  CAF_CHECK(!parse_wrong_sequence(R"({"stream":"s", "seq":4})"));
  CAF_CHECK(!parse_wrong_sequence(R"({"error":"wrong last sequence: 4"})"));
  CAF_CHECK(!parse_wrong_sequence("wrong last sequence: 4"));
  CAF_CHECK(!parse_wrong_sequence(""));
}

CAF_TEST(parses stored messages) {
  // {"subject":"s.YQ==-put","seq":7,"hdrs":base64("NATS/1.0\r\nNats-Msg-Id: w.1\r\n\r\n"),
  //  "data":base64(R"({"type":"PUT"})")}
  auto got = parse_stored_message(
      R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{)"
      R"("subject":"s.YQ==-put","seq":7,"hdrs":"TkFUUy8xLjANCk5hdHMtTXNnLUlkOiB3LjENCg0K",)"
      R"("data":"eyJ0eXBlIjoiUFVUIn0=","time":"2024-12-07T10:00:00.123456789Z"}})");
  CAF_REQUIRE(got.ok());
  CAF_CHECK_EQUAL(got->subject, "s.YQ==-put");
  CAF_CHECK_EQUAL(got->sequence, 7u);
  CAF_CHECK_EQUAL(got->data, R"({"type":"PUT"})");
  CAF_CHECK_EQUAL(got->headers, "NATS/1.0\r\nNats-Msg-Id: w.1\r\n\r\n");
  CAF_CHECK_EQUAL(got->time_ms, 1733565600123);  // JetStream's time, to the millisecond
  // Without headers or data (an empty message): empty.
  auto bare = parse_stored_message(R"({"message":{"subject":"s.x","seq":8}})");
  CAF_REQUIRE(bare.ok());
  CAF_CHECK_EQUAL(bare->data, "");
  CAF_CHECK_EQUAL(bare->headers, "");
  // No message at that sequence (removed, or beyond the stream's end).
  auto missing = parse_stored_message(
      R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,)"
      R"("err_code":10037,"description":"no message found"}})");
  CAF_REQUIRE(!missing.ok());
  status why = missing.error();
  CAF_CHECK_EQUAL(why.code(), errc::not_found);
  CAF_CHECK_EQUAL(why.message(), "JetStream: no message found (code 404, err_code 10037)");
  // Malformed answers are corrupt.
  for (const char* bad :
       {"not json", "[]", R"({"type":"x"})", R"({"message":"s.x"})",
        R"({"message":{"subject":"s.x","seq":1,"data":"!!not base64!!"}})",
        R"({"message":{"subject":"s.x","seq":1,"hdrs":"%%"}})",
        R"({"message":{"subject":"s.x","seq":"7"}})", R"({"message":{"subject":7,"seq":1}})",
        R"({"message":{"subject":"s.x","seq":1,"data":null}})"}) {
    auto r = parse_stored_message(bad);
    CAF_CHECK(!r.ok());
    if (!r.ok()) {
      status error = r.error();
      CAF_CHECK_EQUAL(error.code(), errc::corrupt);
    }
  }
}

CAF_TEST(header blocks are read as fields in order) {
  using fields = std::vector<std::pair<std::string, std::string>>;
  CAF_CHECK(parse_header_block("") == fields{});
  CAF_CHECK(parse_header_block("NATS/1.0\r\n\r\n") == fields{});
  auto got = parse_header_block(
      "NATS/1.0\r\nEventbase-Changes: 3\r\nNats-Msg-Id:w.1\r\nno colon\r\nX:  a: b \r\n\r\n");
  CAF_CHECK(got == (fields{{"Eventbase-Changes", "3"}, {"Nats-Msg-Id", "w.1"}, {"X", "a: b"}}));
}

CAF_TEST(purges and reads by sequence are well formed json) {
  auto bounded = json::parse(purge_request("S.a-put", std::nullopt, 9));
  CAF_CHECK_EQUAL(bounded, json({{"filter", "S.a-put"}, {"seq", 9}}));
  auto both = json::parse(purge_request("S.a-put", 1, 9));
  CAF_CHECK_EQUAL(both, json({{"filter", "S.a-put"}, {"keep", 1}, {"seq", 9}}));
  CAF_CHECK(!json::parse(purge_request("S.a-put", 1)).contains("seq"));
  CAF_CHECK_EQUAL(json::parse(msg_get_request(7)), json({{"seq", 7}}));
  CAF_CHECK_EQUAL(json::parse(msg_get_next_request(3, "S.a-put")),
                  json({{"next_by_subj", "S.a-put"}, {"seq", 3}}));
  CAF_CHECK_EQUAL(stream_msg_get_subject("S"), "$JS.API.STREAM.MSG.GET.S");
  CAF_CHECK_EQUAL(std::string(kExpectedLastSubjectSequence), "Nats-Expected-Last-Subject-Sequence");
  CAF_CHECK_EQUAL(std::string(kExpectedLastSequence), "Nats-Expected-Last-Sequence");
}
