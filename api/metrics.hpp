// The metrics of a node in Prometheus' text format (GET /metrics of eventbase-server; README
// "Health and metrics"), rendered from a snapshot the node gathers (internal to api/).
//
// Every family is prefixed `eventbase_`; per-stream series carry a `stream` label and exist
// while the stream is open (or opening) on this node: a stream that closes takes its series
// with it, and its counters start from zero when it opens again (Prometheus' rate() handles
// the reset), so the number of series is bounded by the open streams, not by every name a peer
// ever asked for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/stream_actor.hpp"

namespace eventbase::api {

struct node_snapshot {
  std::vector<actors::stream_metrics> streams;
  std::string nats_state;  // nats::connection::state()
  uint64_t nats_reconnects = 0;
  uint64_t database_bytes = 0;
  bool streams_complete = true;  // false: the manager did not answer, streams is empty
};

/// The events a stream's replica is behind: while it replays after opening, the events still to
/// apply; once ready, the stream's last known sequence minus the applied one.
std::optional<uint64_t> lag_of(const stream_status& st);

/// The exposition text of `snapshot`.
std::string render_metrics(const node_snapshot& snapshot);

}  // namespace eventbase::api
