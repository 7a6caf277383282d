// jetstream_client (see jetstream_client.hpp).
#include "actors/jetstream_client.hpp"

#include <vector>

#include "actors/backoff.hpp"
#include "eventbase/log.hpp"
#include "protocol/jetstream.hpp"

namespace eventbase::actors {

jetstream_client::jetstream_client(nats::transport& nats, std::string reply_prefix,
                                   std::chrono::milliseconds timeout, clock now)
    : nats_(nats),
      reply_prefix_(std::move(reply_prefix)),
      timeout_(timeout),
      now_(std::move(now)) {}

void jetstream_client::call(const std::string& subject, const std::string& body, completion done,
                            call_options options) {
  uint64_t token = next_token_++;
  pending call;
  call.subject = subject;
  call.body = body;
  call.options = options;
  call.deadline = now_() + timeout_;
  call.done = std::move(done);
  send(token, calls_.emplace(token, std::move(call)).first->second);
}

void jetstream_client::send(uint64_t token, pending& call) {
  auto now = now_();
  ++call.attempts;
  if (call.attempts > 1)
    EB_LOG_DEBUG("jetstream", call.subject << ": attempt " << call.attempts
                                           << " after: " << call.last_failure.message());
  call.retry_at.reset();
  auto attempt = call.options.attempt_timeout.count() > 0 ? call.options.attempt_timeout : timeout_;
  call.attempt_deadline = std::min(call.deadline, now + attempt);
  auto st = nats_.publish(call.subject, call.body, reply_prefix_ + std::to_string(token));
  // Not a passing failure: while reconnecting the client buffers what is published; it fails
  // only when the connection is closed for good or the buffer is full.
  if (!st.ok()) finish(token, st);
}

void jetstream_client::on_reply(uint64_t token, const nats::message& msg) {
  auto it = calls_.find(token);
  if (it == calls_.end() || it->second.retry_at) return;  // answered, or its attempt given up
  // A status-only reply: 503 is NATS' "no responders": no JetStream server took the request.
  if (msg.status == 503)
    return failed(token,
                  status(errc::unavailable, "no JetStream server answered " + it->second.subject +
                                                " (no responders: is JetStream enabled, "
                                                "and does the stream have a leader?)"));
  if (protocol::jetstream::is_transient_error(msg.data)) {
    auto reason = protocol::jetstream::parse_success(msg.data);  // the error as a status
    return failed(token, reason.ok() ? status(errc::unavailable, msg.data) : reason);
  }
  finish(token, msg.data);
}

void jetstream_client::failed(uint64_t token, status why) {
  auto& call = calls_.at(token);
  call.last_failure = why;
  last_failure_ = why;
  auto now = now_();
  if (call.options.retry) {
    auto at = now + backoff_delay(call.attempts);
    if (at < call.deadline) {
      call.retry_at = at;
      return;
    }
  }
  finish(token, why);
}

void jetstream_client::expire() {
  auto now = now_();
  std::vector<uint64_t> due;
  for (auto& [token, call] : calls_)
    if ((call.retry_at && now >= *call.retry_at) ||
        (!call.retry_at && now >= call.attempt_deadline))
      due.push_back(token);
  for (auto token : due) {
    auto it = calls_.find(token);
    if (it == calls_.end()) continue;  // a completion ran meanwhile and ended it another way
    auto& call = it->second;
    if (call.retry_at) {
      send(token, call);
    } else if (now < call.deadline && call.options.retry) {
      call.last_failure = status(errc::timeout, "no reply to " + call.subject);
      send(token, call);  // the attempt was lost: again, at once
    } else {
      std::string why = "no reply from JetStream to " + call.subject + " within " +
                        std::to_string(timeout_.count()) + " ms";
      if (!call.last_failure.ok() && call.last_failure.code() != errc::timeout)
        why += " (last: " + call.last_failure.message() + ")";
      finish(token, status(errc::timeout, why));
    }
  }
}

std::optional<jetstream_client::time_point> jetstream_client::next_wake() const {
  std::optional<time_point> out;
  for (auto& [token, call] : calls_) {
    auto at = call.retry_at ? *call.retry_at : call.attempt_deadline;
    if (!out || at < *out) out = at;
  }
  return out;
}

void jetstream_client::finish(uint64_t token, result<std::string> outcome) {
  auto node = calls_.extract(token);
  if (node.empty()) return;
  node.mapped().done(std::move(outcome));  // may call() again: the entry is gone already
}

}  // namespace eventbase::actors
