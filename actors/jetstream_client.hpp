// JetStream's API spoken over plain NATS requests, for one stream actor (internal to actors/).
//
// Each call publishes a request whose reply subject is "<reply_prefix><token>" (a subject of the
// actor's inbox, see inbound.hpp) and carries its own completion, which runs exactly once: with
// the reply's body when it arrives (on_reply), with errc::timeout when its deadline passes
// (expire), or at once when the request cannot be published. Nothing here waits for the network.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "eventbase/status.hpp"
#include "nats/transport.hpp"

namespace eventbase::actors {

class jetstream_client {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using clock = std::function<time_point()>;

  /// The body of a reply, or why there is none: unavailable when no JetStream server took the
  /// request (NATS "no responders"), timeout when the deadline passed, or the publish error.
  /// A reply that JetStream itself marks as an error ({"error":{...}}) arrives as a body; the
  /// parsers in protocol/jetstream.hpp turn it into a status.
  using completion = std::function<void(result<std::string> reply_body)>;

  /// Requests go out through `nats`; a call gets `timeout` to be answered, by `now`'s clock.
  jetstream_client(nats::transport& nats, std::string reply_prefix,
                   std::chrono::milliseconds timeout, clock now);

  /// Sends `body` to `subject`; `done` runs exactly once, later (or before call returns, when
  /// the request cannot be published). `done` may issue further calls.
  void call(const std::string& subject, const std::string& body, completion done);

  /// The reply to the call with `token`; replies to calls answered already are ignored.
  void on_reply(uint64_t token, const nats::message& msg);

  /// Fails the calls whose deadline has passed.
  void expire();

  /// Forgets every pending call without running its completion (their owner is going away).
  void clear() { calls_.clear(); }

  bool idle() const { return calls_.empty(); }

 private:
  struct pending {
    std::string subject;
    time_point deadline;
    completion done;
  };

  void finish(uint64_t token, result<std::string> outcome);

  nats::transport& nats_;
  std::string reply_prefix_;
  std::chrono::milliseconds timeout_;
  clock now_;
  uint64_t next_token_ = 1;
  std::map<uint64_t, pending> calls_;
};

}  // namespace eventbase::actors
