// The manager actor: one stream actor per stream name on this node (README "Many streams").
//
// It opens a stream on first request (concurrent requests wait for the same opening), hands out
// the stream actor once it is ready, and monitors it. Stream actors stop themselves after being
// idle for the keep-alive with no subscriptions; the manager learns of it through the down
// message and forgets the stream. A request for a stream that is still stopping waits for it to
// stop, then opens it again (its column family must be released first).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "actors/stream_actor.hpp"
#include "eventbase/actors.hpp"

namespace eventbase::storage {
class database;
}

namespace eventbase::actors {

struct manager_config {
  std::shared_ptr<nats::transport> nats;
  std::shared_ptr<storage::database> db;
  /// For every stream; `idle_timeout` is the keep-alive, `idle_check_interval` the cleanup
  /// interval.
  stream_options options;
  subscriber_actor on_message;  // gets every event of every stream; may be invalid
  /// The stats stream of a stream (empty: none); the JS library's getStatsStreamName.
  std::function<std::string(const std::string&)> stats_stream_for;
};

/// The manager's full interface: the public one and what its own node asks (in process only).
using manager_actor_impl = manager_actor::extend<
    // the metrics of every stream it has, open or opening (those that answer within a second)
    caf::replies_to<metrics_atom>::with<std::vector<stream_metrics>>>;

manager_actor spawn_manager(caf::actor_system& sys, manager_config config);

/// The same handle with the node-internal messages (the actor behind any manager_actor that
/// spawn_manager returned).
inline manager_actor_impl internal(const manager_actor& actor) {
  return caf::actor_cast<manager_actor_impl>(actor);
}

}  // namespace eventbase::actors
