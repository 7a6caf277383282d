// Waiting for an Eventbase actor's reply from code that is not an event-based actor: a thread of
// your own (through a caf::scoped_actor) or a blocking actor.
//
//   caf::scoped_actor self{sys};
//   auto stream = eventbase::ask<eventbase::stream_actor>(*self, manager, std::chrono::seconds(10),
//                                                         eventbase::open_atom::value, "orders");
//   if (!stream.ok()) std::cerr << stream.error().to_string() << "\n";
#pragma once

#include <utility>

#include <caf/blocking_actor.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/status.hpp"

namespace eventbase {

/// Sends `xs...` to `target` as a request from `self` and waits at most `timeout` for the reply:
/// the reply of type T, or the error as a status (to_status: an Eventbase error keeps its errc,
/// CAF's request timeout becomes errc::timeout).
template <class T, class Handle, class... Ts>
result<T> ask(caf::blocking_actor& self, const Handle& target, caf::timespan timeout, Ts&&... xs) {
  result<T> out = status(errc::internal, "no reply");
  self.request(target, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& value) { out = std::move(value); },
               [&](caf::error& err) { out = to_status(err); });
  return out;
}

}  // namespace eventbase
