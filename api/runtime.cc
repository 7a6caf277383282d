#include "api/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <filesystem>

#include "eventbase/actors.hpp"
#include "storage/database.hpp"

namespace eventbase::api {
namespace {

std::mutex instance_mutex;
std::weak_ptr<runtime> instance;

thread_local int callback_depth = 0;

std::string connection_key(const nats_options& o) {
  std::string key;
  for (auto& s : o.servers) key += s + ",";
  key += "|" + o.user + "|" + o.password + "|" + o.token + "|" + o.tls_ca + "|" + o.tls_cert + "|" +
         o.tls_key + "|" + o.creds + "|" + o.nkey;
  return key;
}

}  // namespace

struct runtime::state {
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  std::mutex mutex;
  std::map<std::string, std::weak_ptr<nats::connection>> connections;
  std::vector<std::unique_ptr<caf::scoped_actor>> idle_actors;  // guarded by mutex
};

runtime::runtime(std::unique_ptr<state> st) : state_(std::move(st)) {}

runtime::~runtime() {
  state_->idle_actors.clear();  // blocking actors end before their system
  // The actor system's destructor waits for every actor; handles have stopped theirs.
  state_->system.reset();
}

runtime::actor_lease runtime::borrow_actor() {
  {
    std::lock_guard<std::mutex> guard(state_->mutex);
    if (!state_->idle_actors.empty()) {
      auto actor = std::move(state_->idle_actors.back());
      state_->idle_actors.pop_back();
      return actor_lease(this, std::move(actor));
    }
  }
  return actor_lease(this, std::make_unique<caf::scoped_actor>(*state_->system, /*hide=*/true));
}

runtime::actor_lease::~actor_lease() {
  if (!actor_) return;
  std::lock_guard<std::mutex> guard(owner_->state_->mutex);
  owner_->state_->idle_actors.push_back(std::move(actor_));
}

std::shared_ptr<runtime> runtime::get() {
  std::lock_guard<std::mutex> guard(instance_mutex);
  if (auto existing = instance.lock()) return existing;
  auto st = std::make_unique<state>();
  add_message_types(st->config);
  tune_scheduler(st->config);
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
  out.tls_ca = options.tls_ca;
  out.tls_cert = options.tls_cert;
  out.tls_key = options.tls_key;
  out.creds = options.creds;
  out.nkey = options.nkey;
  return out;
}

status open_local(local_resources& out, const nats_options& nats, const std::string& data_path,
                  std::chrono::milliseconds operation_timeout) {
  out.rt = runtime::get();
  out.request_timeout = request_timeout_for(operation_timeout);
  auto conn = out.rt->connect(nats);
  if (!conn.ok()) return conn.error();
  out.nats = *conn;
  std::string path = data_path;
  if (path.empty()) {
    std::string templ = (std::filesystem::temp_directory_path() / "eventbase-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr)
      return status(errc::storage, "cannot create a temporary data directory");
    path = out.temp_dir = templ;
  }
  auto db = storage::database::open(path);
  if (!db.ok()) return db.error();
  out.db = *db;
  return status::OK();
}

caf::timespan request_timeout_for(std::chrono::milliseconds operation_timeout) {
  return std::chrono::duration_cast<caf::timespan>(operation_timeout + std::chrono::seconds(2));
}

status check_history(int64_t history) {
  if (history >= 1 && history <= actors::kMaxHistory) return status::OK();
  return status(errc::invalid_argument,
                "history must be within 1.." + std::to_string(actors::kMaxHistory) +
                    " (events kept per key), not " + std::to_string(history));
}

actors::stream_options managed_stream_options(std::chrono::milliseconds timeout,
                                              std::chrono::milliseconds keep_alive,
                                              std::chrono::milliseconds cleanup_interval) {
  actors::stream_options options;
  options.operation_timeout = timeout;
  options.open_timeout = timeout;
  options.idle_timeout = keep_alive;
  options.idle_check_interval = cleanup_interval;
  return options;
}

void tune_scheduler(caf::actor_system_config& cfg) {
  // CAF 0.17's idle workers poll with 50 us sleeps for a while before they wait on a condition
  // variable; a message from outside the scheduler (a NATS thread, a caller) then waits for the
  // next poll. Waiting on the condition variable right after a short spin wakes them at once.
  cfg.set("work-stealing.aggressive-poll-attempts", 100);
  cfg.set("work-stealing.moderate-poll-attempts", 0);
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
