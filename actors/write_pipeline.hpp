// Puts and erases of one stream, from request to reply (internal to actors/).
//
// A write is published with a Nats-Msg-Id of "<writer_id>.<token>" (a put also with the key's
// metadata as it will be after it, in headers: protocol/event.hpp) and a reply subject
// "<ack_prefix><token>" for JetStream's acknowledgement. It completes when the replica applies
// the event with that id (on_applied); if compaction removed the event before this node
// consumed it (a later write of the same key replaced it), it completes as soon as the replica
// is exact up to the acknowledged sequence (on_replica_advanced; replica_horizon.hpp). Writes of
// one key from this node run one at a time, in arrival order.
//
// Writes of one key are serialized across nodes by JetStream (README "Consistency"):
//   - a put carries the key's metadata computed from this replica's state, and is stored only
//     if the key's PUT subject still ends where this replica says
//     (Nats-Expected-Last-Subject-Sequence); when another node's write got there first,
//     JetStream refuses it with the sequence it found, and the put is computed again once the
//     replica is exact up to that sequence, and published anew (a new message id);
//   - a conditional write (write_condition) is judged against this replica and stored only if
//     nothing at all was written to the stream since the sequence the replica has applied
//     (Nats-Expected-Last-Sequence, which JetStream checks as it stores, on every version and
//     every replica): its condition held on the stream's current state. A condition that does
//     not hold fails with errc::conflict only when judged on a replica known to be current
//     within the write's lifetime (after a consistent wait, read_barrier.hpp).
//   - a DELETE carries no expectation (deleting twice deletes); a put that lands between a
//     DELETE and the purge of the key's PUTs is recognised by every replica from its base
//     revision (protocol/event.hpp).
// An erase completes once its DELETE is applied and, on a stream without history, the key's PUT
// messages before it are purged (later PUTs stay).
//
// Passing failures are retried within the write's deadline, with backoff and jitter, under the
// same Nats-Msg-Id, so that JetStream stores the event once however often it is sent: no
// JetStream server taking it (the stream is electing a leader), an error JetStream marks as
// temporary, or no acknowledgement within `ack_timeout` (the publish or its acknowledgement
// was lost with a server).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "actors/inbound.hpp"
#include "actors/jetstream_client.hpp"
#include "actors/stats_publisher.hpp"
#include "eventbase/status.hpp"
#include "eventbase/write_condition.hpp"
#include "protocol/record.hpp"

namespace eventbase::storage {
class stream_store;
}

namespace eventbase::actors {

/// A key's state in this replica, which a write is judged against and computes its metadata
/// from: its live record's metadata (nullopt when absent) and its revision here (the live
/// record's, else the DELETE's of its tombstone, else 0).
struct key_state {
  std::optional<protocol::meta> live;
  uint64_t revision = 0;
};
result<key_state> read_key_state(const storage::stream_store& store, const std::string& key);

/// Why `condition` fails on `key` in `state`; "" when it holds.
std::string condition_failure(const std::string& key, const write_condition& condition,
                              const key_state& state);

/// A write's event as published: its subject, its payload, and the headers of its content (a
/// put's metadata continuing from the key's `state`, and its TTL); expectations are the
/// writer's to add. `document` (canonical JSON) makes a PUT, nullptr a DELETE. too_large when
/// the payload passes `limit` bytes (the server's max_payload less room for headers).
/// Room for a write's headers inside the server's max_payload, which counts them too: the NATS
/// header line and Nats-Msg-Id (about 60 bytes), Eventbase-Changes, Eventbase-Date-Created and
/// Eventbase-Base-Revision (about 125), an expected sequence (about 60).
inline constexpr int64_t kWriteHeaderAllowance = 512;

struct write_event {
  std::string subject;
  std::string payload;
  nats::headers headers;
};
result<write_event> encode_write_event(const std::string& stream, const std::string& key,
                                       const std::string* document, const key_state& state,
                                       uint64_t ttl_seconds, int64_t limit);

/// How a put's document text came: any JSON (a peer's), parsed and written again as JavaScript
/// writes it; or canonical, written by protocol::stringify in this process, published as it is.
enum class document_form { json, canonical };

class write_pipeline {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  /// The key's record after the put, or why the put failed.
  using put_done = std::function<void(result<std::string> record)>;
  /// The number of messages purged, or why the erase failed.
  using erase_done = std::function<void(result<uint64_t> purged)>;

  struct settings {
    std::string stream;
    std::string writer_id;   // prefix of the Nats-Msg-Id of this pipeline's writes
    std::string ack_prefix;  // acknowledgements arrive at "<ack_prefix><token>"
    std::chrono::milliseconds timeout{10000};
    std::chrono::milliseconds ack_timeout{1000};  // then the write is sent again
    // Writes in progress (queued behind their key's earlier ones included), and the bytes of
    // their documents: beyond either, a new write is refused with `unavailable` at once, so
    // that a peer sending writes faster than JetStream takes them cannot exhaust memory.
    size_t max_writes = 100000;
    uint64_t max_write_bytes = uint64_t{256} << 20;
  };

  /// How the pipeline sees and waits for the replica (replica_horizon, read_barrier).
  struct replica_view {
    /// The replica's consistent sequence: it holds every event up to it.
    std::function<uint64_t()> consistent;
    /// Runs `go` once the replica is exact up to `seq`, or with why not.
    std::function<void(uint64_t seq, std::function<void(const status&)> go)> await_sequence;
    /// Runs `go` once the replica reflects every write acknowledged before the call.
    std::function<void(std::function<void(const status&)> go)> await_consistency;
  };

