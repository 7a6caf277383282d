// Waiting for an Eventbase actor's reply from code that is not an event-based actor: a thread of
// your own (through a caf::scoped_actor) or a blocking actor.
//
//   caf::scoped_actor self{sys};
//   auto stream = eventbase::ask<eventbase::stream_actor>(*self, manager, std::chrono::seconds(10),
//                                                         eventbase::open_atom::value, "orders");
//   if (!stream.ok()) std::cerr << stream.error().to_string() << "\n";
#pragma once

#include <utility>

#include <caf/after.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/sec.hpp>
#include <caf/timespan.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/status.hpp"

namespace eventbase {

/// Sends `xs...` to `target` as a request from `self` and waits at most `timeout` for the reply:
/// the reply of type T, or the error as a status (to_status: an Eventbase error keeps its errc,
/// CAF's request timeout becomes errc::timeout).
///
/// The calling thread keeps the deadline itself (a timed wait for the reply) instead of
/// registering it with CAF's clock thread, as request(target, timeout, ...) does: waking that
/// thread for every call took a core from nats-server while it handled the call's publish
/// (about 10 us of a put's latency on two cores). A reply that comes after the deadline stays
/// unread in `self`'s mailbox, as it did with CAF's own timeout.
template <class T, class Handle, class... Ts>
result<T> ask(caf::blocking_actor& self, const Handle& target, caf::timespan timeout, Ts&&... xs) {
  result<T> out = status(errc::internal, "no reply");
  auto pending = self.request(target, caf::infinite, std::forward<Ts>(xs)...);
  caf::blocking_actor::accept_one_cond one;
  self.varargs_receive(
      one, pending.id(), [&](T& value) { out = std::move(value); },
      [&](caf::error& err) { out = to_status(err); },
      caf::after(timeout) >> [&] { out = to_status(caf::make_error(caf::sec::request_timeout)); });
  return out;
}

}  // namespace eventbase
