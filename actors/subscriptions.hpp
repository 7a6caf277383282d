// The subscriptions of one stream (internal to actors/): glob filters or live queries, their
// subscribers, and how far each subscriber is behind.
//
// A glob subscription gets the changes of the keys its glob matches. A live query (a filter,
// protocol/filter.hpp) gets every change whose document matched the filter before the change
// (its old record) or matches it after (its new record): documents entering the set, changing
// in it, leaving it, and deleted from it. When matching a change fails (a $regex hits its match
// limits, or a record cannot be decoded) the live query ends with that error
// (invalid_argument "live query ended: ..."), as a slow subscription does: its answer would be
// unknown, and a subscriber must not silently miss changes.
//
// A subscriber acknowledges the changes it handles, cumulatively: every ack-interval-th change
// to a subscription is sent as a request whose reply covers it and all before it (messages
// between two actors keep their order), the others as plain messages. A subscription that would
// have more than `max_pending` changes or `max_pending_bytes` bytes unacknowledged ends instead
// ("too slow"), so a stalled subscriber costs a bounded amount of memory.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "eventbase/actors.hpp"
#include "protocol/filter.hpp"
#include "protocol/glob.hpp"

namespace eventbase::actors {

class subscription_set {
 public:
  struct limits {
    uint64_t max_pending = 10000;
    uint64_t max_pending_bytes = uint64_t{64} << 20;
  };

  /// A change to be sent as a request; its reply is acknowledged(id, through, through_bytes).
  struct ack_point {
    uint64_t id;
    uint64_t through;
    uint64_t through_bytes;
  };

  /// Sends `c` to `to`: as a request when `ack` is set, else as a plain message.
  using deliver_fn = std::function<void(const subscriber_actor& to, const change& c,
                                        const std::optional<ack_point>& ack)>;

  /// A subscription that dispatch ended: too slow, or its live query failed on the change.
  struct ended {
    uint64_t id;
    subscriber_actor subscriber;
    status why;
    bool subscriber_left;  // the subscriber has no other subscription here
  };

  explicit subscription_set(limits bounds) : limits_(bounds) {}

  /// Adds a subscription; returns its id. With `after`, it gets only changes with a later
  /// sequence (a watch resumed from that revision; see deliver_to for what came before).
  uint64_t add(protocol::glob filter, subscriber_actor subscriber, uint64_t after = 0);

  /// Adds a live query for `filter`, given as `text` (what its stats name it by); returns its
  /// id.
  uint64_t add(protocol::filter filter, std::string text, subscriber_actor subscriber);

  /// Removes the subscription `id`; its subscriber when that has no other subscription here
  /// (to stop monitoring it), nullopt otherwise or when there is no such subscription.
  std::optional<subscriber_actor> remove(uint64_t id);

  bool contains(uint64_t id) const { return subscriptions_.count(id) != 0; }

  /// Removes every subscription of the actor at `who` (it went down).
  void remove_subscriber(const caf::actor_addr& who);

  /// Whether some subscription's filter matches `key` (so its changes need the old record);
  /// always true while there is a live query.
  bool matches_any(std::string_view key) const;

  /// Sends `c` to every matching subscription within its bounds (`sent` runs for each with its
  /// glob pattern or live query text, e.g. for stats); returns the subscriptions that ended
  /// because `c` would exceed them or their live query failed on it.
  std::vector<ended> dispatch(const change& c, const deliver_fn& deliver,
                              const std::function<void(const std::string& pattern)>& sent);

  /// Sends `c` to the subscription `id` alone, within its bounds (a change a resumed watch
  /// missed); what dispatch returns.
  std::vector<ended> deliver_to(uint64_t id, const change& c, const deliver_fn& deliver);

  /// The reply to an ack_point.
  void acknowledged(uint64_t id, uint64_t through, uint64_t through_bytes);

  /// Ends all; returns their subscribers, once each.
  std::vector<subscriber_actor> clear();

  size_t size() const { return subscriptions_.size(); }
  size_t live_queries() const { return live_queries_; }
  bool empty() const { return subscriptions_.empty(); }
  uint64_t slow_ended() const { return slow_ended_; }

 private:
  struct subscription {
    protocol::glob filter{""};              // of a glob subscription
    std::optional<protocol::filter> query;  // of a live query
    std::string query_text;
    subscriber_actor subscriber;
    uint64_t sent = 0;
    uint64_t sent_bytes = 0;
    uint64_t acked = 0;
    uint64_t acked_bytes = 0;
    uint64_t after = 0;  // changes up to this sequence are not for it
    uint64_t pending() const { return sent - acked; }
    uint64_t pending_bytes() const { return sent_bytes - acked_bytes; }
  };

  bool in_use(const subscriber_actor& who) const;
  // Sends `c` of `bytes` to `sub` unless that would exceed its bounds (then the reason).
  std::optional<status> offer(uint64_t id, subscription& sub, const change& c, uint64_t bytes,
                              const deliver_fn& deliver);
  std::vector<ended> end(std::vector<std::pair<uint64_t, status>> ending);
  void erase(std::map<uint64_t, subscription>::iterator it);

  limits limits_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, subscription> subscriptions_;
  uint64_t slow_ended_ = 0;
  size_t live_queries_ = 0;
};

}  // namespace eventbase::actors