  write_pipeline(settings config, nats::transport& nats, jetstream_client& api,
                 const storage::stream_store& store, const stats_publisher& stats,
                 jetstream_client::clock now, replica_view replica);

  /// How many messages the stream keeps per subject (its max_msgs_per_subject): 1 (Eventbase's
  /// default) keeps it compacted, and an erase purges the key's PUTs before its DELETE; more is
  /// a stream with history, whose PUTs stay (JetStream drops the oldest beyond the limit); no
  /// limit (<= 0, a stream the JS library created) has each put purge the key's older PUT
  /// messages as the JS library does, and each erase purge the PUTs before it.
  void set_per_subject_limit(int64_t limit) { per_subject_limit_ = limit; }

  /// Validates and starts a write, or queues it behind the key's earlier ones; `done` runs
  /// exactly once. Refused with `unavailable` while the pipeline holds its maximum of writes.
  /// A put with `ttl_seconds` (1..protocol::kMaxTtlSeconds) expires that long after JetStream
  /// stored it (doc/history.md "Expiry"); 0: never.
  void put(std::string key, std::string document, put_done done,
           document_form form = document_form::json,
           write_condition condition = write_condition::none(), uint64_t ttl_seconds = 0);
  void erase(std::string key, erase_done done, write_condition condition = write_condition::none());

  /// JetStream's acknowledgement of the write with the token `ack.token`.
  void on_ack(const inbound& ack);

  /// The event this pipeline published for the write `token` was applied at sequence `seq`;
  /// `record` is the key's record after it (empty for a DELETE).
  void on_applied(uint64_t token, uint64_t seq, const std::string& record);

  /// The replica's consistent sequence moved: completes writes it has passed.
  void on_replica_advanced();

  /// The lowest acknowledged sequence whose write waits for the replica to pass it; nullopt
  /// when none waits.
  std::optional<uint64_t> lowest_awaited() const {
    return acked_.empty() ? std::nullopt : std::optional<uint64_t>(acked_.begin()->first);
  }

  /// Sends the retries that are due; fails the writes whose deadline passed (their outcome is
  /// then unknown).
  void expire();

  /// A time at or before the moment expire() next has something to do; nullopt when no write
  /// is in progress. O(1): it is asked after every put and every drain. It may be early (the
  /// write that was due first completed meanwhile): expire() then finds nothing due, and makes
  /// the answer exact again.
  std::optional<time_point> next_wake() const;

  /// Fails every write with `why`.
  void fail_all(const status& why);

  bool empty() const { return writes_.empty(); }
  size_t size() const { return writes_.size(); }

 private:
  struct write {
    enum class kind { put, erase } what = kind::put;
    std::string key;
    std::string document;  // put: JSON text as JavaScript writes it, until it is in `payload`
    write_condition condition;
    uint64_t ttl_seconds = 0;  // put: expires that long after it is stored; 0: never
    nats::headers headers;     // besides the message id: metadata and expectations
    std::string subject;       // the event as published, for retries
    std::string payload;
    // The last sequence of the key's PUT subject as JetStream last said (refusing a put).
    std::optional<uint64_t> learned_subject_seq;
    bool verified = false;  // a failing condition is a conflict (see above)
    bool waiting = false;   // waits for the replica before it is computed and published again
    put_done put_finished;
    erase_done erase_finished;
    op_start started;  // for stats
    time_point deadline;
    bool published = false;
    int attempts = 0;
    std::optional<time_point> ack_deadline;  // of the attempt in flight, until acknowledged
    std::optional<time_point> retry_at;      // set while waiting to send the next attempt
    status last_failure;                     // why the last attempt did not go through
    uint64_t ack_seq = 0;     // stream sequence from the acknowledgement; 0 until then
    bool applied = false;     // erase: the DELETE is applied, the purge is running
    uint64_t held_bytes = 0;  // counted in held_bytes_ while the write is in progress
  };
  struct key_queue {
    uint64_t active = 0;           // the key's write in progress
    std::deque<uint64_t> waiting;  // the key's writes queued behind it
  };

  // Why a new write of `bytes` more is refused now; ok when it is not.
  status check_room(uint64_t bytes) const;
  void submit(write op);
  void publish(uint64_t token);             // encodes the event, then sends it
  void send(uint64_t token);                // (re)sends the encoded event
  void failed(uint64_t token, status why);  // retries, or completes with `why`
  // JetStream refused the write: another write came first. Waits for the replica, then
  // computes and publishes it anew.
  void refused(uint64_t token, std::optional<uint64_t> last);
  // Publishes the write again under a new token (a new message id): its content changed.
  void republish(uint64_t token);
  void note_wake(time_point at);  // a write has something to do at `at`
  // Ends a write: `outcome` is the record (put), or the purge count (erase), or the error.
  void complete(uint64_t token, const status& st, const std::string& record = {},
                uint64_t purged = 0);

  settings config_;
  nats::transport& nats_;
  jetstream_client& api_;
  const storage::stream_store& store_;
  const stats_publisher& stats_;
  jetstream_client::clock now_;
  replica_view replica_;
  int64_t per_subject_limit_ = 1;

  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, write> writes_;
  std::unordered_map<std::string, key_queue> keys_;
  std::map<uint64_t, uint64_t> acked_;  // ack sequence -> token, for writes not yet applied
  uint64_t held_bytes_ = 0;             // of the documents of the writes in progress
  // At or before the earliest deadline, retry or acknowledgement deadline of the writes in
  // progress: lowered whenever a write sets one, exact after expire(), unset with no writes.
  // Kept so, next_wake() needs no walk over up to max_writes writes on every put.
  std::optional<time_point> wake_bound_;
};

}  // namespace eventbase::actors
