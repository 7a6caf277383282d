// Handing a message to an idle actor and running the actor on the sending thread, instead of
// waking a CAF worker for it (internal to eventbase: the stream actor's inbox and the API's
// waiting calls use it).
//
// A message to an idle actor normally wakes a CAF worker (a futex wake and a switch of threads,
// 20-30 µs per put on a 2-vCPU VM, measured) while the sending thread goes on to wait. Two
// senders have nothing else to do at that moment: the NATS thread that handed a stream actor
// what arrived for it, and an API caller that will block for the reply. They run the actor's
// turn themselves. The actor stays an actor: it gets the message through its mailbox, CAF runs
// it on one thread at a time (this one, for this turn) and it touches its state only inside the
// turn; what it sends to other idle actors goes to the scheduler as usual. After `max_messages`
// messages, or when the actor yields, the rest of its mailbox goes to the scheduler too.
//
// Only for threads that may be held for one turn of an actor (a few messages), never for a
// thread that serves many others at once (a CAF worker, the middleman).
#pragma once

#include <cstddef>

#include <caf/fwd.hpp>

namespace eventbase::actors {

/// Enqueues `content` (anonymous) to `receiver`; runs the receiver's turn here if it was idle.
void send_and_run_here(const caf::strong_actor_ptr& receiver, caf::message content,
                       size_t max_messages = 1);

/// While alive, a message `sender` sends to an idle actor runs that actor's turn on this thread
/// (as send_and_run_here). For a blocking actor that sends a request and waits for its reply.
class run_receivers_here {
 public:
  explicit run_receivers_here(caf::local_actor& sender, size_t max_messages = 1);
  ~run_receivers_here();
  run_receivers_here(const run_receivers_here&) = delete;
  run_receivers_here& operator=(const run_receivers_here&) = delete;

 private:
  caf::local_actor& sender_;
  caf::execution_unit* previous_;
};

}  // namespace eventbase::actors
