// A NATS connection (cnats) shared by all streams of a node. Reconnects forever after a loss;
// subscriptions are restored by the client library, JetStream consumers by the stream actors
// (which listen for reconnects).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nats/transport.hpp"

struct __natsConnection;

namespace eventbase::nats {

struct connect_options {
  std::vector<std::string> servers;  // e.g. "nats://127.0.0.1:4222"; empty: the default URL
  std::string user;
  std::string password;
  std::string token;
  std::string name = "eventbase";
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_wait{250};
};

class connection : public transport, public std::enable_shared_from_this<connection> {
 public:
  /// Connects, or fails with unavailable naming the servers and the reason.
  static result<std::shared_ptr<connection>> open(const connect_options& options);

  ~connection() override;

  status publish(std::string_view subject, std::string_view payload, std::string_view reply = {},
                 const headers& hdrs = {}) override;
  result<std::unique_ptr<inbox>> open_inbox(const std::string& prefix,
                                            message_handler handler) override;
  int64_t max_payload() const override;
  uint64_t add_reconnect_listener(std::function<void()> callback) override;
  void remove_reconnect_listener(uint64_t id) override;

  /// The URL of the server connected to (for logs).
  std::string connected_url() const;

  /// State shared with the client library's callbacks, which may outlive this object briefly.
  struct listeners;

  struct private_tag {};
  connection(private_tag, __natsConnection* conn, std::shared_ptr<listeners> shared);

 private:
  __natsConnection* conn_;
  std::shared_ptr<listeners> listeners_;
};

}  // namespace eventbase::nats
