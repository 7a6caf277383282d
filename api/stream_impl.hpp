// The state behind an eventbase::stream handle and the request plumbing shared by the API's
// files (internal to api/).
//
// Requests to the stream actor go through a small "requester" actor per stream: a caller hands
// it a task (a closure), the requester sends the request and runs the completion when the reply
// arrives. Synchronous calls wait on a future that the completion fulfils. Reads (get, keys)
// do not go through the actor at all: they read the replica directly, which is safe because
// writes reply only after the replica has applied them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/replica_reader.hpp"
#include "actors/run_here.hpp"
#include "actors/stats_publisher.hpp"
#include "actors/stream_actor.hpp"
#include "api/runtime.hpp"
#include "base/handover_queue.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/eventbase.hpp"
#include "eventbase/request.hpp"
#include "storage/database.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::api {

/// The deadlines of the requester's calls, kept by the requester itself with one timer for all
/// of them. A CAF request timeout registers every request with CAF's clock thread, waking that
/// thread (measured at 64 puts in flight: 0.25-0.3 of its context switches per put, none with
/// this; put_async 7-16% faster in alternating runs). A reply that comes after the deadline is
/// ignored; CAF keeps the handler of a request that is never answered (a target that dies
/// answers with an error).
class call_deadlines {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// Registers a call; `expire` runs from expire_due if `deadline` passes before settle(id).
  uint64_t add(time_point deadline, std::function<void()> expire);

  /// The call's reply (or error) came: true when the call was pending, false when it expired.
  bool settle(uint64_t id);

  /// Runs `expire` of the calls whose deadline is at or before `now`; when the next is due.
  std::optional<time_point> expire_due(time_point now);

  size_t size() const { return pending_.size(); }

 private:
  struct pending {
    std::function<void()> expire;
    std::multimap<time_point, uint64_t>::iterator at;
  };
  uint64_t next_id_ = 1;
  std::map<uint64_t, pending> pending_;
  std::multimap<time_point, uint64_t> by_deadline_;
};

/// What a request_task runs with.
struct requester_context {
  caf::event_based_actor* self;
  call_deadlines& deadlines;                                // the requester's, as long as it lives
  std::function<void(call_deadlines::time_point)> wake_by;  // expire_due runs by then
};

/// A closure the requester actor runs in its own context.
struct request_task {
  std::function<void(requester_context&)> run;
};

}  // namespace eventbase::api

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(eventbase::api::request_task)

namespace eventbase::api {

/// Spawns the requester actor for one handle.
caf::actor spawn_requester(caf::actor_system& sys);

/// From inside the requester: sends `xs...` to `target` and calls `done` with the reply or the
/// error (a timeout error when no reply came within `timeout`, as CAF's request timeout would
/// give). `done` runs on the requester's thread inside a callback_scope, exactly once.
template <class T, class Handle, class... Ts>
void issue_request(requester_context& ctx, const Handle& target, caf::timespan timeout,
                   std::function<void(result<T>)> done, Ts... xs) {
  auto now = std::chrono::steady_clock::now();
  auto deadline = timeout < call_deadlines::time_point::max() - now
                      ? now + timeout
                      : call_deadlines::time_point::max();
  // Shared by the three paths below, only one of which runs it (a batch's `done` is large).
  auto call = std::make_shared<std::function<void(result<T>)>>(std::move(done));
  auto id = ctx.deadlines.add(deadline, [call] {
    callback_scope scope;
    (*call)(to_status(caf::make_error(caf::sec::request_timeout)));
  });
  ctx.wake_by(deadline);
  // The handlers run in the requester, whose state outlives them.
  auto* deadlines = &ctx.deadlines;
  // No CAF request timeout: the deadline above stands for it.
  ctx.self->request(target, caf::infinite, std::move(xs)...)
      .then(
          [call, id, deadlines](T& value) {
            if (!deadlines->settle(id)) return;  // it timed out already
            callback_scope scope;
            (*call)(std::move(value));
          },
          [call, id, deadlines](caf::error& err) {
            if (!deadlines->settle(id)) return;
            callback_scope scope;
            (*call)(to_status(err));
          });
}

/// Sends `xs...` to `target` from `requester`, as issue_request does.
template <class T, class Handle, class... Ts>
void request_async(const caf::actor& requester, const Handle& target, caf::timespan timeout,
                   std::function<void(result<T>)> done, Ts... xs) {
  caf::anon_send(requester, request_task{[target, timeout, done = std::move(done),
                                          xs...](requester_context& ctx) mutable {
                   issue_request<T>(ctx, target, timeout, std::move(done), std::move(xs)...);
                 }});
}

/// put_async and erase_async calls on their way to the stream actor, in call order. The
/// requester takes all that queued up while it was busy and sends runs of puts as batches (one
/// message each way per batch instead of per put), an erase between them on its own, so the
/// stream gets the writes in the order they were called; only the first call after a take
/// wakes the requester (base/handover_queue.hpp).
struct queued_write {
  std::string key;
  std::string text;                                  // put: the document, JSON text
  std::function<void(result<document>)> put_done;    // set for a put
  std::function<void(result<uint64_t>)> erase_done;  // set for an erase
  write_condition condition;
};
using write_queue = handover_queue<queued_write>;

/// Queues a put_async or erase_async call and wakes the requester when it is the first since
/// its last take.
void queue_write(const std::shared_ptr<write_queue>& queue, const caf::actor& requester,
                 const stream_actor& target, caf::timespan timeout, queued_write write);

/// Sends `xs...` to `target` and waits for the reply, from the calling thread (through a pooled
/// blocking actor). Refuses to run inside an *_async completion, which runs on an actor thread
/// that may be needed for the reply.
template <class T, class Handle, class... Ts>
result<T> request_sync(runtime& rt, const Handle& target, caf::timespan timeout, Ts... xs) {
  if (callback_scope::active())
    return status(errc::internal,
                  "a synchronous Eventbase call inside an *_async completion would deadlock; "
                  "use the *_async variant there");
  auto self = rt.borrow_actor();
  // This thread waits for the reply anyway: it runs the target's turn (actors/run_here.hpp).
  actors::run_receivers_here here(*self);
  return ask<T>(*self, target, timeout, xs...);
}

/// Spawns the detached actor that runs `callback` for each change and `ended` when the stream
/// ends the subscription.
subscriber_actor spawn_change_callback(caf::actor_system& sys, change_callback callback,
                                       std::function<void(const status&)> ended);

/// Spawns the detached actor that runs `callback` for each applied event, with its stream's
/// name (on_message of a stream and of a manager).
subscriber_actor spawn_message_callback(
    caf::actor_system& sys,
    std::function<void(const std::string& stream, const nlohmann::ordered_json& event)> callback);

}  // namespace eventbase::api

