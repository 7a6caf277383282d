// Watches that the replica keeps up with the stream and agrees with it (internal to actors/),
// and says when it must be repaired.
//
// Two failures no consumer reports by itself (seen with nats-server 2.9 after server kills and
// leader changes; nats-server#5576 is one of its stream-replica drift bugs):
//   - a stalled consumer: it answers pull requests with idle heartbeats, so it counts as alive,
//     but it delivers nothing although the stream has moved on (its server's copy of the stream
//     stopped, or lags for good). The replica stays behind for ever and consistent reads fail.
//   - a divergent copy: the server the consumer read from held other messages at the sequences
//     the replica applied than the stream's leader holds now. The replica then holds data the
//     stream never had (or lacks data it has).
// So, whenever the replica has been quiet for an interval (nothing applied), the auditor asks
// the stream's leader for the stream's last sequence; if the stream is ahead while the
// consumer, which exists, delivered nothing, the consumer is stalled: recreate it (JetStream
// places a new one on a server it picks anew); the same question also finds a stream that ends
// before what the replica applied (its owner rebuilds the replica then, read_barrier.hpp). The
// interval doubles while stalls repeat (a
// stream whose last messages were removed is ahead for ever), up to 16 times. And once per
// position the replica rests at, it reads the message at the last applied sequence from the
// leader (MSG.GET) and compares it with what was applied: a difference means the replica was
// built from a divergent copy, and it must be rebuilt from the stream.
//
// Decisions only: the owner (the stream actor) asks JetStream through `ask_stream_last` and
// acts through `recreate_consumer` and `rebuild`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "actors/jetstream_client.hpp"
#include "eventbase/status.hpp"

namespace eventbase::actors {

class replica_auditor {
 public:
  using time_point = jetstream_client::time_point;

  struct settings {
    std::string stream;
    std::chrono::milliseconds interval{5000};  // 0: never audit
  };

  struct actions {
    /// Asks JetStream for the stream's last sequence; the answer arrives later.
    std::function<void(std::function<void(result<uint64_t>)>)> ask_stream_last;
    std::function<void(const std::string& why)> recreate_consumer;
    std::function<void(const std::string& why)> rebuild;
  };

  replica_auditor(settings config, jetstream_client& api, jetstream_client::clock now, actions act);

  /// The replica applied the message at `seq` on `subject` with `payload` (the last of a
  /// batch is enough).
  void on_applied(uint64_t seq, std::string_view subject, std::string_view payload);

  /// Audits when due: `applied` is the replica's applied sequence, `consumer_active` whether
  /// a consumer exists (one being created cannot be stalled).
  void tick(uint64_t applied, bool consumer_active);

  /// When tick has something to do next; nullopt when auditing is off.
  std::optional<time_point> next_wake() const;

  /// The replica was cleared to be rebuilt: forget what it applied.
  void reset();

  uint64_t stalls() const { return stalls_; }
  uint64_t rebuilds() const { return rebuilds_; }

  /// 64-bit FNV-1a of a message's subject and payload: what the comparison compares.
  static uint64_t digest(std::string_view subject, std::string_view payload);

 private:
  void check_stall(uint64_t applied);
  void check_content();

  settings config_;
  jetstream_client& api_;
  jetstream_client::clock now_;
  actions act_;

  time_point next_audit_;
  int backoff_ = 0;                // doublings of the interval after repeated stalls
  uint64_t applied_at_audit_ = 0;  // the applied sequence at the previous audit
  bool asking_ = false;            // a question about the stream's end is under way
  bool reading_ = false;           // a MSG.GET is under way
  uint64_t last_seq_ = 0;          // the last message applied, and its digest
  uint64_t last_digest_ = 0;
  uint64_t checked_seq_ = 0;  // the last applied message compared with the leader's
  uint64_t stalls_ = 0;
  uint64_t rebuilds_ = 0;
};

}  // namespace eventbase::actors
