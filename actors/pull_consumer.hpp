// The replica's JetStream consumer (internal to actors/): an ephemeral pull consumer that starts
// right after the replica's last applied sequence and is recreated from there whenever it is
// lost (a reconnect, a gap in its sequence, deletion on the server, silence past the heartbeat
// rule), so that no event is skipped and none is applied twice.
//
// Flow control: at most two pull requests are outstanding, each for at most `batch` messages and
// `max_bytes` bytes; the owner asks for more (top_up) only after applying what arrived, so a
// replay of any length holds a bounded number of events in memory.
//
// Liveness: pull requests ask for an idle heartbeat every `heartbeat`; a consumer from which
// nothing (no event, no heartbeat, no status) has come for `missed_heartbeats` heartbeats is
// lost (its server died, or the server holding it was cut off) and is recreated at once. The
// replica counts as stale from then until it has caught up again.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "actors/inbound.hpp"
#include "actors/jetstream_client.hpp"
#include "eventbase/status.hpp"

namespace eventbase::actors {

class pull_consumer {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct settings {
    std::string stream;
    std::string pull_reply_prefix;  // pull request n of generation g replies to "<prefix>g.n"
    int64_t batch = 1024;
    int64_t max_bytes = int64_t{4} << 20;
    std::chrono::milliseconds expires{30000};
    std::chrono::milliseconds heartbeat{1000};
    int missed_heartbeats = 2;
    std::chrono::nanoseconds inactive_threshold{std::chrono::minutes(2)};
    int replicas = 1;  // of the consumer's state (consumer_create_request)
    std::chrono::milliseconds create_timeout{1000};  // per attempt; a lost one is sent again
  };

  /// `next_sequence` gives the stream sequence a new consumer starts at (the replica's applied
  /// sequence + 1); `stream_gone` runs when JetStream says the stream no longer exists.
  pull_consumer(settings config, nats::transport& nats, jetstream_client& api,
                jetstream_client::clock now, std::function<uint64_t()> next_sequence,
                std::function<void(const status&)> stream_gone);

  /// Deletes the current consumer, if any, and creates a new one at next_sequence().
  void reset(const std::string& why);

  /// True when `event` is the next delivery of the current consumer and is to be applied. A
  /// delivery of a replaced consumer is ignored; a gap in the consumer's sequence resets it.
  bool accept(const inbound& event);

  /// A status on a pull request's reply subject: heartbeat, expiry, or an error. True when it
  /// is an idle heartbeat of the current consumer while pulls are outstanding: the consumer has
  /// delivered everything its server holds.
  bool on_pull_status(const inbound& in);

  /// The current consumer's generation (bumped at each (re)creation; 0 before the first).
  uint64_t generation() const { return generation_; }

  /// Keeps two pull requests outstanding; renews those about to expire.
  void top_up();

  /// Recreates the consumer when it has been silent for three heartbeats, or when it could
  /// not be created and no creation is under way.
  void check_liveness();

  /// Deletes the consumer on the server (the owner stops); the server would drop it after its
  /// inactive threshold anyway.
  void stop();

  /// A consumer exists and is being pulled from.
  bool active() const { return !name_.empty(); }
  const std::string& name() const { return name_; }

  /// The stream's last sequence as far as this consumer knows (from its deliveries, or told by
  /// note_stream_sequence).
  uint64_t last_known_sequence() const { return last_known_seq_; }
  void note_stream_sequence(uint64_t seq) { last_known_seq_ = std::max(last_known_seq_, seq); }

  /// When something last came from the consumer (an event, a heartbeat, a status).
  time_point last_contact() const { return last_traffic_; }

  /// The consumer was lost and the replica has not caught up since.
  bool stale() const { return stale_; }

  /// When check_liveness next has something to decide; nullopt while no consumer exists.
  std::optional<time_point> next_wake() const;

 private:
  struct pull {
    uint64_t id;
    int64_t remaining;
    time_point expires;  // when JetStream drops it (not always with a 408 status: see top_up)
  };

  void on_created(uint64_t generation, result<std::string> reply);

  settings config_;
  nats::transport& nats_;
  jetstream_client& api_;
  jetstream_client::clock now_;
  std::function<uint64_t()> next_sequence_;
  std::function<void(const status&)> stream_gone_;

  std::string name_;                // of the current consumer; empty while (re)creating
  uint64_t generation_ = 0;         // bumped at each (re)creation
  bool creating_ = false;           // a creation of generation_ is under way
  uint64_t next_consumer_seq_ = 1;  // the consumer sequence expected next
  std::deque<pull> pulls_;
  uint64_t next_pull_id_ = 1;
  time_point last_traffic_{};
  uint64_t last_known_seq_ = 0;
  bool stale_ = false;
  // Rate limit of the "cannot create consumer" warning.
  std::optional<time_point> last_create_warning_;
  int unreported_creates_ = 0;
};

}  // namespace eventbase::actors
