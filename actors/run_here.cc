// send_and_run_here, run_receivers_here (see run_here.hpp).
#include "actors/run_here.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/local_actor.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace eventbase::actors {
namespace {

// The calling thread as a CAF execution unit. CAF calls exec_later when a message made an idle
// actor runnable: the first such actor runs here at once; while it runs, any other one (made
// runnable by what the first sends) goes to the scheduler. One per thread, living as long as
// the thread: CAF keeps it as the actor's context after the turn.
class calling_thread final : public caf::execution_unit {
 public:
  /// An actor runs here now (a send from inside its turn).
  bool busy() const { return running_; }

  void bind(caf::actor_system* sys, size_t max_messages) {
    system_ = sys;
    max_messages_ = max_messages;
  }

  void exec_later(caf::resumable* job) override {
    // (A broker never comes here: CAF enqueues those to the middleman's thread itself.)
    if (running_) {
      system().scheduler().enqueue(job);
      return;
    }
    running_ = true;
    auto outcome = job->resume(this, max_messages_);
    running_ = false;
    // As a CAF worker treats the outcome: the reference CAF took for this run is ours.
    if (outcome == caf::resumable::resume_later)
      system().scheduler().enqueue(job);  // keeps the reference
    else
      caf::intrusive_ptr_release(job);
  }

 private:
  bool running_ = false;
  size_t max_messages_ = 1;
};

calling_thread& this_thread_unit() {
  static thread_local calling_thread unit;
  return unit;
}

}  // namespace

void send_and_run_here(const caf::strong_actor_ptr& receiver, caf::message content,
                       size_t max_messages) {
  auto& unit = this_thread_unit();
  if (unit.busy()) {  // inside a turn run here: the next actor is the scheduler's
    receiver->enqueue(nullptr, caf::make_message_id(), std::move(content), nullptr);
    return;
  }
  unit.bind(receiver->home_system, max_messages);
  receiver->enqueue(nullptr, caf::make_message_id(), std::move(content), &unit);
}

run_receivers_here::run_receivers_here(caf::local_actor& sender, size_t max_messages)
    : sender_(sender), previous_(sender.context()) {
  auto& unit = this_thread_unit();
  if (unit.busy()) return;  // inside a turn run here: sends go where they went
  unit.bind(&sender.system(), max_messages);
  sender.context(&unit);
}

run_receivers_here::~run_receivers_here() {
  sender_.context(previous_);
}

}  // namespace eventbase::actors
