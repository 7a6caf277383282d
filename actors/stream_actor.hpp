// The stream actor: owns one stream's JetStream consumer and its local replica (SPEC §3, §6).
//
// Lifecycle: on start it asks JetStream for the stream (creating it if missing) and its last
// sequence, creates an ephemeral pull consumer from the replica's applied sequence + 1, and is
// ready once it has applied everything up to that last sequence. It then applies live events
// as they arrive, answers reads from the replica, and publishes writes, replying to each once the
// replica has applied it. It stops on close, drop, a fatal storage error or (when configured)
// after being idle with no subscriptions.
//
// Everything it says to NATS is an asynchronous publish; replies come back through its inbox as
// messages (inbound.hpp). It never blocks on the network.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "eventbase/actors.hpp"

namespace eventbase::nats {
class transport;
}
namespace eventbase::storage {
class stream_store;
}

namespace eventbase::actors {

/// Tuning shared by all streams of a node; the defaults suit production.
struct stream_options {
  std::chrono::milliseconds operation_timeout{10000};  // a write or JetStream call
  std::chrono::milliseconds open_timeout{10000};
  int replicas = 1;                           // of streams this node creates
  int64_t pull_batch = 1024;                  // messages per pull request
  int64_t pull_max_bytes = int64_t{4} << 20;  // raised to the server's max payload
  std::chrono::milliseconds pull_expires{30000};
  std::chrono::milliseconds heartbeat{5000};             // idle heartbeat of pull requests
  std::chrono::milliseconds idle_timeout{0};             // 0: never end for idleness
  std::chrono::milliseconds idle_check_interval{60000};  // how often idleness is checked
  // Changes (and their bytes) sent to one subscription and not yet acknowledged; a subscriber
  // that falls further behind has its subscription ended ("too slow").
  uint64_t subscriber_max_pending = 10000;
  uint64_t subscriber_max_pending_bytes = uint64_t{64} << 20;
  // A keys scan runs in slices of at most this long, so that other requests to the stream,
  // and other actors on the same thread, are served in between.
  std::chrono::milliseconds scan_slice{5};
};

struct stream_config {
  std::string name;
  std::string stats_stream;  // empty: no stats
  std::shared_ptr<nats::transport> nats;
  std::shared_ptr<storage::stream_store> store;  // opened by the spawner; the actor closes it
  subscriber_actor on_message;                   // gets every applied event; may be invalid
  stream_options options;
};

/// Spawns a stream actor. Send it `ready_atom` to learn when it has caught up (or why it
/// could not open).
stream_actor spawn_stream(caf::actor_system& sys, stream_config config);

}  // namespace eventbase::actors
