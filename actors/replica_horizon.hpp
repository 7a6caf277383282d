// How far the replica reflects the stream exactly (internal to actors/): its consistent
// sequence C, the highest sequence such that the replica holds the effect of every event of the
// stream up to C. Consistent reads, readiness and the completion of writes wait for C, not for
// the applied sequence A >= C.
//
// Why they differ: a consumer delivers only the messages the stream still holds. A message that
// was removed before the consumer reached it (compaction: a later message of the same subject
// replaced it; a purge) leaves a gap in the delivered sequences. What it said is then known only
// from its replacement, which has a higher sequence, possibly above A. Until that replacement is
// applied, the replica holds the key's older state although it has "applied" past the removed
// message: reading at A would return that older state (the stale consistent read of the issue
// "Linearizable across nodes").
//
// A gap at position a (the sequence applied before it) is resolved once every replacement of
// the messages it skipped is applied. The replacements' sequences are at most the stream's last
// sequence at the moment the consumer skipped them, so a gap is resolved by:
//   - a delivery with nothing pending, or an idle heartbeat, from the same consumer after the
//     gap: the consumer's server held nothing beyond what it delivered, so every replacement
//     was delivered (a consumer recreated on another server may lag the first one: its word
//     resolves only its own gaps);
//   - the applied sequence reaching the stream's last sequence L from a STREAM.INFO asked after
//     the gap was seen (L is at least the last sequence at that moment, on any server).
// C is A when no gap is open, else the position of the oldest open gap. The replica's state
// when this process starts may hold gaps of an earlier run: it counts as a gap at the applied
// sequence that only a stream's last sequence asked later resolves.
//
// Pure bookkeeping, no I/O and no clock: the stream actor feeds it deliveries in order, its
// consumer's idle heartbeats and the answers to STREAM.INFO, and asks for C.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

namespace eventbase::actors {

class replica_horizon {
 public:
  /// A replica that has applied up to `applied` (0: empty) in an earlier run.
  explicit replica_horizon(uint64_t applied) { reset(applied); }

  /// Forgets everything: the replica holds `applied` of unknown exactness (opened anew, or
  /// cleared to be rebuilt: 0).
  void reset(uint64_t applied);

  /// A delivery of consumer `generation` (> 0) is about to be applied: stream sequence `seq`
  /// (greater than any before), with `pending` messages after it on the consumer's server.
  /// Nothing pending resolves the gaps at once: the owner must apply the deliveries it handed
  /// over (and call on_applied) before it reads consistent() again.
  void on_delivery(uint64_t seq, uint64_t pending, uint64_t generation);

  /// The consumer of `generation` said it has nothing more to deliver (an idle heartbeat while
  /// it had pull requests).
  void on_idle(uint64_t generation);

  /// A STREAM.INFO is about to be asked: the ticket its answer is given with.
  uint64_t ask();

  /// JetStream answered the STREAM.INFO of `ticket`: the stream's last sequence is `last`.
  void on_stream_last(uint64_t ticket, uint64_t last);

  /// The replica committed everything up to `applied`.
  void on_applied(uint64_t applied);

  /// C: the replica holds the effect of every event up to this sequence.
  uint64_t consistent() const;

  /// The highest sequence applied (A).
  uint64_t applied() const { return applied_; }

  /// Gaps are open that no STREAM.INFO asked so far can resolve: one asked now would.
  bool wants_stream_last() const;

  /// Gaps open now (for status and metrics).
  size_t open_gaps() const { return gaps_.size(); }

 private:
  struct gap {
    uint64_t after;       // the sequence applied before the skipped ones (C while it is open)
    uint64_t seen;        // the ticket count when it was seen: answers to later tickets bound it
    uint64_t generation;  // of the consumer that skipped; 0: an earlier run's
    std::optional<uint64_t> bound;  // resolved once applied reaches it
  };

  void resolve_applied();

  std::deque<gap> gaps_;  // by `after`, ascending
  uint64_t applied_ = 0;
  uint64_t delivered_ = 0;  // the last sequence delivered (or applied at start)
  uint64_t tickets_ = 0;    // STREAM.INFO questions asked so far
};

}  // namespace eventbase::actors
