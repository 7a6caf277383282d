// JetStream's API spoken over plain NATS requests, for one stream actor (internal to actors/).
//
// Each call publishes a request whose reply subject is "<reply_prefix><token>" (a subject of the
// actor's inbox, see inbound.hpp) and carries its own completion, which runs exactly once: with
// the reply's body when it arrives (on_reply), with the last failure when its deadline passes
// (expire), or at once when the request cannot be published. Nothing here waits for the network.
//
// Passing failures are retried within the call's deadline, with backoff and jitter: no
// JetStream server answering ("no responders", e.g. while a stream elects a leader), an error
// JetStream marks as temporary (protocol::jetstream::is_transient_error), and an attempt that
// got no reply within its own timeout (the request or its reply was lost with a server). The
// requests Eventbase makes are idempotent, so sending one twice is harmless.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "eventbase/status.hpp"
#include "nats/transport.hpp"

namespace eventbase::actors {

class jetstream_client {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using clock = std::function<time_point()>;

  /// The body of a reply, or why there is none: unavailable when no JetStream server took the
  /// request, timeout when the deadline passed (with the last failure in the message), or the
  /// publish error. A reply that JetStream marks as a lasting error ({"error":{...}}) arrives
  /// as a body; the parsers in protocol/jetstream.hpp turn it into a status.
  using completion = std::function<void(result<std::string> reply_body)>;

  struct call_options {
    /// How long one attempt waits for its reply before it is sent again; 0: the whole timeout.
    std::chrono::milliseconds attempt_timeout{0};
    /// Whether passing failures are retried (see above).
    bool retry = true;
  };

  /// Requests go out through `nats`; a call gets `timeout` in all, by `now`'s clock.
  jetstream_client(nats::transport& nats, std::string reply_prefix,
                   std::chrono::milliseconds timeout, clock now);

  /// Sends `body` to `subject`; `done` runs exactly once, later (or before call returns, when
  /// the request cannot be published). `done` may issue further calls.
  void call(const std::string& subject, const std::string& body, completion done,
            call_options options);
  void call(const std::string& subject, const std::string& body, completion done) {
    call(subject, body, std::move(done), call_options{});
  }

  /// The reply to the call with `token`; replies to calls answered already are ignored.
  void on_reply(uint64_t token, const nats::message& msg);

  /// Sends the retries that are due; fails the calls whose deadline has passed.
  void expire();

  /// When expire() next has something to do; nullopt when nothing is pending.
  std::optional<time_point> next_wake() const;

  /// Forgets every pending call without running its completion (their owner is going away).
  void clear() { calls_.clear(); }

  bool idle() const { return calls_.empty(); }

  /// The last passing failure any call met (ok when none did): why a caller waiting on
  /// retries is still waiting.
  const status& last_failure() const { return last_failure_; }

 private:
  struct pending {
    std::string subject;
    std::string body;
    call_options options;
    time_point deadline;                 // of the whole call
    time_point attempt_deadline;         // of the attempt in flight
    std::optional<time_point> retry_at;  // set while waiting to send the next attempt
    int attempts = 0;
    status last_failure;
    completion done;
  };

  void send(uint64_t token, pending& call);
  // Retries after a passing failure, or finishes the call with it when no time is left.
  void failed(uint64_t token, status why);
  void finish(uint64_t token, result<std::string> outcome);

  nats::transport& nats_;
  std::string reply_prefix_;
  std::chrono::milliseconds timeout_;
  clock now_;
  uint64_t next_token_ = 1;
  std::map<uint64_t, pending> calls_;
  status last_failure_;
};

}  // namespace eventbase::actors
