// batch_writer (see batch_writer.hpp).
#include "actors/batch_writer.hpp"

#include "actors/backoff.hpp"
#include "eventbase/log.hpp"
#include "nats/server_settings.hpp"
#include "nats/transport.hpp"
#include "protocol/batch.hpp"
#include "protocol/event.hpp"
#include "protocol/jetstream.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

batch_writer::batch_writer(settings config, nats::transport& nats, jetstream_client& api,
                           const storage::stream_store& store, jetstream_client::clock now,
                           write_pipeline::replica_view replica)
    : config_(std::move(config)),
      nats_(nats),
      api_(api),
      store_(store),
      now_(std::move(now)),
      replica_(std::move(replica)) {}

void batch_writer::submit(std::vector<batch_op> ops, done_fn done) {
  // An older server would ignore the batch headers and store each message on its own.
  auto release = nats_.server_release();
  if (!release || *release < nats::kAtomicBatchSince)
    return done(status(errc::unavailable,
                       "atomic batches need nats-server 2.12 or newer (this one is " +
                           (release ? release->to_string() : std::string("of unknown version")) +
                           ")"));
  if (auto st = protocol::validate_batch(ops); !st.ok()) return done(st);
  if (queued_.size() >= config_.max_queued)
    return done(status(errc::unavailable, "stream '" + config_.stream + "' has " +
                                              std::to_string(queued_.size()) +
                                              " batches waiting, its maximum: try again later"));
  batch b;
  b.ops = std::move(ops);
  b.done = std::move(done);
  b.deadline = now_() + config_.timeout;
  queued_.push_back(std::move(b));
  if (!active_) start_next();
}

void batch_writer::start_next() {
  while (!active_ && !queued_.empty()) {
    active_ = std::move(queued_.front());
    queued_.pop_front();
    ++generation_;
    if (now_() >= active_->deadline) {
      complete(status(errc::timeout, "the batch waited for earlier batches of the stream"));
      continue;
    }
    publish();
  }
}

void batch_writer::publish() {
  auto& b = *active_;
  b.token = 0;
  b.ack_deadline.reset();
  b.retry_at.reset();
  b.erased.clear();
  // A write's headers and the batch's own (about 100 bytes) within max_payload.
  int64_t limit = nats_.max_payload() - kWriteHeaderAllowance - 128;
  std::vector<write_event> messages;
  messages.reserve(b.ops.size());
  for (const auto& op : b.ops) {
    auto state = read_key_state(store_, op.key);
    if (!state.ok()) return complete(state.error());
    if (op.condition.conditional()) {
      auto failure = condition_failure(op.key, op.condition, *state);
      if (!failure.empty()) {
        if (b.verified) return complete(status(errc::conflict, failure));
        // Judged on a replica that may be behind: judged again once it is current.
        b.waiting = true;
        replica_.await_consistency([this, gen = generation_](const status& st) {
          if (!active_ || gen != generation_) return;
          active_->waiting = false;
          if (!st.ok()) return complete(st);
          active_->verified = true;
          publish();
        });
        return;
      }
    }
    auto m = encode_write_event(config_.stream, op.key,
                                op.what == batch_op::kind::put ? &op.data : nullptr, *state,
                                op.ttl_seconds, limit);
    if (!m.ok()) return complete(m.error());
    if (op.what == batch_op::kind::erase) b.erased.push_back(op.key);
    messages.push_back(std::move(*m));
  }
  // Stored only if nothing was written since what this replica applied (see the header).
  messages.front().headers.emplace_back(js::kExpectedLastSequence,
                                        std::to_string(store_.applied_sequence()));
  std::string id = config_.batch_prefix + "." + std::to_string(next_id_++);
  b.ids.insert(id);
  b.token = next_token_++;
  ++b.attempts;
  if (b.attempts > 1)
    EB_LOG_DEBUG("stream", "'" << config_.stream << "': batch attempt " << b.attempts
                               << " after: " << b.last_failure.message());
  for (size_t i = 0; i < messages.size(); ++i) {
    auto& m = messages[i];
    bool last = i + 1 == messages.size();
    m.headers.emplace_back(js::kBatchIdHeader, id);
    m.headers.emplace_back(js::kBatchSequenceHeader, std::to_string(i + 1));
    if (last) m.headers.emplace_back(js::kBatchCommitHeader, "1");
    // Only the commit is answered: a refusal of any message refuses the commit too.
    auto st = nats_.publish(m.subject, m.payload,
                            last ? config_.ack_prefix + std::to_string(b.token) : std::string(),
                            m.headers);
    if (!st.ok()) return complete(st);  // closed for good, or the reconnect buffer is full
  }
  b.ack_deadline = std::min(b.deadline, now_() + config_.ack_timeout);
}

void batch_writer::on_ack(const inbound& ack) {
  if (!active_ || ack.token != active_->token || active_->ack_seq != 0) return;
  auto& b = *active_;
  b.ack_deadline.reset();
  if (ack.msg.status == 503)
    return failed(status(errc::unavailable, "stream '" + config_.stream +
                                                "' has no JetStream leader (election in "
                                                "progress?) or no longer exists"));
  auto parsed = js::parse_pub_ack(ack.msg.data);
  if (!parsed.ok()) {
    if (auto wrong = js::parse_wrong_sequence(ack.msg.data)) return refused(wrong->last);
    if (js::api_error_code(ack.msg.data) == js::kAtomicPublishDisabled && !b.enabled_atomic)
      return enable_atomic();
    if (js::is_transient_error(ack.msg.data)) return failed(parsed.error());
    return complete(
        status(parsed.error().code(), "JetStream refused the batch: " + parsed.error().message()));
  }
  b.ack_seq = parsed->sequence;
  b.token = 0;
  on_replica_advanced();  // compaction may have replaced its events before they arrived
}

