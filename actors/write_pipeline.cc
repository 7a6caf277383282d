// write_pipeline (see write_pipeline.hpp).
#include "actors/write_pipeline.hpp"

#include <algorithm>
#include <vector>

#include "actors/backoff.hpp"
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

write_pipeline::write_pipeline(settings config, nats::transport& nats, jetstream_client& api,
                               const storage::stream_store& store, const stats_publisher& stats,
                               jetstream_client::clock now, replica_view replica)
    : config_(std::move(config)),
      nats_(nats),
      api_(api),
      store_(store),
      stats_(stats),
      now_(std::move(now)),
      replica_(std::move(replica)) {}

status write_pipeline::check_room(uint64_t bytes) const {
  if (writes_.size() < config_.max_writes && held_bytes_ + bytes <= config_.max_write_bytes)
    return status::OK();
  return status(
      errc::unavailable,
      "stream '" + config_.stream + "' has " + std::to_string(writes_.size()) + " writes (" +
          std::to_string(held_bytes_) + " bytes of documents) in progress, its maximum (" +
          std::to_string(config_.max_writes) + " writes, " +
          std::to_string(config_.max_write_bytes) + " bytes): try again when some have completed");
}

void write_pipeline::put(std::string key, std::string document, put_done done, document_form form,
                         write_condition condition, uint64_t ttl_seconds) {
  if (auto invalid = protocol::validate_key(key); !invalid.ok()) return done(invalid);
  if (ttl_seconds > protocol::kMaxTtlSeconds)
    return done(status(errc::invalid_argument, "a TTL must be within 1.." +
                                                   std::to_string(protocol::kMaxTtlSeconds) +
                                                   " seconds, not " + std::to_string(ttl_seconds)));
  if (auto full = check_room(document.size()); !full.ok()) return done(full);
  // Published as the JS library would publish the same document.
  if (form == document_form::json) {
    auto canonical = protocol::canonical_document(document);
    if (!canonical.ok())
      return done(
          status(errc::invalid_argument, "key '" + key + "': " + canonical.error().message()));
    document = std::move(*canonical);
  }
  write op;
  op.key = std::move(key);
  op.document = std::move(document);
  op.condition = condition;
  op.ttl_seconds = ttl_seconds;
  op.held_bytes = op.document.size();
  op.put_finished = std::move(done);
  submit(std::move(op));
}

void write_pipeline::erase(std::string key, erase_done done, write_condition condition) {
  if (auto invalid = protocol::validate_key(key); !invalid.ok()) return done(invalid);
  if (condition.what == write_condition::kind::if_absent)
    return done(status(errc::invalid_argument,
                       "a delete's condition can only be a revision (--if-revision)"));
  if (auto full = check_room(0); !full.ok()) return done(full);
  write op;
  op.what = write::kind::erase;
  op.key = std::move(key);
  op.condition = condition;
  op.erase_finished = std::move(done);
  submit(std::move(op));
}

void write_pipeline::submit(write op) {
  uint64_t token = next_token_++;
  op.started = op_start::now();
  op.deadline = now_() + config_.timeout;
  held_bytes_ += op.held_bytes;
  note_wake(op.deadline);
  auto [it, first] = keys_.try_emplace(op.key);
  writes_.emplace(token, std::move(op));
  if (!first) {
    it->second.waiting.push_back(token);  // runs when the key's earlier writes are done
    return;
  }
  it->second.active = token;
  publish(token);
}

result<key_state> read_key_state(const storage::stream_store& store, const std::string& key) {
  auto current_record = store.get(key);
  if (!current_record.ok()) return current_record.error();
  key_state out;
  if (*current_record) {
    if (auto view = protocol::decode_record(**current_record); view.ok()) {
      out.live = view->m;
      out.revision = view->sequence;
    }
  }
  if (!out.live) {
    if (auto deleted = store.tombstone(key); deleted.ok() && *deleted) out.revision = **deleted;
  }
  return out;
}

