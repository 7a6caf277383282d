// The part of NATS the stream actors use, as an interface: `connection` implements it with
// cnats; actor tests script it. Everything a node says to JetStream goes through plain
// publishes and one private inbox per stream, so no call here waits for the network.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eventbase/status.hpp"
#include "nats/server_settings.hpp"

namespace eventbase::nats {

/// Headers of a message (name, value). A received message lists each name once, with its first
/// value (NATS allows several).
using headers = std::vector<std::pair<std::string, std::string>>;

/// A received message, copied out of the client library's buffers.
struct message {
  std::string subject;
  std::string reply;
  std::string data;
  int status = 0;            // NATS "Status" header (100 heartbeat, 404, 408, 409, 503), 0 if none
  std::string description;   // NATS "Description" header
  std::string msg_id;        // "Nats-Msg-Id" header, the publisher's id of the message
  headers all_headers;       // every header, those above included
  bool more_queued = false;  // more messages for the same inbox were waiting behind this one
};

using message_handler = std::function<void(message&&)>;

/// A private subject prefix. Every message published to "<prefix>.<anything>" reaches the
/// handler given to transport::open_inbox, on a NATS thread, in arrival order, until the inbox
/// is destroyed. After destruction the handler is not called again (it may be running once
/// more while the destructor returns; the handler must tolerate that).
class inbox {
 public:
  virtual ~inbox() = default;
  virtual const std::string& prefix() const = 0;
};

class transport {
 public:
  virtual ~transport() = default;

  /// Publishes without waiting for anything (messages are buffered and flushed by the client).
  virtual status publish(std::string_view subject, std::string_view payload,
                         std::string_view reply = {}, const headers& hdrs = {}) = 0;

  /// Subscribes `handler` to "<prefix>.>". The prefix must be unique, e.g. "_INBOX.<random>".
  virtual result<std::unique_ptr<inbox>> open_inbox(const std::string& prefix,
                                                    message_handler handler) = 0;

  /// The largest payload the server accepts.
  virtual int64_t max_payload() const = 0;

  /// Registers `callback`, called on a NATS thread each time the connection is re-established
  /// after a loss; returns an id for remove_reconnect_listener.
  virtual uint64_t add_reconnect_listener(std::function<void()> callback) = 0;
  virtual void remove_reconnect_listener(uint64_t id) = 0;

  /// Publishes between hold_sends() and the matching release_sends() may reach the network in
  /// fewer, larger writes: a burst of puts then costs the connection (and the server reading
  /// it) one transmission instead of one per message. Every hold is released in the same turn
  /// of its caller, before it waits for anything. Holds may nest and come from several threads.
  /// By default nothing is held.
  virtual void hold_sends() {}
  virtual void release_sends() {}

  /// The release of the server connected to, as its INFO named it (server_probe.hpp); nullopt
  /// when it is not known (not asked yet, or it did not answer).
  virtual std::optional<server_version> server_release() const { return std::nullopt; }
};

/// Holds `t`'s sends while it lives (transport::hold_sends).
class send_burst {
 public:
  explicit send_burst(transport& t) : t_(t) { t_.hold_sends(); }
  ~send_burst() { t_.release_sends(); }
  send_burst(const send_burst&) = delete;
  send_burst& operator=(const send_burst&) = delete;

 private:
  transport& t_;
};

}  // namespace eventbase::nats
