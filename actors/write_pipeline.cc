// write_pipeline (see write_pipeline.hpp).
#include "actors/write_pipeline.hpp"

#include <algorithm>
#include <vector>

#include "eventbase/log.hpp"
#include "nats/transport.hpp"
#include "protocol/document.hpp"
#include "protocol/event.hpp"
#include "protocol/jetstream.hpp"
#include "protocol/names.hpp"
#include "protocol/record.hpp"
#include "protocol/timestamp.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

namespace {

// Room for the headers inside the server's max_payload, which counts them too: the NATS header
// line and Nats-Msg-Id (about 60 bytes), Eventbase-Changes and Eventbase-Date-Created (about 90).
constexpr int64_t kHeaderAllowance = 256;

}  // namespace

write_pipeline::write_pipeline(settings config, nats::transport& nats, jetstream_client& api,
                               const storage::stream_store& store, const stats_publisher& stats,
                               jetstream_client::clock now)
    : config_(std::move(config)),
      nats_(nats),
      api_(api),
      store_(store),
      stats_(stats),
      now_(std::move(now)) {}

void write_pipeline::put(std::string key, std::string document, put_done done) {
  if (auto invalid = protocol::validate_key(key); !invalid.ok()) return done(invalid);
  // Published as the JS library would publish the same document.
  auto canonical = protocol::canonical_document(document);
  if (!canonical.ok())
    return done(
        status(errc::invalid_argument, "key '" + key + "': " + canonical.error().message()));
  write op;
  op.key = std::move(key);
  op.document = std::move(*canonical);
  op.put_finished = std::move(done);
  submit(std::move(op));
}

void write_pipeline::erase(std::string key, erase_done done) {
  if (auto invalid = protocol::validate_key(key); !invalid.ok()) return done(invalid);
  write op;
  op.what = write::kind::erase;
  op.key = std::move(key);
  op.erase_finished = std::move(done);
  submit(std::move(op));
}

void write_pipeline::submit(write op) {
  uint64_t token = next_token_++;
  op.started_ms = protocol::now_ms();
  op.deadline = now_() + config_.timeout;
  auto [it, first] = keys_.try_emplace(op.key);
  writes_.emplace(token, std::move(op));
  if (!first) {
    it->second.waiting.push_back(token);  // runs when the key's earlier writes are done
    return;
  }
  it->second.active = token;
  publish(token);
}

void write_pipeline::publish(uint64_t token) {
  auto& op = writes_.at(token);
  std::string subject;
  std::string payload;
  int64_t now = protocol::now_ms();
  if (op.what == write::kind::put) {
    // The metadata this write carries continues from the key's current record.
    auto current_record = store_.get(op.key);
    if (!current_record.ok()) return complete(token, current_record.error());
    std::optional<protocol::meta> previous;
    if (*current_record) {
      if (auto view = protocol::decode_record(**current_record); view.ok()) previous = view->m;
    }
    payload = protocol::encode_put_payload(op.key, op.document, now);
    op.meta_headers = protocol::meta_headers(protocol::carry_meta(previous ? &*previous : nullptr));
    subject = protocol::put_subject(config_.stream, op.key);
  } else {
    payload = protocol::encode_delete_payload(op.key, now);
    subject = protocol::delete_subject(config_.stream, op.key);
  }
  int64_t limit = nats_.max_payload() - kHeaderAllowance;
  if (static_cast<int64_t>(payload.size()) > limit)
    return complete(
        token, status(errc::too_large,
                      "the event for key '" + op.key + "' is " + std::to_string(payload.size()) +
                          " bytes; the NATS server accepts at most " + std::to_string(limit) +
                          " (its max_payload less headers)"));
  op.document.clear();
  op.document.shrink_to_fit();
  nats::headers hdrs{{"Nats-Msg-Id", config_.writer_id + "." + std::to_string(token)}};
  hdrs.insert(hdrs.end(), op.meta_headers.begin(), op.meta_headers.end());
  auto st = nats_.publish(subject, payload, config_.ack_prefix + std::to_string(token), hdrs);
  if (!st.ok()) return complete(token, st);
  op.published = true;
}