std::string condition_failure(const std::string& key, const write_condition& c,
                              const key_state& state) {
  std::string name = "key '" + key + "'";
  bool live = state.live.has_value();
  if (c.what == write_condition::kind::if_absent && live)
    return name + " exists (revision " + std::to_string(state.revision) + ")";
  if (c.what == write_condition::kind::if_revision && !live)
    return name + " does not exist (expected revision " + std::to_string(c.revision) + ")";
  if (c.what == write_condition::kind::if_revision && state.revision != c.revision)
    return name + " is at revision " + std::to_string(state.revision) + ", not " +
           std::to_string(c.revision);
  return {};
}

result<write_event> encode_write_event(const std::string& stream, const std::string& key,
                                       const std::string* document, const key_state& state,
                                       uint64_t ttl_seconds, int64_t limit) {
  write_event out;
  int64_t now = protocol::now_ms();
  if (document) {
    // The metadata this write carries continues from the key's current record.
    out.payload = protocol::encode_put_payload(key, *document, now);
    out.headers = protocol::meta_headers(
        protocol::carry_meta(state.live ? &*state.live : nullptr, state.revision));
    if (ttl_seconds > 0)
      out.headers.emplace_back(protocol::kTtlHeader, std::to_string(ttl_seconds));
    out.subject = protocol::put_subject(stream, key);
  } else {
    out.payload = protocol::encode_delete_payload(key, now);
    out.subject = protocol::delete_subject(stream, key);
  }
  if (static_cast<int64_t>(out.payload.size()) > limit)
    return status(errc::too_large, "the event for key '" + key + "' is " +
                                       std::to_string(out.payload.size()) +
                                       " bytes; the NATS server accepts at most " +
                                       std::to_string(limit) + " (its max_payload less headers)");
  return out;
}

void write_pipeline::publish(uint64_t token) {
  auto& op = writes_.at(token);
  // The key's state here: what the write is judged against and computed from.
  auto state = read_key_state(store_, op.key);
  if (!state.ok()) return complete(token, state.error());
  const auto& live = state->live;
  uint64_t base = state->revision;
  op.headers.clear();
  if (op.condition.conditional()) {
    auto failure = condition_failure(op.key, op.condition, *state);
    if (!failure.empty()) {
      if (op.verified) return complete(token, status(errc::conflict, failure));
      // Judged on a replica that may be behind: judged again once it is current.
      op.waiting = true;
      replica_.await_consistency([this, token](const status& st) {
        auto it = writes_.find(token);
        if (it == writes_.end()) return;
        it->second.waiting = false;
        if (!st.ok()) return complete(token, st);
        it->second.verified = true;
        publish(token);
      });
      return;
    }
    // Stored only if nothing was written since what this replica applied: then the condition
    // held on the stream's current state.
    op.headers.emplace_back(js::kExpectedLastSequence, std::to_string(store_.applied_sequence()));
  } else if (op.what == write::kind::put) {
    // The PUT subject ends at the key's record here, unless JetStream said otherwise since (a
    // purge, a message this replica could not apply).
    uint64_t expected = base;
    if (!live) expected = 0;
    if (op.learned_subject_seq)
      expected = *op.learned_subject_seq == 0 ? 0 : std::max(*op.learned_subject_seq, expected);
    op.headers.emplace_back(js::kExpectedLastSubjectSequence, std::to_string(expected));
  }
  auto event = encode_write_event(config_.stream, op.key,
                                  op.what == write::kind::put ? &op.document : nullptr, *state,
                                  op.ttl_seconds, nats_.max_payload() - kWriteHeaderAllowance);
  if (!event.ok()) return complete(token, event.error());
  op.headers.insert(op.headers.end(), event->headers.begin(), event->headers.end());
  op.document.clear();  // the payload holds it; a republish takes it from there
  op.document.shrink_to_fit();
  op.subject = std::move(event->subject);
  op.payload = std::move(event->payload);
  send(token);
}

void write_pipeline::republish(uint64_t token) {
  auto node = writes_.extract(token);
  if (node.empty()) return;
  uint64_t fresh = next_token_++;
  node.key() = fresh;
  auto& op = node.mapped();
  if (op.what == write::kind::put && op.document.empty())
    op.document = std::string(protocol::put_payload_document(op.payload));
  op.attempts = 0;
  op.published = false;
  op.retry_at.reset();
  op.ack_deadline.reset();
  if (auto queue = keys_.find(op.key); queue != keys_.end() && queue->second.active == token)
    queue->second.active = fresh;
  writes_.insert(std::move(node));
  publish(fresh);
}