namespace eventbase {

struct stream::impl : api::local_resources {
  stream_config config;
  std::shared_ptr<storage::stream_store> store;
  std::shared_ptr<actors::read_activity> reads;    // tells the actor this handle reads
  std::unique_ptr<actors::stats_publisher> stats;  // of the direct reads
  std::unique_ptr<actors::replica_reader> reader;  // get and keys, on the caller's thread
  stream_actor actor;
  caf::actor requester;
  std::shared_ptr<api::write_queue> writes = std::make_shared<api::write_queue>();
  subscriber_actor on_message;
  bool managed = false;  // the manager owns the actor, the requester and the store

  /// Sets up the direct reads of `store` (whose stats go to `stats_stream`, if any).
  void read_directly(std::shared_ptr<storage::stream_store> replica,
                     std::shared_ptr<actors::read_activity> activity,
                     const std::string& stats_stream);

  std::atomic<bool> closed{false};
  std::mutex mutex;  // guards subscriptions
  std::vector<std::weak_ptr<subscription::impl>> subscriptions;

  ~impl();

  status check_open() const;
  /// Closes the stream actor and releases everything; ok if already closed.
  status close();
  /// Stops the helper actors and releases local resources (after the stream actor stopped).
  void release();
};

struct subscription::impl {
  std::shared_ptr<api::runtime> rt;
  stream_actor stream;
  subscriber_actor subscriber;
  uint64_t id = 0;
  caf::timespan timeout;
  std::atomic<bool> active{true};
  mutable std::mutex mutex;  // guards ended_by
  status ended_by;           // why the stream ended it

  /// Ends the subscription without asking the stream (it is closing anyway).
  void end_locally();
};

}  // namespace eventbase

namespace eventbase::api {

/// Starts a subscription of `stream` whose changes go to `callback`: spawns its callback actor
/// and asks the stream with `ask` (a glob or a live query), which returns the id.
result<std::shared_ptr<subscription::impl>> start_subscription(
    stream::impl& stream, change_callback callback,
    const std::function<result<uint64_t>(subscriber_actor&)>& ask);

/// The document as JavaScript writes it (JSON.stringify), or why it is no document (too deep,
/// not UTF-8): how filters, options and documents travel to the stream actor.
result<std::string> to_json_text(const nlohmann::ordered_json& data);

/// A query's filter and options as the stream actor takes them (JSON text each).
struct query_texts {
  std::string filter, options;
};
result<query_texts> to_query_texts(const nlohmann::ordered_json& filter,
                                   const nlohmann::ordered_json& options);

}  // namespace eventbase::api
