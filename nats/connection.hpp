// A NATS connection (cnats) shared by all streams of a node. Reconnects forever after a loss;
// subscriptions are restored by the client library, JetStream consumers by the stream actors
// (which listen for reconnects).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "nats/transport.hpp"

struct __natsConnection;

namespace eventbase::nats {

struct connect_options {
  std::vector<std::string> servers;  // e.g. "nats://127.0.0.1:4222", "tls://..."; empty: default
  std::string user;                  // with password; default none
  std::string password;
  std::string token;     // default none
  std::string tls_ca;    // PEM CA file that verifies the servers' certificates; turns TLS on
  std::string tls_cert;  // PEM client certificate (with tls_key) for servers that verify clients
  std::string tls_key;
  std::string creds;  // credentials file: user JWT and nkey seed; default none
  std::string nkey;   // nkey seed file (the public key is derived from it); default none
  std::string name = "eventbase";
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_wait{250};
};

class connection : public transport, public std::enable_shared_from_this<connection> {
 public:
  /// Connects, or fails naming the servers and the reason: unauthenticated when a server
  /// refused the credentials or the TLS handshake failed, invalid_argument for unusable TLS,
  /// creds or nkey files, unavailable otherwise.
  static result<std::shared_ptr<connection>> open(const connect_options& options);

  ~connection() override;

  status publish(std::string_view subject, std::string_view payload, std::string_view reply = {},
                 const headers& hdrs = {}) override;
  result<std::unique_ptr<inbox>> open_inbox(const std::string& prefix,
                                            message_handler handler) override;
  int64_t max_payload() const override;
  uint64_t add_reconnect_listener(std::function<void()> callback) override;
  void remove_reconnect_listener(uint64_t id) override;
  /// Corks the connection's TCP socket (TCP_CORK) while holds are outstanding: cnats writes
  /// each publish at once (SendAsap), and a burst of them then leaves as one transmission.
  void hold_sends() override;
  void release_sends() override;
  /// Whether the socket is corked now (a hold found it).
  bool sends_held();

  /// The URL of the server connected to (for logs).
  std::string connected_url() const;

  /// The release of that server, asked at connect and at each reconnect (server_probe.hpp).
  std::optional<server_version> server_release() const override;

  /// The connection's state for health checks and metrics: "connected", "reconnecting",
  /// "connecting", "draining" or "closed"; and the reconnections since it was opened.
  std::string state() const;
  bool connected() const { return state() == "connected"; }
  uint64_t reconnects() const;

  /// Calls `callback` once, on a thread of the client library, if the library closes the
  /// connection for good while this object still holds it: it reconnects forever, but gives up
  /// when the server refuses the credentials twice in a row (rotated or revoked credentials).
  /// Nothing works through the connection after that. Not called when this object closes it.
  void on_lost(std::function<void(const status&)> callback);

  /// A request and its reply, waiting up to `timeout` on the calling thread. Not for actors
  /// (they never block on the network): for health probes from threads of their own.
  result<std::string> request(const std::string& subject, std::string_view payload,
                              std::chrono::milliseconds timeout);

  /// State shared with the client library's callbacks, which may outlive this object briefly.
  struct listeners;

  struct private_tag {};
  connection(private_tag, __natsConnection* conn, std::shared_ptr<listeners> shared);

 private:
  __natsConnection* conn_;
  std::shared_ptr<listeners> listeners_;

  // The socket cnats writes to, found by its local port (cnats does not expose it; a reconnect
  // changes it); fd -1 when unknown. `searched` is the port last searched for, so that a
  // search that found nothing is not repeated for the same connection. Guarded by cork_mutex_,
  // as the hold count.
  struct socket_ref {
    int fd = -1;
    int port = 0;
    int searched = 0;
  };
  std::mutex cork_mutex_;
  socket_ref socket_;
  int holds_ = 0;
  bool corked_ = false;
};

}  // namespace eventbase::nats
