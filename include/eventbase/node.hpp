// An Eventbase node: a manager whose streams are served to other CAF nodes over the network
// (CAF's middleman), with the NATS servers of its configuration, or with a nats-server of its
// own (JetStream, loopback, store under the data path) when none are configured. This is what
// eventbase-server runs; an application can run one in-process too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eventbase/eventbase.hpp"
#include "eventbase/status.hpp"
#include "eventbase/tls.hpp"

namespace eventbase {

/// A node: a manager served to other CAF nodes (eventbase-server's options, README "The server").
struct node_config {
  /// The NATS servers, credentials and TLS. No servers (the default) starts and owns a local
  /// nats-server (JetStream, free loopback port, store under <data_path>/nats) that takes
  /// user/password or token from here (a random user and password when none is given, so other
  /// local users cannot reach it); TLS, creds and nkey need servers.
  nats_options nats;
  /// The nats-server program the node starts when nats.servers is empty: a path, or a name
  /// searched in PATH and the sbin directories. Default: "" ($EVENTBASE_NATS_SERVER when set,
  /// else "nats-server").
  std::string nats_server_bin;
  /// How that owned nats-server syncs its JetStream store to disk (its sync_interval). "always"
  /// (the default): each write is on disk before JetStream acknowledges it, so an acknowledged
  /// write survives a power failure or an OS crash. A duration ("10s", "2m": digits, then ms, s,
  /// m or h): synced that often, so acknowledged writes younger than it can be lost that way.
  /// "": nats-server's default (2 minutes). nats-server 2.9 has no such setting and flushes every
  /// 2 minutes whatever is asked (start() then logs a warning). Configured servers
  /// (nats.servers) are not touched: they need `jetstream { sync_interval: always }` in their
  /// own configuration. Anything else is invalid_argument.
  std::string nats_sync = "always";
  /// Directory of the node's data: the replica in <data_path>/replica, the own NATS store in
  /// <data_path>/nats. Default: "./data".
  std::string data_path = "./data";
  /// Where the manager is served. Default: loopback, port 4333 (0: any free port).
  std::string bind = "127.0.0.1";
  uint16_t port = 4333;
  /// Mutual TLS on the port (eventbase/tls.hpp): only peers with a certificate signed by tls.ca
  /// are served. Default: none.
  tls_options tls;
  /// Serve without TLS on an address that is not loopback. Default: false, start() refuses to,
  /// since then whoever reaches the port can read, write and delete every stream.
  bool insecure = false;
  /// The largest message (BASP payload) a peer may send; a connection announcing a larger one
  /// is closed before anything is allocated. Default: 0, the NATS server's max_payload plus
  /// 64 KiB, which fits the largest document NATS accepts.
  uint64_t max_message_bytes = 0;
  /// A stream with no operation for this long and no subscription closes itself; idleness is
  /// checked every cleanup_interval. Default: 1 hour, 1 minute.
  std::chrono::milliseconds keep_alive{std::chrono::hours(1)};
  std::chrono::milliseconds cleanup_interval{std::chrono::minutes(1)};
  /// How long an operation, and opening a stream, may take. Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  /// A connection on which nothing arrives (no message, no heartbeat) for this long is closed;
  /// so is one that has not completed CAF's handshake by then. 0: never. Default: 15 s.
  std::chrono::milliseconds connection_timeout{std::chrono::seconds(15)};
  /// What one subscription may have sent to it and not acknowledged before it ends as too slow:
  /// changes, and bytes of them. Default: 10,000 changes, 64 MiB.
  uint64_t subscriber_max_pending = 10000;
  uint64_t subscriber_max_pending_bytes = uint64_t{64} << 20;
  /// A stream's replica that applied nothing for this long is audited against the stream (a
  /// consumer that delivers nothing while the stream is ahead is recreated; a replica that
  /// differs is rebuilt: README "Failover"); each audit is one STREAM.INFO. 0: never. Default:
  /// 5 s.
  std::chrono::milliseconds audit_interval{5000};
  /// Default: none, no stats.
  stats_stream_naming stats_stream_name;
  /// JetStream replicas of the streams this node creates (existing ones keep theirs). Default: 1.
  int replicas = 1;
  /// Events kept per key (PUTs and DELETEs each) by the streams this node creates, 1..64
  /// (stream_config::history). Default: 1.
  int64_t history = 1;
  /// How long start() keeps trying to reach the NATS servers (retrying with backoff, logging
  /// each try) before it gives up; 0: give up at once. Refused credentials or TLS fail at once.
  /// Default: 30 s.
  std::chrono::milliseconds nats_wait{std::chrono::seconds(30)};
  /// JetStream replicas of each replica's consumer: 1 (the default: a consumer on one server,
  /// recreated within about two heartbeats when that server is lost) up to the stream's own.
  int consumer_replicas = 1;
  /// Called once, on a thread of the NATS client library, when the node's NATS connection is
  /// closed for good: the library gave up reconnecting because the servers refused its
  /// credentials twice in a row (rotated or revoked). The node can no longer write or follow
  /// its streams; eventbase-server exits (code 1) so that a supervisor restarts it. Default:
  /// none (the loss is logged).
  std::function<void(const status&)> on_nats_lost;
};

/// True when every address `host` resolves to is a loopback address (127.0.0.0/8, ::1);
/// false for wildcard addresses (0.0.0.0, ::), others and names that do not resolve.
bool is_loopback_address(const std::string& host);

class node {
 public:
  /// Starts everything; returns once the manager is published and accepting connections.
  /// invalid_argument for unusable TLS files, and for a non-loopback bind without TLS unless
  /// `insecure`; unauthenticated when NATS refuses the credentials or the TLS handshake.
  static result<node> start(node_config config);

  /// Closes every stream (their data flushed), stops serving, stops an owned nats-server.
  /// Idempotent; also done by the destructor of the last handle.
  status stop();

  uint16_t port() const;
  const std::string& bind() const;
  /// The NATS server the node is connected to now (the owned one, or one of the configured).
  std::string nats_url() const;
  /// The names of the open streams.
  result<std::vector<std::string>> open_streams();

  /// Whether the node can serve: OK when its NATS connection is up and JetStream answers an
  /// account-info request within `timeout`; else unavailable (or timeout) saying why. Blocks
  /// the calling thread (never an actor's) for at most `timeout`. Thread-safe.
  status health(std::chrono::milliseconds timeout = std::chrono::seconds(2));

  /// The node's metrics in Prometheus' text exposition format (README "Health and metrics"):
  /// operations and their latency per stream, applied sequence and replay lag per stream, open
  /// streams, subscriptions, the NATS connection's state and reconnects, the replica's size.
  /// Asks the stream actors by message; blocks the calling thread up to about two seconds.
  /// Thread-safe.
  result<std::string> metrics();

  node() = default;  // an empty handle

  struct impl;

 private:
  explicit node(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<impl> impl_;
};

}  // namespace eventbase