void batch_writer::on_applied(const std::string& batch_id, uint64_t last_seq) {
  if (!active_ || active_->ids.count(batch_id) == 0) return;
  complete(batch_result{active_->ops.size(), last_seq});
}

void batch_writer::on_replica_advanced() {
  if (!active_ || active_->ack_seq == 0) return;
  if (replica_.consistent() >= active_->ack_seq)
    complete(batch_result{active_->ops.size(), active_->ack_seq});
}

void batch_writer::failed(status why) {
  auto& b = *active_;
  b.last_failure = why;
  b.token = 0;
  auto at = now_() + backoff_delay(b.attempts);
  if (at >= b.deadline) return complete(why);
  b.retry_at = at;
}

void batch_writer::refused(std::optional<uint64_t> last) {
  auto& b = *active_;
  b.token = 0;
  b.waiting = true;
  auto again = [this, gen = generation_](const status& st) {
    if (!active_ || gen != generation_) return;  // applied meanwhile (a lost acknowledgement)
    active_->waiting = false;
    if (!st.ok()) return complete(st);
    active_->verified = true;
    active_->last_failure = status(errc::conflict, "another write came first");
    publish();
  };
  bool conditional = false;
  for (const auto& op : b.ops) conditional = conditional || op.condition.conditional();
  // As write_pipeline::refused: a condition is judged again only after a consistent wait.
  if (last && *last > 0 && !conditional)
    replica_.await_sequence(*last, std::move(again));
  else
    replica_.await_consistency(std::move(again));
}

void batch_writer::enable_atomic() {
  auto& b = *active_;
  b.enabled_atomic = true;
  b.waiting = true;
  b.token = 0;
  EB_LOG_INFO("stream", "'" << config_.stream << "': allowing atomic batches on the stream");
  auto gen = generation_;
  api_.call(js::stream_info_subject(config_.stream), "", [this, gen](result<std::string> info) {
    if (!active_ || gen != generation_) return;
    auto update = info.ok() ? js::allow_atomic_request(*info) : result<std::string>(info.error());
    if (!update.ok()) return complete(update.error());
    api_.call(
        js::stream_update_subject(config_.stream), *update, [this, gen](result<std::string> reply) {
          if (!active_ || gen != generation_) return;
          active_->waiting = false;
          status st = reply.error();
          if (st.ok()) {
            if (auto updated = js::parse_stream_info(*reply); !updated.ok()) st = updated.error();
          }
          if (!st.ok())
            return complete(status(errc::unavailable, "cannot allow atomic batches on stream '" +
                                                          config_.stream + "': " + st.message()));
          publish();
        });
  });
}

void batch_writer::expire() {
  if (!active_) return;
  auto now = now_();
  auto& b = *active_;
  if (now >= b.deadline) {
    std::string what =
        b.ack_seq != 0 ? "JetStream stored the batch (last sequence " + std::to_string(b.ack_seq) +
                             ") but this node's replica has not applied it"
        : b.waiting ? "the batch waited for this node's replica to catch up with the stream"
        : !b.last_failure.ok() ? "the batch was not confirmed: " + b.last_failure.message()
                               : "no confirmation from JetStream";
    return complete(status(errc::timeout, what + "; " + std::to_string(b.attempts) +
                                              " attempt(s) within " +
                                              std::to_string(config_.timeout.count()) +
                                              " ms; it may still be applied later"));
  }
  if ((b.retry_at && now >= *b.retry_at) || (b.ack_deadline && now >= *b.ack_deadline)) {
    // Due for a retry, or the commit's answer was lost: again. If the first copy was stored,
    // the copy is refused (its expected last sequence), and the replica brings the first.
    if (!b.retry_at) b.last_failure = status(errc::timeout, "no acknowledgement from JetStream");
    publish();
  }
}

std::optional<batch_writer::time_point> batch_writer::next_wake() const {
  if (!active_) return std::nullopt;
  auto at = active_->deadline;
  if (active_->retry_at) at = std::min(at, *active_->retry_at);
  if (active_->ack_deadline) at = std::min(at, *active_->ack_deadline);
  return at;
}

void batch_writer::complete(result<batch_result> outcome) {
  if (!active_) return;
  auto b = std::move(*active_);
  active_.reset();
  ++generation_;
  if (outcome.ok()) {
    // Compaction, as a single write does it (write_pipeline.hpp): on a stream without history
    // a deleted key's PUTs before its DELETE go, on a JS library's stream a put key's older
    // PUTs. Not awaited: the replica holds the batch already, and a purge that fails leaves
    // only older events, which every replica applies before the DELETE.
    if (per_subject_limit_ == 1) {
      for (const auto& key : b.erased)
        nats_.publish(js::stream_purge_subject(config_.stream),
                      js::purge_request(protocol::put_subject(config_.stream, key), std::nullopt,
                                        outcome->revision));
    } else if (per_subject_limit_ <= 0) {
      for (const auto& op : b.ops)
        if (op.what == batch_op::kind::put)
          nats_.publish(js::stream_purge_subject(config_.stream),
                        js::purge_request(protocol::put_subject(config_.stream, op.key), 1));
    }
  }
  b.done(std::move(outcome));
  start_next();
}

void batch_writer::fail_all(const status& why) {
  auto queued = std::move(queued_);
  queued_.clear();
  if (active_) {
    auto b = std::move(*active_);
    active_.reset();
    ++generation_;
    b.done(why);
  }
  for (auto& b : queued) b.done(why);
}

}  // namespace eventbase::actors
