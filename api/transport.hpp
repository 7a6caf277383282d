// The connections of an Eventbase node (internal to api/): CAF "scribes" over plain TCP or over
// TLS, with three things CAF 0.17's own scribes lack.
//
// - A bound on the size of one message. CAF's BASP layer reads a 32-byte header and then asks
//   its scribe for exactly the payload length the header claims (up to 4 GiB), and the scribe
//   allocates that buffer at once: a peer that sends one header makes the node allocate the
//   size it names. These scribes refuse a read larger than their bound: the connection is
//   closed (and logged) before anything is allocated.
// - A record of how far the peer got (TLS up, first BASP header received), read by the
//   listener's handshake deadline, and OpenSSL's reason when the TLS handshake fails, logged
//   on a server and reported to connect_manager on a client.
// - TLS through CAF's OpenSSL module: libcaf_openssl's session (caf::openssl::make_session)
//   does the TLS work; its scribe and doorman are internal to the library (an anonymous
//   namespace in middleman_actor.cpp), so the scribe here takes their place.
//
// Everything here runs on the middleman's multiplexer thread, except connection_state's
// atomics and the failure text, which other threads read.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/io/fwd.hpp>
#include <caf/io/scribe.hpp>

#include "eventbase/network.hpp"
#include "eventbase/status.hpp"

namespace caf::io::network {
class default_multiplexer;
}

namespace eventbase::api {

/// What one connection has been through, shared by its scribe and whoever watches it.
struct connection_state {
  connection_state(std::string peer_address, bool is_server, bool is_tls)
      : peer(std::move(peer_address)), server(is_server), tls(is_tls) {}

  const std::string peer;                    // "HOST:PORT" of the other side, for logs
  const bool server;                         // accepted (true) or initiated (false) by this node
  const bool tls;                            // a TLS connection
  std::atomic<bool> tls_established{false};  // TLS: application data has arrived
  std::atomic<bool> started{false};          // the first BASP header has arrived
  std::atomic<bool> refused{false};          // closed by a bound of the scribe: stop reading

  /// Why the TLS handshake failed (OpenSSL's reason), empty while it has not.
  std::string failure() const;
  void set_failure(std::string why);

 private:
  mutable std::mutex mutex_;
  std::string failure_;
};

/// A scribe for connected socket `fd` (made non-blocking). `max_message` bounds one BASP
/// message (0: no bound). With `state->tls`, the socket gets a TLS session of CAF's OpenSSL
/// module (the actor system must have TLS configured); `state->server` says which side of the
/// handshake this is. On failure (no TLS session could be made: bad files, or the handshake
/// failed at once) the socket is closed and the error is unauthenticated (with OpenSSL's
/// reason) or internal.
result<caf::io::scribe_ptr> make_scribe(caf::actor_system& sys,
                                        caf::io::network::default_multiplexer& mpx, int fd,
                                        size_t max_message,
                                        std::shared_ptr<connection_state> state);

/// True when the configuration asks for TLS (any of CAF's `openssl.*` file entries is set).
bool tls_configured(const caf::actor_system_config& cfg);

/// A module that loads CAF's OpenSSL manager when, at the actor system's start, the
/// configuration asks for TLS (see configure_network). It occupies the OpenSSL manager's slot
/// and creates the real manager in init(), when the middleman exists: CAF's manager refuses to
/// be created before the middleman, and applications load the middleman after
/// configure_network (CAF_MAIN loads it after the config's constructor ran).
caf::actor_system::module* make_tls_module(caf::actor_system& sys);

/// OpenSSL's pending errors of this thread as one line ("" when none), and clears them.
std::string take_ssl_errors();

/// OpenSSL's `reason` for a failed handshake with what it means for the operator, seen from
/// the server (`server`) or the client: "its certificate is not signed by our CA or is not
/// valid now (expired?) (certificate verify failed)".
std::string explain_tls_failure(const std::string& reason, bool server);

/// "HOST:PORT" of the peer of socket `fd`, "?" when unknown.
std::string peer_of(int fd);

/// A TCP connection to host:port within `timeout` (blocking connect with a deadline; the
/// socket is returned non-blocking). unavailable or timeout otherwise.
result<int> tcp_connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout);

}  // namespace eventbase::api

// The handshake guard gets a connection's state in a local message.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<eventbase::api::connection_state>)
