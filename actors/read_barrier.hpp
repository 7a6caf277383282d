// Waiting for the replica to be exact up to a sequence (internal to actors/): consistent reads,
// and anything else that must not answer from a replica behind a given sequence.
//
// A consistent read must reflect every write JetStream acknowledged before the read began,
// through any node. It asks the stream's leader for the stream's last sequence L (STREAM.INFO,
// asked after the read began) and proceeds once the replica's consistent sequence C
// (replica_horizon.hpp) reaches L: the replica then holds the effect of every event up to L,
// including those compaction replaced by later events (waiting for the applied sequence
// instead returned stale values). Reads that begin while a STREAM.INFO is in flight wait for
// the next one, asked when it returns (an answer asked before a read began could miss writes
// it must see): a burst of reads costs at most two calls to JetStream.
//
// Only an answer from a leader that heard from a quorum of the stream's servers within the last
// 3 s counts (protocol::jetstream::from_current_leader): a leader that was paused, and replaced
// meanwhile, answers with its old state for a moment after it wakes. Reads then wait for an
// answer asked again 200 ms later. (Found by the cluster history checker, tests/cluster.)
//
// Every answer to STREAM.INFO also bounds the replica's open gaps (replica_horizon). When
// something waits for C and only open gaps hold it back (the applied sequence has passed the
// target), the barrier asks once more so that the gaps resolve even when the consumer never
// runs dry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/jetstream_client.hpp"
#include "actors/replica_horizon.hpp"
#include "eventbase/status.hpp"

namespace eventbase::actors {

class read_barrier {
 public:
  using time_point = jetstream_client::time_point;
  /// Runs once: ok to proceed, or why not (timeout, unavailable, closed).
  using proceed = std::function<void(const status&)>;

  struct settings {
    std::string stream;
    std::chrono::milliseconds timeout{10000};
  };

  /// `stream_last` learns every last sequence JetStream tells (trusted answers only), with the
  /// sequence the replica had applied when the question was asked: a last sequence below that
  /// means the stream no longer holds events the replica applied. `behind` says why the
  /// replica may be behind, for a timeout's message ("" when nothing is known).
  using stream_last_fn = std::function<void(uint64_t last, uint64_t applied_when_asked)>;
  read_barrier(settings config, jetstream_client& api, replica_horizon& horizon,
               jetstream_client::clock now, stream_last_fn stream_last,
               std::function<std::string()> behind);

  /// Proceeds once the replica reflects every write acknowledged before this call.
  void await_consistency(proceed go);

  /// Proceeds once the replica is exact up to `seq`; `what` names the wait in a timeout.
  void await_sequence(uint64_t seq, std::string what, proceed go);

  /// Asks JetStream for the stream's last sequence (unless a question is in flight already);
  /// `answered`, when given, gets the answer or why there is none.
  void ask(std::function<void(result<uint64_t>)> answered = {});

  /// Releases the waits the replica has reached, fails those past their deadline, and asks
  /// for the stream's last sequence when only open gaps hold back a wait, of its own or the
  /// caller's (`also_waiting_for`: the lowest sequence something else waits for). Call it after
  /// every change of the replica and on every tick.
  void check(std::optional<uint64_t> also_waiting_for = std::nullopt);

  /// The earliest deadline of a wait; nullopt when nothing waits.
  std::optional<time_point> next_wake() const;

  /// Ends every wait with `why`.
  void fail_all(const status& why);

  bool empty() const { return waits_.empty(); }

 private:
  struct wait {
    std::optional<uint64_t> target;  // unset until JetStream said the stream's last sequence
    time_point deadline;
    std::string what;
    proceed go;
  };

  void on_answer(uint64_t ticket, uint64_t applied_when_asked, const std::vector<uint64_t>& reads,
                 result<std::string> reply);

  settings config_;
  jetstream_client& api_;
  replica_horizon& horizon_;
  jetstream_client::clock now_;
  stream_last_fn stream_last_;
  std::function<std::string()> behind_;

  uint64_t next_id_ = 1;
  std::map<uint64_t, wait> waits_;         // deadlines increase with ids
  std::vector<uint64_t> awaiting_answer_;  // reads that need the next STREAM.INFO
  bool in_flight_ = false;
  std::optional<time_point> ask_again_at_;  // after an answer of a leader that was not current
  std::vector<std::function<void(result<uint64_t>)>> askers_;  // of the question in flight
};

}  // namespace eventbase::actors
