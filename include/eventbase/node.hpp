// An Eventbase node: a manager whose streams are served to other CAF nodes over the network
// (CAF's middleman), with the NATS servers of its configuration, or with a nats-server of its
// own (JetStream, loopback, store under the data path) when none are configured. This is what
// eventbase-server runs; an application can run one in-process too.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eventbase/status.hpp"
#include "eventbase/tls.hpp"

namespace eventbase {

struct node_config {
  std::vector<std::string> nats_servers;  // empty: start and own a local nats-server
  // NATS credentials and TLS, as in eventbase::nats_options (user/password, token, tls_ca,
  // tls_cert/tls_key, creds, nkey). All default empty. With no nats_servers, the owned
  // nats-server takes user/password or token (a random user and password when none is given,
  // so other local users cannot reach it); TLS, creds and nkey need nats_servers.
  std::string nats_user;
  std::string nats_password;
  std::string nats_token;
  std::string nats_tls_ca;
  std::string nats_tls_cert;
  std::string nats_tls_key;
  std::string nats_creds;
  std::string nats_nkey;
  std::string data_path = "./data";  // RocksDB under <path>/replica, own NATS under <path>/nats
  std::string bind = "127.0.0.1";    // address the manager is published on
  uint16_t port = 4333;              // 0: any free port
  // Mutual TLS on the port (eventbase/tls.hpp): only peers with a certificate signed by
  // tls.ca are served. Default none.
  tls_options tls;
  // Serve without TLS on an address that is not loopback. Default false: start() refuses to,
  // since then whoever reaches the port can read, write and delete every stream.
  bool insecure = false;
  // The largest message (BASP payload) a peer may send; a connection announcing a larger one
  // is closed before anything is allocated. 0 (default): the NATS server's max_payload plus
  // 64 KiB, which fits the largest document NATS accepts.
  uint64_t max_message_bytes = 0;
  std::chrono::milliseconds keep_alive{std::chrono::hours(1)};
  std::chrono::milliseconds cleanup_interval{std::chrono::minutes(1)};
  std::chrono::milliseconds timeout{10000};
  // A connection that sends nothing (no message, no heartbeat) for this long is closed; so is
  // one that has not completed CAF's handshake by then. 0: never.
  std::chrono::milliseconds connection_timeout{std::chrono::seconds(15)};
  // What one subscription may have sent to it and not yet acknowledged before the stream ends
  // it as too slow: changes, and bytes of them.
  uint64_t subscriber_max_pending = 10000;
  uint64_t subscriber_max_pending_bytes = uint64_t{64} << 20;
  std::string stats_suffix;  // non-empty: stream S publishes stats to S<suffix>
  int replicas = 1;          // JetStream replicas of the streams this node creates
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
  /// The NATS server the node uses (the owned one, or the first configured).
  std::string nats_url() const;
  /// The names of the open streams.
  result<std::vector<std::string>> open_streams();

  struct impl;
  explicit node(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
  node() = default;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace eventbase
