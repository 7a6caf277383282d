// How a node accepts connections from other CAF nodes: CAF's publish, with two repairs of CAF
// 0.17's network layer (internal to api/).
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
//    accepted connection that has not received a BASP header (32 bytes) within the handshake
//    timeout; connections that sent one are covered by CAF's connection timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/status.hpp"

namespace eventbase::api {

/// Publishes `manager` on `bind`:`port` (0: any free port) like caf::io::middleman::publish
/// with SO_REUSEADDR, with the repairs above; returns the port. `handshake_timeout` 0 disables
/// the deadline.
result<uint16_t> publish_manager(caf::actor_system& sys, const manager_actor& manager,
                                 const std::string& bind, uint16_t port,
                                 std::chrono::milliseconds handshake_timeout);

}  // namespace eventbase::api
