// The stream actor: owns one stream's JetStream consumer and its local replica (internal to
// actors/; applications use the typed handle of include/eventbase/actors.hpp).
//
// Indexes: the actor builds the indexes declared "building" (stream_store.hpp) in slices of
// scan_slice, one self-sent message per slice, so requests are served in between; a build that
// a restart interrupted resumes when the actor starts.
//
// Lifecycle: on start it asks JetStream for the stream (creating it if missing) and its last
// sequence, creates a pull consumer from the replica's applied sequence + 1, and is ready once
// it has applied everything up to that last sequence. It then applies live events as they
// arrive, answers reads from the replica, and publishes writes, replying to each once the
// replica has applied it. It stops on close, drop, a fatal storage error or (when configured)
// after being idle with no subscriptions; whatever way it ends, it leaves no NATS subscription,
// listener or consumer behind.
//
// Everything it says to NATS is an asynchronous publish; replies come back through its inbox as
// messages (inbound.hpp). It never blocks on the network. Its parts, each a component of its
// own: jetstream_client (API calls), pull_consumer, write_pipeline, subscription_set,
// query_cursor_set, stats_publisher.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

#include "actors/stats_publisher.hpp"
#include "eventbase/actors.hpp"

namespace eventbase::nats {
class transport;
}
namespace eventbase::storage {
class stream_store;
}

namespace eventbase::actors {

/// The most events per key a stream may keep (history): as NATS KV's limit, so that a key's
/// history is read in a bounded number of requests.
inline constexpr int64_t kMaxHistory = 64;

/// Tuning shared by all streams of a node. Every field has the default production uses.
struct stream_options {
  /// How long a write, a keys scan or a JetStream API call may take.
  std::chrono::milliseconds operation_timeout{10000};
  /// How long opening (reaching the stream's last sequence at open time) may take.
  std::chrono::milliseconds open_timeout{10000};
  /// JetStream replicas of the streams this node creates (existing streams keep theirs).
  int replicas = 1;
  /// Events per key (per key and event type: PUTs and DELETEs each) the streams this node
  /// creates keep: their max_msgs_per_subject, 1 (compacted) up to kMaxHistory. Existing
  /// streams keep theirs.
  int64_t history = 1;
  /// Messages per pull request, and bytes (raised to the server's max payload).
  int64_t pull_batch = 1024;
  int64_t pull_max_bytes = int64_t{4} << 20;
  /// Lifetime of a pull request, and the interval of its idle heartbeats; a consumer silent
  /// for `missed_heartbeats` heartbeats counts as lost and is recreated (pull_consumer.hpp).
  std::chrono::milliseconds pull_expires{30000};
  std::chrono::milliseconds heartbeat{1000};
  int missed_heartbeats = 2;
  /// How long one consumer-create request waits for its reply before it is sent again (to
  /// whichever server takes it then).
  std::chrono::milliseconds consumer_create_timeout{1000};
  /// JetStream replicas of the replica's consumer: 1 (a consumer on one server, recreated
  /// through the stream's leader when it is lost) or the stream's replica count.
  int consumer_replicas = 1;
  /// Idle time after which a stream without subscriptions stops itself; 0: never.
  std::chrono::milliseconds idle_timeout{0};
  /// How often idleness is checked.
  std::chrono::milliseconds idle_check_interval{60000};
  /// Changes (and their bytes) sent to one subscription and not yet acknowledged; a subscriber
  /// that falls further behind has its subscription ended ("too slow").
  uint64_t subscriber_max_pending = 10000;
  uint64_t subscriber_max_pending_bytes = uint64_t{64} << 20;
  /// Live queries (subscriptions with a filter) at once: each is matched against every change,
  /// so their number bounds the work a change costs.
  size_t max_live_queries = 256;
  /// A keys scan runs in slices of at most this long, so that other requests to the stream,
  /// and other actors on the same thread, are served in between.
  std::chrono::milliseconds scan_slice{5};
  /// Query cursors (cursor_atom): at most this many open at once per stream, each closed after
  /// this long without a page asked for.
  size_t max_cursors = 64;
  std::chrono::milliseconds cursor_idle_timeout{60000};
  /// Results a query asked through the actor holds at once (a sort, or no limit, keeps every
  /// match until the answer); a query passing it fails with too_large.
  uint64_t max_query_bytes = uint64_t{64} << 20;
  /// Writes in progress at once, and the bytes of their documents; a write beyond either is
  /// refused with `unavailable` (write_pipeline.hpp).
  size_t max_pending_writes = 100000;
  uint64_t max_pending_write_bytes = uint64_t{256} << 20;
  /// How long the replica may be quiet before it is audited against the stream (a stalled
  /// consumer, a divergent copy: replica_auditor.hpp); 0: never.
  std::chrono::milliseconds audit_interval{5000};
};

/// When the C++ API last read a stream's replica without going through its actor, so that the
/// actor does not count the stream as idle while it is being read.
class read_activity {
 public:
  void note() {
    last_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                   std::memory_order_relaxed);
  }
  /// Time since the last note(); the maximum when there was none.
  std::chrono::steady_clock::duration since_last() const {
    auto last = last_ns_.load(std::memory_order_relaxed);
    if (last == 0) return std::chrono::steady_clock::duration::max();
    return std::chrono::steady_clock::now().time_since_epoch() -
           std::chrono::steady_clock::duration(last);
  }

