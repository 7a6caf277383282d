// An in-process CAF node talking to an eventbase-server with the actor interface, as an
// embedding application does (or a hostile peer that skips the client's checks).
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "eventbase/actors.hpp"
#include "eventbase/network.hpp"
#include "eventbase/request.hpp"
#include "system/processes.hpp"

namespace eventbase::test {

struct remote_node {
  struct config : caf::actor_system_config {
    config() {
      configure_network(*this);
      load<caf::io::middleman>();
    }
  };

  static constexpr auto kRequestTimeout = std::chrono::seconds(60);

  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  manager_actor manager;

  status connect(const server_process& server) {
    auto found = connect_manager(sys, server.host(), server.port(), std::chrono::seconds(10));
    if (!found.ok()) return found.error();
    manager = *found;
    return status::OK();
  }

  /// Sends `xs...` to `target` and waits for the reply.
  template <class T, class Handle, class... Ts>
  result<T> ask(const Handle& target, Ts&&... xs) {
    return eventbase::ask<T>(*self, target, kRequestTimeout, std::forward<Ts>(xs)...);
  }

  result<stream_actor> open(const std::string& name) {
    return ask<stream_actor>(manager, open_atom::value, name);
  }
};

}  // namespace eventbase::test
