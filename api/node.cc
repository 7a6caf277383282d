// eventbase::node (see include/eventbase/node.hpp).
#include "eventbase/node.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/manager_actor.hpp"
#include "api/listener.hpp"
#include "api/metrics.hpp"
#include "api/runtime.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/log.hpp"
#include "eventbase/network.hpp"
#include "eventbase/request.hpp"
#include "nats/connection.hpp"
#include "nats/embedded_server.hpp"
#include "nats/server_settings.hpp"
#include "protocol/jetstream.hpp"
#include "storage/database.hpp"

namespace eventbase {
namespace {

// Connects to NATS, retrying for up to `wait` while the servers cannot be reached (they may
// be starting, as in a compose file); refused credentials or TLS are not retried. Runs on the
// thread that starts the node, before any actor exists.
result<std::shared_ptr<nats::connection>> connect_nats(const nats::connect_options& options,
                                                       std::chrono::milliseconds wait) {
  auto give_up_at = std::chrono::steady_clock::now() + wait;
  auto delay = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    auto conn = nats::connection::open(options);
    if (conn.ok() || conn.error().code() == errc::unauthenticated ||
        conn.error().code() == errc::invalid_argument)
      return conn;
    auto now = std::chrono::steady_clock::now();
    if (now + delay > give_up_at) {
      if (wait.count() == 0) return conn;
      return status(conn.error().code(), conn.error().message() + " (gave up after " +
                                             std::to_string(attempt) + " tries in " +
                                             std::to_string(wait.count() / 1000) + " s)");
    }
    EB_LOG_WARN("node", "try " << attempt << ": " << conn.error().message() << "; retrying in "
                               << delay.count() << " ms");
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

std::string random_secret() {
  std::random_device entropy;
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) out += hex[entropy() & 15];
  return out;
}

bool loopback(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr->sa_family == AF_INET6) {
    auto* in = reinterpret_cast<const sockaddr_in6*>(addr);
    return IN6_IS_ADDR_LOOPBACK(&in->sin6_addr);
  }
  return false;
}

// What start() refuses before it touches anything.
status check_config(const node_config& config) {
  if (auto st = check_tls(config.tls); !st.ok()) return st;
  if (!config.tls.enabled() && !config.insecure && !is_loopback_address(config.bind))
    return status(errc::invalid_argument,
                  "refusing to serve without TLS on '" + config.bind +
                      "', which is not a loopback address: configure tls, or set insecure to "
                      "serve everyone who reaches the port");
  if (config.nats.servers.empty() &&
      (!config.nats.tls_ca.empty() || !config.nats.tls_cert.empty() ||
       !config.nats.tls_key.empty() || !config.nats.creds.empty() || !config.nats.nkey.empty()))
    return status(errc::invalid_argument,
                  "NATS TLS, creds and nkey settings apply to the NATS servers of nats.servers; "
                  "the owned nats-server listens on loopback and takes a user/password or token");
  if (auto st = api::check_history(config.history); !st.ok()) return st;
  if (auto st = nats::check_sync(config.nats_sync); !st.ok())
    return status(st.code(), "nats_sync: " + st.message());
  return status::OK();
}

}  // namespace

