// jetstream_client (see jetstream_client.hpp).
#include "actors/jetstream_client.hpp"

#include <vector>

namespace eventbase::actors {

jetstream_client::jetstream_client(nats::transport& nats, std::string reply_prefix,
                                   std::chrono::milliseconds timeout, clock now)
    : nats_(nats),
      reply_prefix_(std::move(reply_prefix)),
      timeout_(timeout),
      now_(std::move(now)) {}

void jetstream_client::call(const std::string& subject, const std::string& body, completion done) {
  uint64_t token = next_token_++;
  calls_.emplace(token, pending{subject, now_() + timeout_, std::move(done)});
  auto st = nats_.publish(subject, body, reply_prefix_ + std::to_string(token));
  if (!st.ok()) finish(token, st);
}

void jetstream_client::on_reply(uint64_t token, const nats::message& msg) {
  auto it = calls_.find(token);
  if (it == calls_.end()) return;
  // A status-only reply: 503 is NATS' "no responders" (no JetStream server took the request).
  if (msg.status == 503) {
    finish(token, status(errc::unavailable, "no JetStream server answered " + it->second.subject +
                                                " (no responders: is JetStream enabled?)"));
    return;
  }
  finish(token, msg.data);
}

void jetstream_client::expire() {
  auto now = now_();
  std::vector<uint64_t> late;
  for (auto& [token, call] : calls_)
    if (now >= call.deadline) late.push_back(token);
  for (auto token : late) {
    auto it = calls_.find(token);
    if (it == calls_.end()) continue;  // a completion ran meanwhile and ended it another way
    finish(token, status(errc::timeout, "no reply from JetStream to " + it->second.subject +
                                            " within " + std::to_string(timeout_.count()) + " ms"));
  }
}

void jetstream_client::finish(uint64_t token, result<std::string> outcome) {
  auto node = calls_.extract(token);
  if (node.empty()) return;
  node.mapped().done(std::move(outcome));  // may call() again: the entry is gone already
}

}  // namespace eventbase::actors
