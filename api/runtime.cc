#include "api/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "eventbase/actors.hpp"

namespace eventbase::api {
namespace {

std::mutex instance_mutex;
std::weak_ptr<runtime> instance;

thread_local int callback_depth = 0;

std::string connection_key(const nats_options& o) {
  std::string key;
  for (auto& s : o.servers) key += s + ",";
  key += "|" + o.user + "|" + o.password + "|" + o.token;
  return key;
}

}  // namespace

struct runtime::state {
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<nats::connection>> connections;
};

runtime::runtime(std::unique_ptr<state> st) : state_(std::move(st)) {}

runtime::~runtime() {
  // The actor system's destructor waits for every actor; handles have stopped theirs.
  state_->system.reset();
}

std::shared_ptr<runtime> runtime::get() {
  std::lock_guard<std::mutex> guard(instance_mutex);
  if (auto existing = instance.lock()) return existing;
  auto st = std::make_unique<state>();
  add_message_types(st->config);
  st->system = std::make_unique<caf::actor_system>(st->config);
  auto rt = std::make_shared<runtime>(std::move(st));
  instance = rt;
  return rt;
}

caf::actor_system& runtime::system() {
  return *state_->system;
}

result<std::shared_ptr<nats::connection>> runtime::connect(const nats_options& options) {
  std::lock_guard<std::mutex> guard(state_->mutex);
  auto key = connection_key(options);
  if (auto existing = state_->connections[key].lock()) return existing;
  auto conn = nats::connection::open(to_connect_options(options));
  if (!conn.ok()) return conn.error();
  state_->connections[key] = *conn;
  return *conn;
}

nats::connect_options to_connect_options(const nats_options& options) {
  nats::connect_options out;
  for (auto& server : options.servers)
    out.servers.push_back(server.find("://") == std::string::npos ? "nats://" + server : server);
  out.user = options.user;
  out.password = options.password;
  out.token = options.token;
  return out;
}

callback_scope::callback_scope() {
  ++callback_depth;
}
callback_scope::~callback_scope() {
  --callback_depth;
}
bool callback_scope::active() {
  return callback_depth > 0;
}

}  // namespace eventbase::api
