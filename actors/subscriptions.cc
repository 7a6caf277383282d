// subscription_set (see subscriptions.hpp).
#include "actors/subscriptions.hpp"

#include <algorithm>

#include <caf/actor_addr.hpp>

namespace eventbase::actors {

namespace {

// At most every this many changes to a subscription, one is a request whose reply acknowledges
// it and all before it.
constexpr uint64_t kAckInterval = 32;

}  // namespace

uint64_t subscription_set::add(protocol::glob filter, subscriber_actor subscriber) {
  uint64_t id = next_id_++;
  subscriptions_.emplace(id, subscription{std::move(filter), std::move(subscriber)});
  return id;
}

std::optional<subscriber_actor> subscription_set::remove(uint64_t id) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return std::nullopt;
  auto subscriber = std::move(it->second.subscriber);
  subscriptions_.erase(it);
  if (in_use(subscriber)) return std::nullopt;
  return subscriber;
}

void subscription_set::remove_subscriber(const caf::actor_addr& who) {
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();)
    it = it->second.subscriber.address() == who ? subscriptions_.erase(it) : std::next(it);
}

bool subscription_set::in_use(const subscriber_actor& who) const {
  for (auto& [id, sub] : subscriptions_)
    if (sub.subscriber == who) return true;
  return false;
}

bool subscription_set::matches_any(std::string_view key) const {
  for (auto& [id, sub] : subscriptions_)
    if (sub.filter.matches(key)) return true;
  return false;
}

std::vector<subscription_set::ended> subscription_set::dispatch(
    const change& c, const deliver_fn& deliver,
    const std::function<void(const protocol::glob&)>& sent) {
  uint64_t bytes = c.key.size() + c.record.size() + c.old_record.size() + c.event.size();
  // Acknowledged often enough that a small bound is not reached by changes merely in flight.
  const uint64_t ack_every = std::clamp<uint64_t>(limits_.max_pending / 4, 1, kAckInterval);
  std::vector<uint64_t> too_slow;
  for (auto& [id, sub] : subscriptions_) {
    if (!sub.filter.matches(c.key)) continue;
    if (sub.pending() + 1 > limits_.max_pending ||
        sub.pending_bytes() + bytes > limits_.max_pending_bytes) {
      too_slow.push_back(id);
      continue;
    }
    ++sub.sent;
    sub.sent_bytes += bytes;
    std::optional<ack_point> ack;
    if (sub.sent % ack_every == 0) ack = ack_point{id, sub.sent, sub.sent_bytes};
    deliver(sub.subscriber, c, ack);
    sent(sub.filter);
  }
  std::vector<ended> out;
  for (auto id : too_slow) {
    auto& sub = subscriptions_.at(id);
    ++slow_ended_;
    status why(errc::unavailable,
               "too slow: " + std::to_string(sub.pending()) + " changes outstanding (" +
                   std::to_string(sub.pending_bytes()) + " bytes) on stream '" + c.stream + "'");
    auto subscriber = sub.subscriber;
    bool left = remove(id).has_value();
    out.push_back(ended{id, std::move(subscriber), std::move(why), left});
  }
  return out;
}

void subscription_set::acknowledged(uint64_t id, uint64_t through, uint64_t through_bytes) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  it->second.acked = std::max(it->second.acked, through);
  it->second.acked_bytes = std::max(it->second.acked_bytes, through_bytes);
}

std::vector<subscriber_actor> subscription_set::clear() {
  std::vector<subscriber_actor> out;
  for (auto& [id, sub] : subscriptions_)
    if (std::find(out.begin(), out.end(), sub.subscriber) == out.end())
      out.push_back(sub.subscriber);
  subscriptions_.clear();
  return out;
}

}  // namespace eventbase::actors