void write_pipeline::on_ack(const inbound& ack) {
  auto it = writes_.find(ack.token);
  if (it == writes_.end()) return;  // completed already: applied before its ack arrived
  auto& op = it->second;
  if (ack.msg.status == 503)
    return complete(ack.token,
                    status(errc::unavailable, "no JetStream stream accepted the write to '" +
                                                  config_.stream + "' (was the stream deleted?)"));
  auto parsed = js::parse_pub_ack(ack.msg.data);
  if (!parsed.ok()) return complete(ack.token, parsed.error());
  if (op.applied) return;  // an erase whose purge is running
  op.ack_seq = parsed->sequence;
  acked_.emplace(op.ack_seq, ack.token);
  // Already passed: its event never reached this node, compaction replaced it first.
  if (store_.applied_sequence() >= op.ack_seq) on_replica_advanced();
}

void write_pipeline::on_replica_advanced() {
  uint64_t applied = store_.applied_sequence();
  while (!acked_.empty() && acked_.begin()->first <= applied) {
    uint64_t token = acked_.begin()->second;
    acked_.erase(acked_.begin());
    auto it = writes_.find(token);
    if (it == writes_.end() || it->second.applied) continue;
    // Its result is the key's current state, which includes the write that replaced it.
    std::string record;
    if (it->second.what == write::kind::put) {
      auto current_record = store_.get(it->second.key);
      if (current_record.ok() && *current_record) record = std::move(**current_record);
    }
    on_applied(token, record);
  }
}

void write_pipeline::on_applied(uint64_t token, const std::string& record) {
  auto it = writes_.find(token);
  if (it == writes_.end()) return;  // timed out meanwhile
  auto& op = it->second;
  if (op.ack_seq != 0) acked_.erase(op.ack_seq);
  if (op.what == write::kind::put) return complete(token, status::OK(), record);
  // The DELETE is applied here; now remove the key's PUT messages from the stream.
  op.applied = true;
  api_.call(js::stream_purge_subject(config_.stream),
            js::purge_request(protocol::put_subject(config_.stream, op.key), std::nullopt),
            [this, token](result<std::string> reply) {
              auto purged = reply.ok() ? js::parse_purged(*reply) : result<uint64_t>(reply.error());
              if (purged.ok())
                complete(token, status::OK(), {}, *purged);
              else
                complete(token, purged.error());
            });
}

void write_pipeline::complete(uint64_t token, const status& st, const std::string& record,
                              uint64_t purged) {
  auto node = writes_.extract(token);
  if (node.empty()) return;
  write& op = node.mapped();
  if (op.ack_seq != 0) {
    auto it = acked_.find(op.ack_seq);
    if (it != acked_.end() && it->second == token) acked_.erase(it);
  }
  // Let the key's next write go before running the completion, which may end the pipeline's
  // owner.
  if (auto queue = keys_.find(op.key); queue != keys_.end()) {
    auto& of_key = queue->second;
    if (of_key.active == token) {
      if (of_key.waiting.empty()) {
        keys_.erase(queue);
      } else {
        of_key.active = of_key.waiting.front();
        of_key.waiting.pop_front();
        publish(of_key.active);
      }
    } else {
      auto& waiting = of_key.waiting;  // a queued write that never ran (it timed out)
      waiting.erase(std::remove(waiting.begin(), waiting.end(), token), waiting.end());
    }
  }
  if (op.what == write::kind::put) {
    if (!st.ok()) return op.put_finished(st);
    stats_.publish(protocol::stats_operation::put, op.key, std::nullopt, op.started_ms);
    // A stream created by the JS library keeps every message: compact as the JS library does.
    if (!one_message_per_subject_)
      nats_.publish(js::stream_purge_subject(config_.stream),
                    js::purge_request(protocol::put_subject(config_.stream, op.key), 1));
    return op.put_finished(record);
  }
  if (!st.ok()) return op.erase_finished(st);
  stats_.publish(protocol::stats_operation::erase, op.key, std::nullopt, op.started_ms);
  op.erase_finished(purged);
}

void write_pipeline::expire() {
  auto now = now_();
  std::vector<uint64_t> late;
  for (auto& [token, op] : writes_)
    if (now >= op.deadline) late.push_back(token);
  for (auto token : late) {
    auto it = writes_.find(token);
    if (it == writes_.end()) continue;
    complete(token, status(errc::timeout, std::string(it->second.published
                                                          ? "no confirmation from JetStream"
                                                          : "the write waited for earlier writes") +
                                              " within " + std::to_string(config_.timeout.count()) +
                                              " ms; it may still be applied later"));
  }
}

void write_pipeline::fail_all(const status& why) {
  keys_.clear();
  acked_.clear();
  auto pending = std::move(writes_);
  writes_.clear();
  for (auto& [token, op] : pending) {
    if (op.what == write::kind::put)
      op.put_finished(why);
    else
      op.erase_finished(why);
  }
}

}  // namespace eventbase::actors
