#include "protocol/jetstream.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "protocol/base64.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase::protocol::jetstream {
namespace {

using json = nlohmann::json;

std::string api(std::string_view op, std::string_view stream) {
  std::string subject = "$JS.API.";
  subject.append(op);
  subject += '.';
  subject.append(stream);
  return subject;
}

// Parses a response object; a non-ok status when it is malformed or reports an API error.
result<json> parse_response(std::string_view response) {
  json doc = json::parse(response.begin(), response.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return status(errc::corrupt, "JetStream response is not a JSON object: " +
                                     std::string(response.substr(0, 200)));
  auto err = doc.find("error");
  if (err != doc.end() && err->is_object()) {
    int code = err->value("code", 0);
    int err_code = err->value("err_code", 0);
    std::string description = err->value("description", std::string("unknown error"));
    std::string message = "JetStream: " + description + " (code " + std::to_string(code) +
                          ", err_code " + std::to_string(err_code) + ")";
    errc ec = code == 404   ? errc::not_found
              : code == 400 ? errc::invalid_argument
                            : errc::unavailable;
    return status(ec, std::move(message));
  }
  return doc;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

std::string stream_info_subject(std::string_view stream) {
  return api("STREAM.INFO", stream);
}
std::string stream_create_subject(std::string_view stream) {
  return api("STREAM.CREATE", stream);
}
std::string stream_delete_subject(std::string_view stream) {
  return api("STREAM.DELETE", stream);
}
std::string stream_purge_subject(std::string_view stream) {
  return api("STREAM.PURGE", stream);
}
std::string consumer_create_subject(std::string_view stream) {
  return api("CONSUMER.CREATE", stream);
}

std::string consumer_delete_subject(std::string_view stream, std::string_view consumer) {
  std::string subject = api("CONSUMER.DELETE", stream);
  subject += '.';
  subject.append(consumer);
  return subject;
}

std::string consumer_next_subject(std::string_view stream, std::string_view consumer) {
  std::string subject = api("CONSUMER.MSG.NEXT", stream);
  subject += '.';
  subject.append(consumer);
  return subject;
}

std::string stream_wildcard(std::string_view stream) {
  std::string subject(stream);
  subject += ".*";
  return subject;
}

std::string stream_create_request(const stream_settings& s) {
  json req = {{"name", s.name},
              {"subjects", s.subjects},
              {"retention", "limits"},
              {"storage", "file"},
              {"discard", "old"},
              {"num_replicas", s.replicas},
              {"max_msgs_per_subject", s.max_msgs_per_subject}};
  return req.dump();
}

std::string stream_update_subject(std::string_view stream) {
  return api("STREAM.UPDATE", stream);
}

result<std::string> allow_atomic_request(std::string_view info_response) {
  auto doc = parse_response(info_response);
  if (!doc.ok()) return doc.error();
  auto config = doc->find("config");
  if (config == doc->end() || !config->is_object())
    return status(errc::corrupt, "stream info has no config");
  json out = *config;
  out["allow_atomic"] = true;
  return out.dump();
}

std::string consumer_create_request(std::string_view stream, uint64_t start_seq,
                                    int64_t inactive_threshold_ns, int replicas) {
  json req = {{"stream_name", std::string(stream)},
              {"config",
               {{"deliver_policy", "by_start_sequence"},
                {"opt_start_seq", start_seq},
                {"ack_policy", "none"},
                {"replay_policy", "instant"},
                {"inactive_threshold", inactive_threshold_ns},
                {"mem_storage", true},
                {"num_replicas", replicas}}}};
  return req.dump();
}

std::string pull_request(int64_t batch, int64_t max_bytes, int64_t expires_ns,
                         int64_t heartbeat_ns) {
  json req = {{"batch", batch},
              {"max_bytes", max_bytes},
              {"expires", expires_ns},
              {"idle_heartbeat", heartbeat_ns}};
  return req.dump();
}

std::string purge_request(std::string_view subject, std::optional<uint64_t> keep,
                          std::optional<uint64_t> before_seq) {
  json req = {{"filter", std::string(subject)}};
  if (keep) req["keep"] = *keep;
  if (before_seq) req["seq"] = *before_seq;
  return req.dump();
}

std::string stream_msg_get_subject(std::string_view stream) {
  return api("STREAM.MSG.GET", stream);
}

std::string msg_get_request(uint64_t seq) {
  return json{{"seq", seq}}.dump();
}

std::string msg_get_next_request(uint64_t seq, std::string_view subject) {
  return json{{"seq", seq}, {"next_by_subj", std::string(subject)}}.dump();
}

std::vector<std::pair<std::string, std::string>> parse_header_block(std::string_view block) {
  std::vector<std::pair<std::string, std::string>> out;
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  bool first = true;  // the status line ("NATS/1.0")
  while (!block.empty()) {
    size_t end = block.find("\r\n");
    std::string_view line = block.substr(0, end);
    block.remove_prefix(end == std::string_view::npos ? block.size() : end + 2);
    if (first) {
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    out.emplace_back(std::string(trim(line.substr(0, colon))),
                     std::string(trim(line.substr(colon + 1))));
  }
  return out;
}

result<stream_info> parse_stream_info(std::string_view response) {
  auto doc = parse_response(response);
  if (!doc.ok()) return doc.error();
  const json& j = *doc;
  auto config = j.find("config");
  auto state = j.find("state");
  if (config == j.end() || state == j.end() || !config->is_object() || !state->is_object())
    return status(errc::corrupt, "stream info has no config or state");
  stream_info info;
  try {
    info.first_seq = state->value("first_seq", uint64_t{0});
    info.last_seq = state->value("last_seq", uint64_t{0});
    info.messages = state->value("messages", uint64_t{0});
    info.max_msgs_per_subject = config->value("max_msgs_per_subject", int64_t{-1});
    info.replicas = config->value("num_replicas", 1);
    info.subjects = config->value("subjects", std::vector<std::string>{});
    auto cluster = j.find("cluster");
    if (cluster != j.end() && cluster->is_object()) {
      auto replicas = cluster->find("replicas");
      if (replicas != cluster->end() && replicas->is_array())
        for (const auto& r : *replicas)
          if (r.is_object())
            info.followers.push_back({r.value("active", int64_t{0}), r.value("offline", false)});
    }
  } catch (const json::exception& e) {
    return status(errc::corrupt, std::string("stream info has unexpected fields: ") + e.what());
  }
  return info;
}

bool from_current_leader(const stream_info& info, std::chrono::nanoseconds freshness) {
  size_t heard = 1;  // the leader itself
  for (const auto& f : info.followers)
    if (!f.offline && f.active_ns >= 0 && f.active_ns <= freshness.count()) ++heard;
  return heard * 2 > info.followers.size() + 1;
}

result<std::string> parse_consumer_created(std::string_view response) {
  auto doc = parse_response(response);
  if (!doc.ok()) return doc.error();
  auto name = doc->find("name");
  if (name == doc->end() || !name->is_string())
    return status(errc::corrupt, "consumer create response has no name");
  return name->get<std::string>();
}

result<uint64_t> parse_purged(std::string_view response) {
  auto doc = parse_response(response);
  if (!doc.ok()) return doc.error();
  auto purged = doc->find("purged");
  if (purged == doc->end() || !purged->is_number_unsigned())
    return status(errc::corrupt, "purge response has no count");
  return purged->get<uint64_t>();
}

std::string account_info_subject() {
  return "$JS.API.INFO";
}

status parse_account_info(std::string_view response) {
  auto doc = parse_response(response);
  return doc.ok() ? status::OK() : doc.error();
}

status parse_success(std::string_view response) {
  auto doc = parse_response(response);
  if (!doc.ok()) return doc.error();
  if (doc->value("success", false) != true)
    return status(errc::unavailable, "JetStream did not confirm the request");
  return status::OK();
}

namespace {

// The acknowledgement of every write, {"stream":"S", "seq":N} (nats-server 2.9 writes exactly
// this), read without building a JSON tree. nullopt for anything else.
std::optional<pub_ack> parse_plain_pub_ack(std::string_view text) {
  constexpr std::string_view kStream = R"({"stream":")";
  constexpr std::string_view kSeq = R"(", "seq":)";
  if (text.substr(0, kStream.size()) != kStream || text.back() != '}') return std::nullopt;
  size_t stream_end = text.find('"', kStream.size());
  if (stream_end == std::string_view::npos) return std::nullopt;
  std::string_view stream = text.substr(kStream.size(), stream_end - kStream.size());
  if (stream.find('\\') != std::string_view::npos) return std::nullopt;
  if (text.substr(stream_end, kSeq.size()) != kSeq) return std::nullopt;
  std::string_view seq = text.substr(stream_end + kSeq.size());
  seq.remove_suffix(1);  // the closing brace
  pub_ack ack;
  if (!parse_u64(seq, ack.sequence)) return std::nullopt;
  ack.stream = std::string(stream);
  return ack;
}

}  // namespace

result<pub_ack> parse_pub_ack(std::string_view response) {
  if (auto plain = parse_plain_pub_ack(response)) return std::move(*plain);
  auto doc = parse_response(response);
  if (!doc.ok()) return doc.error();
  auto seq = doc->find("seq");
  if (seq == doc->end() || !seq->is_number_unsigned())
    return status(errc::corrupt, "publish acknowledgement has no sequence");
  pub_ack ack;
  ack.stream = doc->value("stream", std::string());
  ack.sequence = seq->get<uint64_t>();
  ack.duplicate = doc->value("duplicate", false);
  return ack;
}

int api_error_code(std::string_view response) {
  json doc = json::parse(response.begin(), response.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return 0;
  auto err = doc.find("error");
  if (err == doc.end() || !err->is_object()) return 0;
  return err->value("err_code", 0);
}

std::optional<wrong_sequence> parse_wrong_sequence(std::string_view response) {
  json doc = json::parse(response.begin(), response.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  auto err = doc.find("error");
  if (err == doc.end() || !err->is_object()) return std::nullopt;
  int code = err->value("err_code", 0);
  if (code == 10164) return wrong_sequence{};
  if (code != 10071) return std::nullopt;
  wrong_sequence out;
  std::string description = err->value("description", std::string());
  if (auto colon = description.rfind(':'); colon != std::string::npos) {
    std::string_view number(description);
    number.remove_prefix(colon + 1);
    while (!number.empty() && number.front() == ' ') number.remove_prefix(1);
    uint64_t last = 0;
    if (parse_u64(number, last)) out.last = last;
  }
  return out;
}

result<stored_message> parse_stored_message(std::string_view response) {
  auto doc = parse_response(response);
  if (!doc.ok()) return doc.error();
  auto message = doc->find("message");
  if (message == doc->end() || !message->is_object())
    return status(errc::corrupt, "MSG.GET response has no message");
  stored_message out;
  try {
    out.subject = message->value("subject", std::string());
    out.sequence = message->value("seq", uint64_t{0});
    auto data = base64_decode(message->value("data", std::string()));
    auto headers = base64_decode(message->value("hdrs", std::string()));
    if (!data || !headers) return status(errc::corrupt, "MSG.GET response is not base64");
    out.data = std::move(*data);
    out.headers = std::move(*headers);
    out.time_ms = parse_rfc3339_ms(message->value("time", std::string())).value_or(0);
  } catch (const json::exception& e) {
    return status(errc::corrupt,
                  std::string("MSG.GET response has unexpected fields: ") + e.what());
  }
  return out;
}

bool is_transient_error(std::string_view response) {
  json doc = json::parse(response.begin(), response.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return false;
  auto err = doc.find("error");
  if (err == doc.end() || !err->is_object()) return false;
  // Not every 503 passes ("maximum messages exceeded" is one): only what clustering causes.
  switch (err->value("err_code", 0)) {
    case 10005:  // no suitable peers for placement (a server is down)
    case 10007:  // JetStream cluster not assigned to this server (yet)
    case 10008:  // JetStream system temporarily unavailable (no meta leader)
    case 10009:  // JetStream cluster can not handle request (not the leader)
    case 10118:  // stream is offline
    case 10163:  // expected last sequence per subject temporarily unavailable (a new leader)
      return true;
    default:
      return false;
  }
}

std::optional<delivery> parse_ack_subject(std::string_view reply) {
  std::string_view tokens[12];
  size_t count = 0;
  for (size_t start = 0;;) {
    if (count == 12) return std::nullopt;  // more tokens than any known form
    size_t dot = reply.find('.', start);
    tokens[count++] = reply.substr(start, dot - start);  // substr clamps when dot is npos
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (count < 9 || tokens[0] != "$JS" || tokens[1] != "ACK") return std::nullopt;
  // v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>        (9 tokens)
  // v2: $JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.x]
  size_t base;
  if (count == 9)
    base = 2;
  else if (count == 11 || count == 12)
    base = 4;
  else
    return std::nullopt;
  delivery d;
  d.stream = tokens[base];
  d.consumer = tokens[base + 1];
  uint64_t ts = 0;
  if (!parse_u64(tokens[base + 3], d.stream_seq) || !parse_u64(tokens[base + 4], d.consumer_seq) ||
      !parse_u64(tokens[base + 5], ts) || !parse_u64(tokens[base + 6], d.pending))
    return std::nullopt;
  d.timestamp_ns = static_cast<int64_t>(ts);
  return d;
}

}  // namespace eventbase::protocol::jetstream
