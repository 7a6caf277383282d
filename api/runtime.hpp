// What the non-actor API shares across all handles of a process: one CAF actor system and the
// NATS connections (one per distinct set of connection options). Created on first use; lives as
// long as any handle holds it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <caf/fwd.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/stream_actor.hpp"
#include "eventbase/eventbase.hpp"
#include "nats/connection.hpp"

namespace eventbase::storage {
class database;
}

namespace eventbase::api {

class runtime {
 public:
  static std::shared_ptr<runtime> get();

  ~runtime();

  caf::actor_system& system();

  /// A shared connection for `options`, opened on first use.
  result<std::shared_ptr<nats::connection>> connect(const nats_options& options);

  /// A blocking actor for one synchronous request from a thread that is not an actor, taken
  /// from a pool and given back when the lease ends. Lets a caller wait for a reply directly,
  /// without a hop through a helper actor.
  class actor_lease {
   public:
    actor_lease(runtime* owner, std::unique_ptr<caf::scoped_actor> actor)
        : owner_(owner), actor_(std::move(actor)) {}
    actor_lease(actor_lease&&) = default;
    ~actor_lease();
    caf::blocking_actor* operator->() { return actor_->ptr(); }
    caf::blocking_actor& operator*() { return *actor_->ptr(); }

   private:
    runtime* owner_;
    std::unique_ptr<caf::scoped_actor> actor_;
  };
  actor_lease borrow_actor();

  struct state;
  explicit runtime(std::unique_ptr<state> st);

 private:
  std::unique_ptr<state> state_;
};

/// What every handle of the API holds: the runtime, the NATS connection, the database (at the
/// configured data path, or at a new temporary directory named in `temp_dir` so that its owner
/// can remove it) and how long to wait for replies.
struct local_resources {
  std::shared_ptr<runtime> rt;
  std::shared_ptr<nats::connection> nats;
  std::shared_ptr<storage::database> db;
  std::string temp_dir;
  caf::timespan request_timeout{};
};

/// Fills `out` for a handle with the given options.
status open_local(local_resources& out, const nats_options& nats, const std::string& data_path,
                  std::chrono::milliseconds operation_timeout);

/// How long the API waits for an actor's reply: the operation timeout and a margin, so that the
/// actor's own, clearer timeout error arrives first.
caf::timespan request_timeout_for(std::chrono::milliseconds operation_timeout);

/// invalid_argument unless `history` (events kept per key by the streams a handle creates) is
/// within 1..actors::kMaxHistory.
status check_history(int64_t history);

/// Stream options of a node's managed streams.
actors::stream_options managed_stream_options(std::chrono::milliseconds timeout,
                                              std::chrono::milliseconds keep_alive,
                                              std::chrono::milliseconds cleanup_interval);

/// Scheduler settings for low latency (see runtime.cc); used by every actor system Eventbase
/// creates.
void tune_scheduler(caf::actor_system_config& cfg);

/// cnats connect options from the API's options.
nats::connect_options to_connect_options(const nats_options& options);

/// Marks the current thread as running an Eventbase callback that must not block on
/// Eventbase (see eventbase.hpp "Threads"), for the lifetime of the guard.
class callback_scope {
 public:
  callback_scope();
  ~callback_scope();
  static bool active();
};

}  // namespace eventbase::api
