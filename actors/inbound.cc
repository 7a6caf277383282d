#include "actors/inbound.hpp"

#include <charconv>
#include <string_view>

#include "protocol/jetstream.hpp"

namespace eventbase::actors {
namespace {

bool parse_u64(std::string_view text, uint64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

}  // namespace

inbound classify(nats::message&& msg, const std::string& prefix, const std::string& writer_id) {
  inbound in;
  if (auto delivery = protocol::jetstream::parse_ack_subject(msg.reply)) {
    in.what = inbound::kind::event;
    in.consumer = std::string(delivery->consumer);
    in.stream_seq = delivery->stream_seq;
    in.pending = delivery->pending;
    in.consumer_seq = delivery->consumer_seq;
    in.time_ms = delivery->timestamp_ns / 1000000;
    std::string_view id = msg.msg_id;
    if (id.size() > writer_id.size() + 1 && id.compare(0, writer_id.size(), writer_id) == 0 &&
        id[writer_id.size()] == '.')
      parse_u64(id.substr(writer_id.size() + 1), in.own_write);
    for (const auto& [name, value] : msg.all_headers) {
      if (name == protocol::jetstream::kBatchIdHeader) in.batch_id = value;
      if (name == protocol::jetstream::kBatchCommitHeader) in.batch_end = true;
    }
    auto decoded = protocol::decode_event(msg.data, msg.all_headers);
    if (decoded.ok())
      in.event = std::move(*decoded);
    else
      in.decode_error = decoded.error();
    in.msg = std::move(msg);
    return in;
  }
  std::string_view subject = msg.subject;
  if (subject.size() > prefix.size() + 1 && subject.compare(0, prefix.size(), prefix) == 0 &&
      subject[prefix.size()] == '.') {
    std::string_view rest = subject.substr(prefix.size() + 1);
    if (rest.size() > 2 && rest[1] == '.') {
      std::string_view tail = rest.substr(2);
      switch (rest[0]) {
        case 'a':
          if (parse_u64(tail, in.token)) in.what = inbound::kind::pub_ack;
          break;
        case 'b':
          if (parse_u64(tail, in.token)) in.what = inbound::kind::batch_ack;
          break;
        case 'r':
          if (parse_u64(tail, in.token)) in.what = inbound::kind::api_reply;
          break;
        case 'p':
          if (auto dot = tail.find('.'); dot != std::string_view::npos &&
                                         parse_u64(tail.substr(0, dot), in.generation) &&
                                         parse_u64(tail.substr(dot + 1), in.token))
            in.what = inbound::kind::pull_status;
          break;
        default:
          break;
      }
    }
  }
  in.msg = std::move(msg);
  return in;
}

bool is_urgent(const inbound& in) {
  if (in.what != inbound::kind::pub_ack) return true;  // a batch's commit ack is rare: urgent
  // Errors come as a status (503 no responders) or as an "error" member.
  return in.msg.status != 0 || in.msg.data.find("\"error\"") != std::string::npos;
}

}  // namespace eventbase::actors
