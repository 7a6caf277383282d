// configure_network (see include/eventbase/network.hpp).
#include "eventbase/network.hpp"

#include <unistd.h>

#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include "eventbase/actors.hpp"

namespace eventbase {
namespace {

// Replaces the node id the middleman computed with one whose host part is random.
//
// CAF 0.17 has no setting for the node id: the middleman's init() computes it and stores it in
// the actor system. Modules are initialised in the order of their ids, so a module in a later
// slot runs after the middleman, before any actor exists (actors copy the node id when they are
// spawned, and the BASP broker when it starts). This module takes the slot of CAF's
// `network_manager`, a module CAF 0.17 defines an id for but does not implement, and does
// nothing else.
class node_identity final : public caf::actor_system::module {
 public:
  explicit node_identity(caf::actor_system& sys) : sys_(sys) {}

  void start() override {}
  void stop() override {}

  void init(caf::actor_system_config&) override {
    caf::node_id::default_data::host_id_type host;
    std::random_device entropy;
    for (auto& byte : host) byte = static_cast<uint8_t>(entropy());
    // The actor system owns its node id as a plain member and exposes it read-only; this is
    // the one place that writes it, before anything has read it.
    const_cast<caf::node_id&>(sys_.node()) =
        caf::make_node_id(static_cast<uint32_t>(::getpid()), host);
  }

  id_t id() const override { return network_manager; }
  void* subtype_ptr() override { return this; }

 private:
  caf::actor_system& sys_;
};

}  // namespace

void configure_network(caf::actor_system_config& cfg, const network_options& options) {
  cfg.module_factories.push_back(
      [](caf::actor_system& sys) -> caf::actor_system::module* { return new node_identity(sys); });
  add_message_types(cfg);
  cfg.set("middleman.heartbeat-interval", caf::timespan(options.heartbeat));
  cfg.set("middleman.connection-timeout", caf::timespan(options.connection_timeout));
}

result<manager_actor> connect_manager(caf::actor_system& sys, const std::string& host,
                                      uint16_t port, std::chrono::milliseconds timeout) {
  std::string where = host + ":" + std::to_string(port);
  result<manager_actor> out = status(errc::internal, "no reply from CAF's middleman");
  caf::scoped_actor self{sys};
  // What middleman::remote_actor does, with a deadline (CAF 0.17.6, middleman.cpp).
  self->request(sys.middleman().actor_handle(), timeout, caf::connect_atom::value, host, port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
              const std::set<std::string>& interface) {
            if (!ptr)
              out = status(errc::unavailable, "nothing is published at " + where);
            else if (!sys.assignable<manager_actor>(interface))
              out = status(errc::unavailable, where + " is not an eventbase-server");
            else
              out = caf::actor_cast<manager_actor>(std::move(ptr));
          },
          [&](caf::error& err) {
            if (err == caf::sec::request_timeout)
              out = status(errc::timeout, "no handshake with " + where + " within " +
                                              std::to_string(timeout.count()) + " ms");
            else
              out = status(errc::unavailable, "cannot reach " + where + ": " + sys.render(err));
          });
  return out;
}

}  // namespace eventbase
