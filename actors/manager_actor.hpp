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

manager_actor spawn_manager(caf::actor_system& sys, manager_config config);

}  // namespace eventbase::actors
