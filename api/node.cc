// eventbase::node (see include/eventbase/node.hpp).
#include "eventbase/node.hpp"

#include <filesystem>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/manager_actor.hpp"
#include "api/listener.hpp"
#include "api/runtime.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/log.hpp"
#include "eventbase/network.hpp"
#include "eventbase/request.hpp"
#include "nats/connection.hpp"
#include "nats/embedded_server.hpp"
#include "storage/database.hpp"

namespace eventbase {

struct node::impl {
  node_config config;
  std::unique_ptr<nats::embedded_server> own_nats;
  std::shared_ptr<nats::connection> nats;
  std::shared_ptr<storage::database> db;
  caf::actor_system_config caf_config;
  std::unique_ptr<caf::actor_system> system;
  manager_actor manager;
  uint16_t port = 0;
  std::mutex mutex;
  bool stopped = false;

  ~impl() { stop(); }

  status stop() {
    std::lock_guard<std::mutex> guard(mutex);
    if (stopped) return status::OK();
    stopped = true;
    status result;
    if (system && manager) {
      system->middleman().unpublish(manager, port);
      caf::scoped_actor self{*system};
      auto closed =
          ask<ok_atom>(*self, manager, config.timeout + std::chrono::seconds(5), close_atom::value);
      if (!closed.ok()) {
        result = closed.error();
        EB_LOG_WARN("node", "closing streams: " << result.to_string());
      }
      self->send_exit(manager, caf::exit_reason::user_shutdown);
      manager = manager_actor();
    }
    system.reset();  // waits for every actor to finish
    db.reset();
    nats.reset();
    if (own_nats) own_nats->stop();
    return result;
  }
};

result<node> node::start(node_config config) {
  auto p = std::make_shared<impl>();
  std::error_code ec;
  std::filesystem::create_directories(config.data_path, ec);
  if (ec)
    return status(errc::storage,
                  "cannot create data path '" + config.data_path + "': " + ec.message());
  // The replica first: it locks the data path, so a second node on the same path stops here,
  // before it starts a nats-server on the first one's store.
  auto db = storage::database::open((std::filesystem::path(config.data_path) / "replica").string());
  if (!db.ok()) return db.error();
  p->db = *db;
  nats_options nats = config.nats;
  if (nats.servers.empty()) {
    nats::embedded_server_options own;
    own.store_dir = (std::filesystem::path(config.data_path) / "nats").string();
    own.user = nats.user;
    own.password = nats.password;
    own.token = nats.token;
    auto started = nats::embedded_server::start(own);
    if (!started.ok()) return started.error();
    p->own_nats = std::move(*started);
    nats.servers = {p->own_nats->url()};
  }
  auto conn = nats::connection::open(api::to_connect_options(nats));
  if (!conn.ok()) return conn.error();
  p->nats = *conn;

  network_options net;
  net.connection_timeout = config.connection_timeout;
  configure_network(p->caf_config, net);
  p->caf_config.load<caf::io::middleman>();
  api::tune_scheduler(p->caf_config);
  p->system = std::make_unique<caf::actor_system>(p->caf_config);

  actors::manager_config mc;
  mc.nats = p->nats;
  mc.db = p->db;
  mc.options =
      api::managed_stream_options(config.timeout, config.keep_alive, config.cleanup_interval);
  mc.options.replicas = config.replicas;
  mc.options.subscriber_max_pending = config.subscriber_max_pending;
  mc.options.subscriber_max_pending_bytes = config.subscriber_max_pending_bytes;
  mc.stats_stream_for = config.stats_stream_name;
  p->manager = actors::spawn_manager(*p->system, std::move(mc));
  auto port = api::publish_manager(*p->system, p->manager, config.bind, config.port,
                                   config.connection_timeout);
  if (!port.ok()) {
    p->stop();
    return port.error();
  }
  p->port = *port;
  p->config = std::move(config);
  EB_LOG_INFO("node", "serving on " << p->config.bind << ":" << p->port << " with NATS "
                                    << p->nats->connected_url());
  return node(std::move(p));
}

status node::stop() {
  return impl_ ? impl_->stop() : status::OK();
}

uint16_t node::port() const {
  return impl_->port;
}

const std::string& node::bind() const {
  return impl_->config.bind;
}

std::string node::nats_url() const {
  return impl_->nats->connected_url();
}

result<std::vector<std::string>> node::open_streams() {
  if (!impl_ || !impl_->system) return status(errc::closed, "node is stopped");
  caf::scoped_actor self{*impl_->system};
  return ask<std::vector<std::string>>(*self, impl_->manager, impl_->config.timeout,
                                       list_atom::value);
}

}  // namespace eventbase