 private:
  std::atomic<std::chrono::steady_clock::rep> last_ns_{0};
};

struct stream_config {
  std::string name;
  std::string stats_stream;  // empty: no stats
  std::shared_ptr<nats::transport> nats;
  std::shared_ptr<storage::stream_store> store;  // opened by the spawner; the actor closes it
  std::shared_ptr<read_activity> reads;          // may be null: no reads outside the actor
  subscriber_actor on_message;                   // gets every applied event; may be invalid
  stream_options options;
};

/// What an in-process handle needs to read a stream's replica without its actor.
struct local_access {
  std::shared_ptr<storage::stream_store> store;
  std::shared_ptr<read_activity> reads;
};

// -- internal messages --------------------------------------------------------------------------

using drain_atom = caf::atom_constant<caf::atom("eb_drain")>;      // the inbox has items
using tick_atom = caf::atom_constant<caf::atom("eb_tick")>;        // timers: deadlines, liveness
using scan_atom = caf::atom_constant<caf::atom("eb_scan")>;        // the next slice of a keys scan
using touch_atom = caf::atom_constant<caf::atom("eb_touch")>;      // handed out: not idle
using local_atom = caf::atom_constant<caf::atom("eb_local")>;      // local_access, in process only
using metrics_atom = caf::atom_constant<caf::atom("eb_metrics")>;  // stream_metrics, in process
using index_build_atom = caf::atom_constant<caf::atom("eb_ibuild")>;  // the next slice of a build

/// What GET /metrics shows of a stream: its status and the count and latency of every
/// operation it completed since its actor started (in process only).
struct stream_metrics {
  stream_status status;
  operation_latencies operations;
};

/// Puts from this process's C++ API, answered as (put_atom, keys, documents) is. Each document
/// is the text protocol::stringify wrote, which is already what canonical_document would make
/// of it (JSON as JavaScript writes it, depth and UTF-8 checked), so the actor does not parse it
/// again. In process only: the type is never announced to CAF (add_message_types), so no message
/// from another node can carry it, and a peer's text is always parsed.
struct stringified_puts {
  std::vector<std::string> keys;
  std::vector<std::string> documents;
  std::vector<write_condition> conditions;  // one per put, or empty: none is conditional
};

/// The stream actor's full interface: the public one and the messages of its own node.
using stream_actor_impl =
    stream_actor::extend<caf::reacts_to<drain_atom>, caf::reacts_to<tick_atom>,
                         caf::reacts_to<scan_atom, uint64_t>, caf::reacts_to<touch_atom>,
                         caf::reacts_to<index_build_atom>,
                         caf::replies_to<local_atom>::with<local_access>,
                         caf::replies_to<metrics_atom>::with<stream_metrics>,
                         caf::replies_to<stringified_puts>::with<put_batch_reply>>;

/// Spawns a stream actor. Send it `ready_atom` to learn when it has caught up (or why it
/// could not open).
stream_actor spawn_stream(caf::actor_system& sys, stream_config config);

/// The same handle with the node-internal messages (the actor behind any stream_actor this
/// node spawned).
inline stream_actor_impl internal(const stream_actor& actor) {
  return caf::actor_cast<stream_actor_impl>(actor);
}

}  // namespace eventbase::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eventbase::actors::local_access)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eventbase::actors::stringified_puts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eventbase::actors::stream_metrics)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<eventbase::actors::stream_metrics>)