void write_pipeline::refused(uint64_t token, std::optional<uint64_t> last) {
  auto& op = writes_.at(token);
  op.ack_deadline.reset();
  op.retry_at.reset();
  op.waiting = true;
  if (!op.condition.conditional()) op.learned_subject_seq = last;
  auto again = [this, token](const status& st) {
    auto it = writes_.find(token);
    if (it == writes_.end()) return;  // timed out meanwhile
    it->second.waiting = false;
    if (!st.ok()) return complete(token, st);
    // The replica holds what JetStream had when it refused: a failing condition is a conflict.
    it->second.verified = true;
    republish(token);
  };
  // A put is computed again once the replica holds what JetStream found. A refusal's sequence
  // may come from a leader that was replaced while paused (its check runs before replication),
  // so a condition, which may fail on what the replica then holds, is judged again only after a
  // consistent wait; so is a put when the refusal named no sequence, or an empty PUT subject.
  if (last && *last > 0 && !op.condition.conditional())
    replica_.await_sequence(*last, std::move(again));
  else
    replica_.await_consistency(std::move(again));
}

void write_pipeline::send(uint64_t token) {
  auto& op = writes_.at(token);
  ++op.attempts;
  if (op.attempts > 1)
    EB_LOG_DEBUG("stream", "'" << config_.stream << "': write attempt " << op.attempts << " of '"
                               << op.key << "' after: " << op.last_failure.message());
  op.retry_at.reset();
  op.ack_deadline = std::min(op.deadline, now_() + config_.ack_timeout);
  note_wake(*op.ack_deadline);
  // The same id on every attempt: JetStream keeps one of them (its duplicate window).
  nats::headers hdrs{{"Nats-Msg-Id", config_.writer_id + "." + std::to_string(token)}};
  hdrs.insert(hdrs.end(), op.headers.begin(), op.headers.end());
  auto st = nats_.publish(op.subject, op.payload, config_.ack_prefix + std::to_string(token), hdrs);
  op.published = true;
  if (!st.ok()) complete(token, st);  // closed for good, or the reconnect buffer is full
}

void write_pipeline::failed(uint64_t token, status why) {
  auto& op = writes_.at(token);
  op.last_failure = why;
  op.ack_deadline.reset();
  auto at = now_() + backoff_delay(op.attempts);
  if (at >= op.deadline) return complete(token, why);
  op.retry_at = at;
  note_wake(at);
}

void write_pipeline::note_wake(time_point at) {
  if (!wake_bound_ || at < *wake_bound_) wake_bound_ = at;
}

void write_pipeline::on_ack(const inbound& ack) {
  auto it = writes_.find(ack.token);
  if (it == writes_.end()) return;  // completed already: applied before its ack arrived
  auto& op = it->second;
  if (op.applied || op.ack_seq != 0) return;  // acknowledged already (by an earlier attempt)
  if (ack.msg.status == 503)  // no responders: nothing subscribes to the stream's subjects
    return failed(ack.token, status(errc::unavailable,
                                    "stream '" + config_.stream +
                                        "' has no JetStream leader (election in progress?) or "
                                        "no longer exists"));
  // Parsed first: every write gets an acknowledgement (read without a JSON tree), and only a
  // refusal needs the second look that tells a passing error from a lasting one.
  auto parsed = js::parse_pub_ack(ack.msg.data);
  if (!parsed.ok()) {
    if (auto wrong = js::parse_wrong_sequence(ack.msg.data)) return refused(ack.token, wrong->last);
    if (js::is_transient_error(ack.msg.data)) return failed(ack.token, parsed.error());
    return complete(ack.token, parsed.error());
  }
  op.ack_deadline.reset();
  op.retry_at.reset();
  op.ack_seq = parsed->sequence;
  acked_.emplace(op.ack_seq, ack.token);
  // Already passed: its event never reached this node, compaction replaced it first. Or the
  // stream lost events the replica applied and gave their sequences to new ones (nats-server
  // 2.9 after a leader's kill): a consistent wait asks for the stream's end, which finds that
  // out (the replica is then rebuilt) before the write is answered from the replica.
  if (replica_.consistent() >= op.ack_seq)
    replica_.await_consistency([this](const status&) { on_replica_advanced(); });
}

