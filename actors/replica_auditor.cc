// replica_auditor (see replica_auditor.hpp).
#include "actors/replica_auditor.hpp"

#include <algorithm>

#include "eventbase/log.hpp"
#include "protocol/jetstream.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

namespace {

constexpr int kMaxBackoff = 4;  // the interval at most 16 times longer

}  // namespace

replica_auditor::replica_auditor(settings config, jetstream_client& api,
                                 jetstream_client::clock now, actions act)
    : config_(std::move(config)), api_(api), now_(std::move(now)), act_(std::move(act)) {
  next_audit_ = now_() + config_.interval;
}

uint64_t replica_auditor::digest(std::string_view subject, std::string_view payload) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(subject);
  mix(std::string_view("\0", 1));
  mix(payload);
  return h;
}

void replica_auditor::on_applied(uint64_t seq, std::string_view subject, std::string_view payload) {
  if (config_.interval.count() <= 0 || seq <= last_seq_) return;
  last_seq_ = seq;
  last_digest_ = digest(subject, payload);
}

void replica_auditor::reset() {
  last_seq_ = last_digest_ = checked_seq_ = applied_at_audit_ = 0;
  backoff_ = 0;
}

std::optional<replica_auditor::time_point> replica_auditor::next_wake() const {
  if (config_.interval.count() <= 0) return std::nullopt;
  return next_audit_;
}

void replica_auditor::tick(uint64_t applied, bool consumer_active) {
  if (config_.interval.count() <= 0) return;
  auto now = now_();
  if (now < next_audit_) return;
  bool quiet = applied == applied_at_audit_;
  applied_at_audit_ = applied;
  if (!quiet) backoff_ = 0;  // the replica moves: no consumer is stalled
  next_audit_ = now + config_.interval * (1 << backoff_);
  if (!quiet) return;
  if (consumer_active) check_stall(applied);
  check_content();
}

void replica_auditor::check_stall(uint64_t applied) {
  if (asking_) return;
  asking_ = true;
  act_.ask_stream_last([this, applied](result<uint64_t> last) {
    asking_ = false;
    // A stream ending before the replica is not a stall: the owner, which learns every answer
    // to STREAM.INFO (read_barrier), rebuilds the replica.
    if (!last.ok() || *last <= applied || applied_at_audit_ != applied) {
      if (last.ok()) backoff_ = 0;
      return;
    }
    ++stalls_;
    backoff_ = std::min(backoff_ + 1, kMaxBackoff);
    act_.recreate_consumer("the replica is at sequence " + std::to_string(applied) +
                           " but the stream at " + std::to_string(*last) +
                           ", and the consumer delivered nothing for " +
                           std::to_string(config_.interval.count()) + " ms (stalled)");
  });
}

void replica_auditor::check_content() {
  if (reading_ || last_seq_ == 0 || checked_seq_ == last_seq_) return;
  reading_ = true;
  uint64_t seq = last_seq_, expected = last_digest_;
  api_.call(js::stream_msg_get_subject(config_.stream), js::msg_get_request(seq),
            [this, seq, expected](result<std::string> reply) {
              reading_ = false;
              auto stored = reply.ok() ? js::parse_stored_message(*reply)
                                       : result<js::stored_message>(reply.error());
              if (!stored.ok()) {
                // Removed since (compaction: a later message replaced it): nothing to compare.
                if (stored.error().code() == errc::not_found) checked_seq_ = seq;
                return;
              }
              checked_seq_ = seq;
              if (digest(stored->subject, stored->data) == expected) return;
              ++rebuilds_;
              act_.rebuild("the message at sequence " + std::to_string(seq) +
                           " is not the one this replica applied (the stream's leader holds " +
                           stored->subject + "): the replica was built from a divergent copy");
            });
}

}  // namespace eventbase::actors
