// subscription_set (see subscriptions.hpp).
#include "actors/subscriptions.hpp"

#include <algorithm>

#include <caf/actor_addr.hpp>
#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/record.hpp"

namespace eventbase::actors {

namespace {

// At most every this many changes to a subscription, one is a request whose reply acknowledges
// it and all before it.
constexpr uint64_t kAckInterval = 32;

uint64_t change_bytes(const change& c) {
  return c.key.size() + c.record.size() + c.old_record.size() + c.event.size();
}

}  // namespace

uint64_t subscription_set::add(protocol::glob filter, subscriber_actor subscriber, uint64_t after) {
  uint64_t id = next_id_++;
  subscription sub;
  sub.filter = std::move(filter);
  sub.after = after;
  sub.subscriber = std::move(subscriber);
  subscriptions_.emplace(id, std::move(sub));
  return id;
}

uint64_t subscription_set::add(protocol::filter filter, std::string text,
                               subscriber_actor subscriber) {
  uint64_t id = next_id_++;
  subscription sub;
  sub.query = std::move(filter);
  sub.query_text = std::move(text);
  sub.subscriber = std::move(subscriber);
  subscriptions_.emplace(id, std::move(sub));
  ++live_queries_;
  return id;
}

void subscription_set::erase(std::map<uint64_t, subscription>::iterator it) {
  if (it->second.query) --live_queries_;
  subscriptions_.erase(it);
}

std::optional<subscriber_actor> subscription_set::remove(uint64_t id) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return std::nullopt;
  auto subscriber = std::move(it->second.subscriber);
  erase(it);
  if (in_use(subscriber)) return std::nullopt;
  return subscriber;
}

void subscription_set::remove_subscriber(const caf::actor_addr& who) {
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    auto next = std::next(it);
    if (it->second.subscriber.address() == who) erase(it);
    it = next;
  }
}

bool subscription_set::in_use(const subscriber_actor& who) const {
  for (auto& [id, sub] : subscriptions_)
    if (sub.subscriber == who) return true;
  return false;
}

bool subscription_set::matches_any(std::string_view key) const {
  if (live_queries_ > 0) return true;  // a live query needs the old document of every change
  for (auto& [id, sub] : subscriptions_)
    if (sub.filter.matches(key)) return true;
  return false;
}

namespace {

/// The documents of a change, decoded once for all the live queries that match it.
class change_documents {
 public:
  explicit change_documents(const change& c) : c_(c) {}

  /// Whether the document before (`old`) or after the change matches `f`; false for an absent
  /// one.
  result<bool> matches(const protocol::filter& f, bool old) {
    auto& doc = old ? old_ : new_;
    if (!doc) {
      auto decoded = decode(old ? c_.old_record : c_.record);
      if (!decoded.ok()) return decoded.error();
      doc = std::move(*decoded);
    }
    if (!doc->has_value()) return false;
    return f.matches(**doc);
  }

 private:
  static result<std::optional<nlohmann::ordered_json>> decode(const std::string& record) {
    if (record.empty()) return std::optional<nlohmann::ordered_json>();
    auto view = protocol::decode_record(record);
    if (!view.ok()) return view.error();
    auto data = protocol::decode_document(view->data_msgpack);
    if (!data.ok()) return data.error();
    return std::optional<nlohmann::ordered_json>(std::move(*data));
  }

  const change& c_;
  std::optional<std::optional<nlohmann::ordered_json>> old_, new_;  // decoded when first needed
};

}  // namespace

std::vector<subscription_set::ended> subscription_set::dispatch(
    const change& c, const deliver_fn& deliver,
    const std::function<void(const std::string& pattern)>& sent) {
  uint64_t bytes = change_bytes(c);
  change_documents docs(c);
  std::vector<std::pair<uint64_t, status>> ending;
  for (auto& [id, sub] : subscriptions_) {
    if (c.sequence <= sub.after) continue;
    if (sub.query) {
      // Matched before or after the change: entering, inside, leaving or deleted.
      auto before = docs.matches(*sub.query, true);
      auto after = before.ok() && !*before ? docs.matches(*sub.query, false) : before;
      if (!after.ok()) {
        ending.emplace_back(
            id, status(errc::invalid_argument, "live query ended: matching the change of '" +
                                                   c.key + "' on stream '" + c.stream +
                                                   "' failed: " + after.error().message()));
        continue;
      }
      if (!*after) continue;
    } else if (!sub.filter.matches(c.key)) {
      continue;
    }
    if (auto why = offer(id, sub, c, bytes, deliver)) {
      ending.emplace_back(id, std::move(*why));
      continue;
    }
    sent(sub.query ? sub.query_text : sub.filter.pattern());
  }
  return end(std::move(ending));
}

std::vector<subscription_set::ended> subscription_set::deliver_to(uint64_t id, const change& c,
                                                                  const deliver_fn& deliver) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return {};
  std::vector<std::pair<uint64_t, status>> ending;
  if (auto why = offer(id, it->second, c, change_bytes(c), deliver))
    ending.emplace_back(id, std::move(*why));
  return end(std::move(ending));
}

std::optional<status> subscription_set::offer(uint64_t id, subscription& sub, const change& c,
                                              uint64_t bytes, const deliver_fn& deliver) {
  if (sub.pending() + 1 > limits_.max_pending ||
      sub.pending_bytes() + bytes > limits_.max_pending_bytes) {
    ++slow_ended_;
    return status(errc::unavailable,
                  "too slow: " + std::to_string(sub.pending()) + " changes outstanding (" +
                      std::to_string(sub.pending_bytes()) + " bytes) on stream '" + c.stream + "'");
  }
  // Acknowledged often enough that a small bound is not reached by changes merely in flight.
  const uint64_t ack_every = std::clamp<uint64_t>(limits_.max_pending / 4, 1, kAckInterval);
  ++sub.sent;
  sub.sent_bytes += bytes;
  std::optional<ack_point> ack;
  if (sub.sent % ack_every == 0) ack = ack_point{id, sub.sent, sub.sent_bytes};
  deliver(sub.subscriber, c, ack);
  return std::nullopt;
}

std::vector<subscription_set::ended> subscription_set::end(
    std::vector<std::pair<uint64_t, status>> ending) {
  std::vector<ended> out;
  for (auto& [id, why] : ending) {
    auto subscriber = subscriptions_.at(id).subscriber;
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
  live_queries_ = 0;
  return out;
}

}  // namespace eventbase::actors
