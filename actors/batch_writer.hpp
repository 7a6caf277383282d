// Atomic batches of one stream, from request to reply (internal to actors/; README "Atomic
// batches", ADR-50 of nats-io/nats-architecture-and-design).
//
// A batch is published as JetStream's atomic batch (nats-server 2.12+): one message per write,
// each a PUT or DELETE as write_pipeline publishes it (a put with the key's metadata computed
// from this replica), with Nats-Batch-Id, Nats-Batch-Sequence (1-based) and, on the last,
// Nats-Batch-Commit: 1. JetStream stores all of them at the commit, or none.
//
// The first message carries Nats-Expected-Last-Sequence = the sequence this replica has
// applied: the batch is stored only if nothing was written to the stream since, so that its
// conditions and its metadata, computed here, hold on the stream's state just before it (as a
// conditional write in write_pipeline.hpp). A refusal ("wrong last sequence: N") is retried
// once the replica holds N (after a consistent wait when a condition is involved), under a
// new batch id. The same expectation makes a resend after a lost acknowledgement safe: if the
// first copy was stored, the resend is refused, and the batch completes once the replica
// applies the first copy (batch ids of all attempts are recognised). JetStream takes no
// Nats-Msg-Id inside a batch on 2.12 (10177), so deduplication cannot do that job.
//
// Batches of one stream run one at a time, in arrival order (two concurrent batches of one
// node would refuse each other); at most `max_queued` wait, beyond that a batch is refused with
// unavailable. A batch completes when the replica has applied it (read-your-writes), with the
// number of writes and the revision of its last one.
//
// A stream created without allow_atomic is updated to allow it at the first batch
// (STREAM.INFO, then STREAM.UPDATE of its configuration with allow_atomic: true).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/inbound.hpp"
#include "actors/jetstream_client.hpp"
#include "actors/write_pipeline.hpp"
#include "eventbase/batch.hpp"
#include "eventbase/status.hpp"

namespace eventbase::storage {
class stream_store;
}

namespace eventbase::actors {

class batch_writer {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using done_fn = std::function<void(result<batch_result>)>;

  struct settings {
    std::string stream;
    std::string batch_prefix;  // batch ids are "<batch_prefix>.<n>" (at most 64 characters)
    std::string ack_prefix;    // commit acknowledgements arrive at "<ack_prefix><token>"
    std::chrono::milliseconds timeout{10000};
    std::chrono::milliseconds ack_timeout{2000};  // then the batch is sent again
    size_t max_queued = 50;  // JetStream's own limit of batches in flight per stream
  };

  batch_writer(settings config, nats::transport& nats, jetstream_client& api,
               const storage::stream_store& store, jetstream_client::clock now,
               write_pipeline::replica_view replica);

  /// As write_pipeline::set_per_subject_limit: 1 purges a deleted key's PUTs after the batch,
  /// <= 0 (a JS library's stream) purges a put key's older PUTs, more keeps them.
  void set_per_subject_limit(int64_t limit) { per_subject_limit_ = limit; }

  /// Starts or queues `ops` (checked with protocol::validate_batch, documents canonical);
  /// `done` runs exactly once. unavailable when the server is older than 2.12 or too many
  /// batches wait.
  void submit(std::vector<batch_op> ops, done_fn done);

  /// JetStream's answer to the commit of the attempt with token `ack.token`.
  void on_ack(const inbound& ack);

  /// The replica applied the batch `batch_id` whole; its last event is at `last_seq`. Called
  /// before the replica's waiters (read_barrier) learn of the events: a copy refused after a
  /// lost acknowledgement waits for them, and must find its batch completed, not send again.
  void on_applied(const std::string& batch_id, uint64_t last_seq);

  /// The replica's consistent sequence moved: completes a batch it has passed.
  void on_replica_advanced();

  /// The acknowledged sequence the active batch waits for the replica to pass; nullopt when
  /// none waits.
  std::optional<uint64_t> lowest_awaited() const {
    return active_ && active_->ack_seq != 0 ? std::optional<uint64_t>(active_->ack_seq)
                                            : std::nullopt;
  }

  /// Resends or fails what is due; next_wake says when that is next.
  void expire();
  std::optional<time_point> next_wake() const;

  /// Fails every batch with `why`.
  void fail_all(const status& why);

  bool empty() const { return !active_ && queued_.empty(); }

 private:
  struct batch {
    std::vector<batch_op> ops;
    done_fn done;
    time_point deadline;
    std::set<std::string> ids;  // the batch ids of every attempt
    uint64_t token = 0;         // the attempt in flight; 0 while none is
    std::optional<time_point> ack_deadline, retry_at;
    uint64_t ack_seq = 0;             // the commit's sequence, once acknowledged
    bool verified = false;            // a failing condition is a conflict (write_pipeline.hpp)
    bool enabled_atomic = false;      // asked STREAM.UPDATE once
    bool waiting = false;             // waits for the replica or for the stream update
    std::vector<std::string> erased;  // deleted keys, for the purges after it
    status last_failure;
    int attempts = 0;
  };

  void start_next();
  void publish();           // judges and publishes the active batch
  void failed(status why);  // retries after a backoff, or completes with `why`
  void refused(std::optional<uint64_t> last);
  void enable_atomic();  // STREAM.INFO + STREAM.UPDATE, then publishes again
  void complete(result<batch_result> outcome);

  settings config_;
  nats::transport& nats_;
  jetstream_client& api_;
  const storage::stream_store& store_;
  jetstream_client::clock now_;
  write_pipeline::replica_view replica_;
  int64_t per_subject_limit_ = 1;
  std::optional<batch> active_;
  std::deque<batch> queued_;
  uint64_t next_token_ = 1;
  uint64_t next_id_ = 1;
  uint64_t generation_ = 0;  // of the active batch, for callbacks that outlive it
};

}  // namespace eventbase::actors
