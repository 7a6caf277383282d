// How a node accepts connections from other CAF nodes: CAF's publish, with repairs of CAF
// 0.17's network layer and optional mutual TLS (internal to api/).
//
// 1. Fresh descriptor numbers. CAF names a connection after its socket descriptor and, when a
//    connection closes, clears the routing state of its handle asynchronously (through the BASP
//    broker's message queue). The kernel hands the lowest free descriptor to the next accepted
//    connection, so under a stream of short connections (one client process per command) a new
//    connection often gets the number of one that has just closed; the late cleanup then erases
//    the new connection's route, and replies to it are dropped without a trace ("no reply within
//    the request timeout" at 10+ concurrent clients). The listener moves every accepted socket
//    to a descriptor number not used recently (rotating through the upper half of the process's
//    descriptor limit), so a number is reused only after the cleanup of its last user ran.
// 2. Handshake deadline. CAF closes a connection whose peer stays silent for the middleman's
//    connection timeout, but only once the peer has sent a complete message header; a peer that
//    connects and sends less than that would be kept for ever. The listener shuts down every
//    accepted connection that has not delivered a BASP header (32 bytes; after TLS, 32
//    decrypted bytes, so the TLS handshake must be complete too) within the handshake timeout;
//    connections that sent one are covered by CAF's connection timeout.
// 3. Message bound. Connections use Eventbase's scribes (transport.hpp), which close a
//    connection whose peer announces a message larger than `max_message` instead of
//    allocating a buffer of the announced size (up to 4 GiB).
// 4. TLS. With `tls`, every accepted connection gets a TLS session of CAF's OpenSSL module
//    (libcaf_openssl): the peer must present a certificate signed by the configured CA, or the
//    connection is closed and the refusal logged. libcaf_openssl's own publish cannot be used:
//    its doorman is internal to the library and would skip repairs 1-3 (its descriptors come
//    straight from accept(), so the reuse race of repair 1 is the same with TLS). The doorman
//    here renumbers the socket first and then hands it to a TLS session.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/status.hpp"

namespace eventbase::api {

struct listener_options {
  /// Deadline for the first BASP header (see above); 0 disables it. Default 15 s.
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(15)};
  /// Largest BASP message (payload) a peer may send; 0: no bound. Default 1 MiB + 64 KiB.
  size_t max_message = (size_t{1} << 20) + (size_t{64} << 10);
  /// Mutual TLS on every connection; the actor system must have TLS configured
  /// (configure_network with tls_options). Default off.
  bool tls = false;
};

/// Publishes `manager` on `bind`:`port` (0: any free port) like caf::io::middleman::publish
/// with SO_REUSEADDR, with the repairs above; returns the port.
result<uint16_t> publish_manager(caf::actor_system& sys, const manager_actor& manager,
                                 const std::string& bind, uint16_t port,
                                 const listener_options& options);

}  // namespace eventbase::api