bool is_loopback_address(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (host.empty() || ::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool all = found != nullptr;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) all = all && loopback(a->ai_addr);
  ::freeaddrinfo(found);
  return all;
}

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
  if (auto st = check_config(config); !st.ok()) return st;
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
    own.executable = config.nats_server_bin;
    own.sync = config.nats_sync;
    own.store_dir = (std::filesystem::path(config.data_path) / "nats").string();
    if (nats.user.empty() && nats.token.empty()) {
      // Loopback is reachable by every local user: lock the owned server with a password only
      // this process knows (it reaches the server through a 0600 file, not the command line).
      nats.user = "eventbase";
      nats.password = random_secret();
    }
    own.user = nats.user;
    own.password = nats.password;
    own.token = nats.token;
    auto started = nats::embedded_server::start(own);
    if (!started.ok()) return started.error();
    p->own_nats = std::move(*started);
    nats.servers = {p->own_nats->url()};
  }
  auto conn = connect_nats(api::to_connect_options(nats),
                           p->own_nats ? std::chrono::milliseconds(0) : config.nats_wait);
  if (!conn.ok()) return conn.error();
  p->nats = *conn;
  if (config.on_nats_lost) p->nats->on_lost(config.on_nats_lost);

  network_options net;
  net.connection_timeout = config.connection_timeout;
  net.tls = config.tls;
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
  mc.options.history = config.history;
  mc.options.consumer_replicas = config.consumer_replicas;
  mc.options.subscriber_max_pending = config.subscriber_max_pending;
  mc.options.subscriber_max_pending_bytes = config.subscriber_max_pending_bytes;
  mc.options.audit_interval = config.audit_interval;
  mc.stats_stream_for = config.stats_stream_name;
  p->manager = actors::spawn_manager(*p->system, std::move(mc));
  api::listener_options listen;
  listen.handshake_timeout = config.connection_timeout;
  listen.tls = config.tls.enabled();
  listen.max_message =
      config.max_message_bytes > 0
          ? static_cast<size_t>(config.max_message_bytes)
          : static_cast<size_t>(std::max<int64_t>(p->nats->max_payload(), 0)) + (size_t{64} << 10);
  auto port = api::publish_manager(*p->system, p->manager, config.bind, config.port, listen);
  if (!port.ok()) {
    p->stop();
    return port.error();
  }
  p->port = *port;
  p->config = std::move(config);
  std::string own_nats;
  if (p->own_nats)
    own_nats = " (its own nats-server " + p->own_nats->version().to_string() + ", " +
               p->own_nats->executable() + ", JetStream sync: " + p->own_nats->sync_description() +
               ")";
  auto release = p->nats->server_release();
  if (own_nats.empty() && release) own_nats = " (nats-server " + release->to_string() + ")";
  EB_LOG_INFO("node", "serving on " << p->config.bind << ":" << p->port
                                    << (p->config.tls.enabled() ? " with mutual TLS" : "")
                                    << ", messages up to " << listen.max_message
                                    << " bytes, with NATS " << p->nats->connected_url()
                                    << own_nats);
  // Features by release (README "NATS releases"): what an old server cannot give.
  if (release && !nats::require(*release, nats::kSyncIntervalSince, "").ok())
    EB_LOG_WARN("node", "nats-server " << release->to_string()
                                       << " loses acknowledged writes: it cannot sync them before "
                                          "acknowledging, and a stream leader's kill lost "
                                          "acknowledged writes in Eventbase's cluster tests; "
                                          "use nats-server "
                                       << nats::kSyncIntervalSince.to_string() << " or newer");
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

status node::health(std::chrono::milliseconds timeout) {
  std::shared_ptr<nats::connection> conn;
  if (impl_) {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    if (!impl_->stopped) conn = impl_->nats;
  }
  if (!conn) return status(errc::closed, "node is stopped");
  auto& nats = *conn;
  if (auto state = nats.state(); state != "connected")
    return status(errc::unavailable, "NATS connection is " + state);
  auto reply = nats.request(protocol::jetstream::account_info_subject(), "", timeout);
  if (!reply.ok())
    return status(reply.error().code(), "JetStream does not answer: " + reply.error().message());
  if (auto st = protocol::jetstream::parse_account_info(*reply); !st.ok())
    return status(errc::unavailable, st.message());
  return status::OK();
}

result<std::string> node::metrics() {
  if (!impl_) return status(errc::closed, "node is stopped");
  std::lock_guard<std::mutex> guard(impl_->mutex);  // stop() waits for this
  if (impl_->stopped || !impl_->system) return status(errc::closed, "node is stopped");
  api::node_snapshot snapshot;
  {
    caf::scoped_actor self{*impl_->system};
    // The manager waits at most a second for each stream; a second more for the reply.
    auto streams = ask<std::vector<actors::stream_metrics>>(*self, actors::internal(impl_->manager),
                                                            std::chrono::seconds(2),
                                                            actors::metrics_atom::value);
    if (streams.ok())
      snapshot.streams = std::move(*streams);
    else
      snapshot.streams_complete = false;
  }
  snapshot.nats_state = impl_->nats->state();
  snapshot.nats_reconnects = impl_->nats->reconnects();
  snapshot.database_bytes = impl_->db->approximate_size();
  return api::render_metrics(snapshot);
}

result<std::vector<std::string>> node::open_streams() {
  if (!impl_ || !impl_->system) return status(errc::closed, "node is stopped");
  caf::scoped_actor self{*impl_->system};
  return ask<std::vector<std::string>>(*self, impl_->manager, impl_->config.timeout,
                                       list_atom::value);
}

}  // namespace eventbase
