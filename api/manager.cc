// eventbase::manager: the non-actor facade over the manager actor.
#include <filesystem>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/manager_actor.hpp"
#include "api/stream_impl.hpp"
#include "eventbase/log.hpp"
#include "protocol/names.hpp"

namespace eventbase {

using api::request_sync;

struct manager::impl : api::local_resources {
  manager_config config;
  manager_actor actor;
  caf::actor requester;
  subscriber_actor on_message;
  notice_listener_actor notices;

  std::mutex mutex;  // guards handles
  std::map<caf::actor_addr, std::weak_ptr<stream::impl>> handles;

  ~impl() {
    if (actor) {
      auto closed = request_sync<ok_atom>(*rt, actor, request_timeout, close_atom::value);
      if (!closed.ok()) EB_LOG_WARN("api", "closing the manager: " << closed.error().to_string());
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    }
    for (caf::actor helper :
         {caf::actor_cast<caf::actor>(on_message), caf::actor_cast<caf::actor>(notices), requester})
      if (helper) caf::anon_send_exit(helper, caf::exit_reason::user_shutdown);
    db.reset();
    if (!temp_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(temp_dir, ec);
    }
  }
};

namespace {

notice_listener_actor::behavior_type notice_actor(
    notice_listener_actor::pointer, std::function<void(const std::string&)> on_opened,
    std::function<void(const std::string&)> on_closed) {
  return {
      [on_opened](opened_atom, const std::string& name) {
        if (on_opened) on_opened(name);
      },
      [on_closed](closed_atom, const std::string& name) {
        if (on_closed) on_closed(name);
      },
  };
}

}  // namespace

result<manager> manager::create(manager_config config) {
  if (config.keep_alive.count() <= 0)
    return status(errc::invalid_argument, "keep_alive must be positive");
  if (config.cleanup_interval.count() <= 0)
    return status(errc::invalid_argument, "cleanup_interval must be positive");
  if (config.timeout.count() <= 0)
    return status(errc::invalid_argument, "timeout must be positive");
  if (auto st = api::check_history(config.history); !st.ok()) return st;
  auto p = std::make_shared<impl>();
  if (auto st = api::open_local(*p, config.nats, config.data_path, config.timeout); !st.ok())
    return st;

  auto& sys = p->rt->system();
  p->requester = api::spawn_requester(sys);
  if (config.on_message) p->on_message = api::spawn_message_callback(sys, config.on_message);
  actors::manager_config mc;
  mc.nats = p->nats;
  mc.db = p->db;
  mc.options =
      api::managed_stream_options(config.timeout, config.keep_alive, config.cleanup_interval);
  mc.options.history = config.history;
  mc.on_message = p->on_message;
  mc.stats_stream_for = config.stats_stream_name;
  p->actor = actors::spawn_manager(sys, std::move(mc));
  if (config.on_stream_opened || config.on_stream_closed) {
    p->notices =
        sys.spawn<caf::detached>(notice_actor, config.on_stream_opened, config.on_stream_closed);
    auto watching =
        request_sync<ok_atom>(*p->rt, p->actor, p->request_timeout, watch_atom::value, p->notices);
    if (!watching.ok()) return watching.error();
  }
  p->config = std::move(config);
  return manager(std::move(p));
}

result<stream> manager::get_stream(const std::string& name) {
  if (!impl_) return status(errc::closed, "manager handle is empty");
  if (auto st = protocol::validate_stream_name(name); !st.ok()) return st;
  // A stream can stop for idleness between the two requests: ask again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto actor = request_sync<stream_actor>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                            open_atom::value, name);
    if (!actor.ok()) return actor.error();
    {
      std::lock_guard<std::mutex> guard(impl_->mutex);
      if (auto existing = impl_->handles[actor->address()].lock()) return stream(existing);
    }
    // The replica itself, for reads on the caller's thread.
    auto local = request_sync<actors::local_access>(
        *impl_->rt, actors::internal(*actor), impl_->request_timeout, actors::local_atom::value);
    if (!local.ok()) continue;
    std::lock_guard<std::mutex> guard(impl_->mutex);
    auto& slot = impl_->handles[actor->address()];
    if (auto existing = slot.lock()) return stream(existing);
    auto p = std::make_shared<stream::impl>();
    p->rt = impl_->rt;
    p->nats = impl_->nats;
    p->db = impl_->db;
    p->read_directly(
        local->store, local->reads,
        impl_->config.stats_stream_name ? impl_->config.stats_stream_name(name) : std::string());
    p->actor = *actor;
    p->requester = impl_->requester;
    p->request_timeout = impl_->request_timeout;
    p->managed = true;
    p->config.stream_name = name;
    p->config.timeout = impl_->config.timeout;
    slot = p;
    // Forget handles of streams that are gone.
    for (auto it = impl_->handles.begin(); it != impl_->handles.end();)
      it = it->second.expired() ? impl_->handles.erase(it) : std::next(it);
    return stream(std::move(p));
  }
  return status(errc::closed, "stream '" + name + "' keeps closing while being opened");
}

result<std::vector<std::string>> manager::open_streams() {
  if (!impl_) return status(errc::closed, "manager handle is empty");
  return request_sync<std::vector<std::string>>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                                list_atom::value);
}

status manager::close_all() {
  if (!impl_) return status::OK();
  auto done =
      request_sync<ok_atom>(*impl_->rt, impl_->actor, impl_->request_timeout, close_atom::value);
  return done.ok() ? status::OK() : done.error();
}

status manager::delete_stream(const std::string& name) {
  if (!impl_) return status(errc::closed, "manager handle is empty");
  auto done = request_sync<ok_atom>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                    drop_atom::value, name);
  return done.ok() ? status::OK() : done.error();
}

}  // namespace eventbase
