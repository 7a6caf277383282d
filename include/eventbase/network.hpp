// Setting up a CAF actor system that talks to Eventbase nodes over CAF's network layer.
//
//   struct config : caf::actor_system_config {
//     config() { eventbase::configure_network(*this); }
//   };
//   CAF_MAIN(caf::io::middleman)     // or cfg.load<caf::io::middleman>()
//
// Every process that connects to an eventbase-server (or runs one) calls configure_network on its
// configuration before the actor system is created, and loads CAF's middleman. It registers
// Eventbase's message types (eventbase/actors.hpp), gives the node an identity of its own and
// turns on heartbeats, without which a server closes an idle connection.
//
// Mutual TLS: give network_options::tls a certificate, its key and the CA that signs the
// certificates of every node and client of the deployment (or set CAF's own `openssl.*` entries
// of the configuration, e.g. --openssl.certificate=PEM on a CAF_MAIN command line). Both sides
// then present a certificate signed by that CA and refuse peers that do not; a TLS node and a
// plaintext node cannot talk to each other. The TLS sessions are those of CAF's OpenSSL module
// (libcaf_openssl), which configure_network loads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/status.hpp"
#include "eventbase/tls.hpp"

namespace eventbase {

struct network_options {
  /// How often this node sends a heartbeat on each of its connections (and checks its
  /// connection timeout). A server closes connections that stay silent for its connection
  /// timeout (eventbase-server: 15 s, at least 3 s), so an idle client must send heartbeats
  /// more often than that. A heartbeat is a 32-byte message.
  std::chrono::milliseconds heartbeat{std::chrono::seconds(1)};

  /// A connection on which nothing arrives (no message, no heartbeat) for this long is closed;
  /// on a server this also bounds how long a peer may take to complete CAF's handshake. 0 (the
  /// default) keeps silent connections for ever. Leave it 0 on a node that connects to others:
  /// CAF 0.17 starts the clock of an outgoing connection at the epoch, so any timeout closes a
  /// connection whose handshake has not finished by the next heartbeat tick.
  std::chrono::milliseconds connection_timeout{0};

  /// Mutual TLS for every connection of this node, incoming and outgoing. Default: none.
  tls_options tls;
};

/// Prepares `cfg` (before the actor system is created): calls add_message_types, applies
/// `options` and makes this node's CAF identity unique. Load caf::io::middleman as well (before
/// or after this call). When TLS is configured (options.tls, or CAF's `openssl.*` entries when
/// the actor system starts), CAF's OpenSSL module is loaded with it; do not load
/// caf::openssl::manager yourself.
///
/// Why the identity: CAF 0.17 derives a node id from the host (MAC addresses, root file system)
/// and the process id. Two processes with the same PID on one host, e.g. in containers with
/// their own PID namespaces sharing the host's network, get the same node id; a server then
/// takes them for one node and sends one's replies to the other. Here the host part of the id
/// is random instead (the PID stays, for logs).
void configure_network(caf::actor_system_config& cfg, const network_options& options = {});

/// The manager an eventbase-server publishes at `host`:`port`. Connecting, the TLS handshake
/// (when `sys` has TLS configured) and CAF's handshake together take at most `timeout` (CAF's
/// own remote_actor waits for ever on a peer that accepts the connection but never answers).
/// Errors: timeout; unauthenticated when the TLS handshake fails (the server refused this
/// node's certificate, its own is not signed by our CA or has expired, one side does not speak
/// TLS) or the server closes the connection during the handshake (a TLS server does that to a
/// plaintext client), with OpenSSL's reason when there is one; unavailable when nothing listens
/// there or what listens is not an Eventbase manager.
result<manager_actor> connect_manager(caf::actor_system& sys, const std::string& host,
                                      uint16_t port, std::chrono::milliseconds timeout);

}  // namespace eventbase