void write_pipeline::on_replica_advanced() {
  uint64_t consistent = replica_.consistent();
  while (!acked_.empty() && acked_.begin()->first <= consistent) {
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
    on_applied(token, it->second.ack_seq, record);
  }
}

void write_pipeline::on_applied(uint64_t token, uint64_t seq, const std::string& record) {
  auto it = writes_.find(token);
  if (it == writes_.end()) return;  // timed out meanwhile
  auto& op = it->second;
  if (op.ack_seq != 0) acked_.erase(op.ack_seq);
  if (op.what == write::kind::put) return complete(token, status::OK(), record);
  // A stream with history keeps the key's PUTs before its DELETE.
  if (per_subject_limit_ > 1) return complete(token, status::OK(), {}, 0);
  // The DELETE is applied here; now remove the key's PUT messages before it from the stream
  // (a PUT after it, from another node, stays).
  op.applied = true;
  api_.call(js::stream_purge_subject(config_.stream),
            js::purge_request(protocol::put_subject(config_.stream, op.key), std::nullopt, seq),
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
  held_bytes_ -= op.held_bytes;
  if (writes_.empty()) wake_bound_.reset();
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
    stats_.publish(protocol::stats_operation::put, op.key, std::nullopt, op.started);
    // A stream created by the JS library keeps every message: compact as the JS library does.
    if (per_subject_limit_ <= 0)
      nats_.publish(js::stream_purge_subject(config_.stream),
                    js::purge_request(protocol::put_subject(config_.stream, op.key), 1));
    return op.put_finished(record);
  }
  if (!st.ok()) return op.erase_finished(st);
  stats_.publish(protocol::stats_operation::erase, op.key, std::nullopt, op.started);
  op.erase_finished(purged);
}

void write_pipeline::expire() {
  auto now = now_();
  // The earliest of a write's deadline, retry time and acknowledgement deadline.
  auto due_at = [](const write& op) {
    auto at = op.deadline;
    if (op.retry_at) at = std::min(at, *op.retry_at);
    if (op.ack_deadline) at = std::min(at, *op.ack_deadline);
    return at;
  };
  std::vector<uint64_t> due;
  for (auto& [token, op] : writes_)
    if (now >= due_at(op)) due.push_back(token);
  for (auto token : due) {
    auto it = writes_.find(token);
    if (it == writes_.end()) continue;
    auto& op = it->second;
    if (now < op.deadline) {
      // Due for a retry, or no acknowledgement came: the publish or its answer was lost (a
      // server went away). Either way, again.
      if (!op.retry_at)
        op.last_failure = status(errc::timeout, "no acknowledgement from JetStream");
      send(token);
      continue;
    }
    std::string what;
    if (op.waiting)
      what =
          "the write waited for this node's replica to catch up with the stream (to judge its "
          "condition, or after another write came first), and it did not in time";
    else if (!op.published)
      what = "the write waited for earlier writes of its key";
    else if (op.ack_seq != 0)
      what = "JetStream stored the write (sequence " + std::to_string(op.ack_seq) +
             ") but this node's replica has not applied it (is its consumer stalled?)";
    else if (!op.last_failure.ok())
      what = "the write was not confirmed: " + op.last_failure.message();
    else
      what = "no confirmation from JetStream";
    complete(token, status(errc::timeout, what + "; " + std::to_string(op.attempts) +
                                              " attempt(s) within " +
                                              std::to_string(config_.timeout.count()) +
                                              " ms; it may still be applied later"));
  }
  // Exact again, over the writes left and the times the attempts above set.
  wake_bound_.reset();
  for (auto& [token, op] : writes_) note_wake(due_at(op));
}

std::optional<write_pipeline::time_point> write_pipeline::next_wake() const {
  return wake_bound_;
}

void write_pipeline::fail_all(const status& why) {
  keys_.clear();
  acked_.clear();
  held_bytes_ = 0;
  wake_bound_.reset();
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
