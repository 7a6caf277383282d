// Rendering of a node's metrics (see metrics.hpp).
#include "api/metrics.hpp"

#include <algorithm>

#include "protocol/prometheus.hpp"
#include "protocol/stats.hpp"

namespace eventbase::api {
namespace {

namespace prom = protocol::prometheus;

// The operations in the order of protocol::stats_operation, as `operation` label values.
constexpr const char* kOperations[] = {
    "get", "put", "delete", "keys", "subscribe", "subscribe_emit", "query", "count"};

}  // namespace

std::optional<uint64_t> lag_of(const stream_status& st) {
  if (st.ready || st.replay_target == 0) return st.lag;
  return st.replay_target > st.applied_sequence ? st.replay_target - st.applied_sequence : 0;
}

std::string render_metrics(const node_snapshot& snapshot) {
  auto streams = snapshot.streams;
  std::sort(streams.begin(), streams.end(),
            [](const auto& a, const auto& b) { return a.status.name < b.status.name; });
  prom::exposition out;
  auto per_stream = [&](const char* name, const char* type, const char* help, auto value) {
    out.family(name, type, help);
    for (auto& s : streams)
      if (auto v = value(s.status)) out.sample(name, {{"stream", s.status.name}}, *v);
  };
  using opt = std::optional<double>;

  out.family("eventbase_operations_total", "counter",
             "Operations a stream completed since it opened on this node, by operation.");
  for (auto& s : streams)
    for (size_t op = 0; op < s.operations.size(); ++op)
      out.sample("eventbase_operations_total",
                 {{"stream", s.status.name}, {"operation", kOperations[op]}},
                 static_cast<double>(s.operations[op].count));
  out.family("eventbase_operation_duration_seconds", "histogram",
             "How long completed operations took, from request to reply (subscribe_emit: the "
             "dispatch of a change to the subscribers).");
  for (auto& s : streams)
    for (size_t op = 0; op < s.operations.size(); ++op)
      if (s.operations[op].count > 0)
        out.histogram_samples("eventbase_operation_duration_seconds",
                              {{"stream", s.status.name}, {"operation", kOperations[op]}},
                              s.operations[op]);

  per_stream("eventbase_stream_applied_sequence", "gauge",
             "The last stream sequence applied to this node's replica.",
             [](const stream_status& st) { return opt(static_cast<double>(st.applied_sequence)); });
  per_stream("eventbase_stream_lag_events", "gauge",
             "Events the replica is behind the stream as far as this node knows.",
             [](const stream_status& st) {
               auto lag = lag_of(st);
               return lag ? opt(static_cast<double>(*lag)) : opt();
             });
  per_stream("eventbase_stream_replay_target_sequence", "gauge",
             "The sequence a replaying stream catches up to before it is ready.",
             [](const stream_status& st) {
               return st.ready ? opt() : opt(static_cast<double>(st.replay_target));
             });
  per_stream("eventbase_stream_ready", "gauge",
             "1 when the stream serves requests, 0 while it opens (replays).",
             [](const stream_status& st) { return opt(st.ready ? 1 : 0); });
  per_stream("eventbase_stream_subscriptions", "gauge", "Subscriptions to the stream.",
             [](const stream_status& st) { return opt(static_cast<double>(st.subscriptions)); });
  per_stream("eventbase_stream_pending_writes", "gauge",
             "Writes published and not yet applied to the replica.",
             [](const stream_status& st) { return opt(static_cast<double>(st.pending_writes)); });
  per_stream("eventbase_stream_skipped_events_total", "counter",
             "Malformed messages skipped since the stream opened.",
             [](const stream_status& st) { return opt(static_cast<double>(st.skipped_events)); });
  per_stream(
      "eventbase_stream_consistent_sequence", "gauge",
      "The replica holds every event up to this sequence (consistent reads wait for it).",
      [](const stream_status& st) { return opt(static_cast<double>(st.consistent_sequence)); });
  per_stream("eventbase_stream_replica_stalls_total", "counter",
             "Times the consumer delivered nothing while the stream was ahead, and was recreated.",
             [](const stream_status& st) { return opt(static_cast<double>(st.replica_stalls)); });
  per_stream("eventbase_stream_replica_rebuilds_total", "counter",
             "Times the replica was found to differ from the stream, and was rebuilt from it.",
             [](const stream_status& st) { return opt(static_cast<double>(st.replica_rebuilds)); });
  per_stream("eventbase_stream_slow_subscriptions_ended_total", "counter",
             "Subscriptions ended for falling too far behind.", [](const stream_status& st) {
               return opt(static_cast<double>(st.slow_subscriptions_ended));
             });

  uint64_t open = 0, opening = 0, subscriptions = 0;
  for (auto& s : streams) {
    (s.status.ready ? open : opening) += 1;
    subscriptions += s.status.subscriptions;
  }
  out.family("eventbase_streams", "gauge", "Streams on this node, by state.");
  out.sample("eventbase_streams", {{"state", "open"}}, static_cast<double>(open));
  out.sample("eventbase_streams", {{"state", "opening"}}, static_cast<double>(opening));
  out.family("eventbase_subscriptions", "gauge", "Subscriptions to all streams of this node.");
  out.sample("eventbase_subscriptions", {}, static_cast<double>(subscriptions));
  out.family("eventbase_metrics_streams_complete", "gauge",
             "0 when the stream manager did not answer in time and stream series are missing.");
  out.sample("eventbase_metrics_streams_complete", {}, snapshot.streams_complete ? 1 : 0);

  out.family("eventbase_nats_connected", "gauge",
             "1 while the NATS connection is up, 0 while it is down (reconnecting).");
  out.sample("eventbase_nats_connected", {}, snapshot.nats_state == "connected" ? 1 : 0);
  out.family("eventbase_nats_connection_state", "gauge",
             "The NATS connection's state: 1 for the current one.");
  for (const char* state : {"connected", "reconnecting", "connecting", "draining", "closed"})
    out.sample("eventbase_nats_connection_state", {{"state", state}},
               snapshot.nats_state == state ? 1 : 0);
  out.family("eventbase_nats_reconnects_total", "counter",
             "Times the NATS connection was re-established after a loss.");
  out.sample("eventbase_nats_reconnects_total", {}, static_cast<double>(snapshot.nats_reconnects));
  out.family("eventbase_rocksdb_size_bytes", "gauge",
             "Bytes of this node's RocksDB replica: live SST files and memtables.");
  out.sample("eventbase_rocksdb_size_bytes", {}, static_cast<double>(snapshot.database_bytes));
  return out.text();
}

}  // namespace eventbase::api
