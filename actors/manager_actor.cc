// The manager actor (see manager_actor.hpp).
#include "actors/manager_actor.hpp"

#include <functional>
#include <map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "eventbase/log.hpp"
#include "protocol/names.hpp"
#include "storage/database.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {
namespace {

struct manager_state {
  enum class phase { opening, ready, stopping };

  /// Continues a request once the stream is open (or could not be opened).
  using waiter = std::function<void(const caf::expected<stream_actor>&)>;

  struct stream_entry {
    phase current = phase::opening;
    stream_actor actor;
    std::vector<waiter> waiters;  // requests waiting for this stream to open
    bool reopen = false;          // stopping, and asked for again meanwhile
  };

  manager_config cfg;
  std::map<std::string, stream_entry> streams;
  std::map<caf::actor_addr, std::string> names;  // stream actor -> name
  std::map<caf::actor_addr, notice_listener_actor> listeners;
  std::vector<caf::response_promise> close_all_waiters;

  // The state ends with the manager: streams do not outlive it.
  ~manager_state() {
    for (auto& [stream, entry] : streams)
      if (entry.actor) caf::anon_send(entry.actor, close_atom::value);
  }

  static const char* name;
};

const char* manager_state::name = "eventbase.manager";

using manager_self = manager_actor_impl::stateful_pointer<manager_state>;

void notify(manager_self self, bool opened, const std::string& stream) {
  for (auto& [addr, listener] : self->state.listeners) {
    if (opened)
      self->send(listener, opened_atom::value, stream);
    else
      self->send(listener, closed_atom::value, stream);
  }
}

void fail_waiters(manager_state::stream_entry& entry, const status& why) {
  auto waiters = std::move(entry.waiters);
  entry.waiters.clear();
  for (auto& w : waiters) w(to_error(why));
}

manager_state::waiter deliver_to(caf::response_promise rp) {
  return [rp](const caf::expected<stream_actor>& actor) mutable {
    if (actor)
      rp.deliver(*actor);
    else
      rp.deliver(actor.error());
  };
}

// Spawns the stream actor of `name` and waits for it to be ready.
void start_stream(manager_self self, const std::string& name) {
  auto& st = self->state;
  auto& entry = st.streams[name];
  entry.current = manager_state::phase::opening;
  entry.reopen = false;
  auto store = st.cfg.db->open_stream(name);
  if (!store.ok()) {
    fail_waiters(entry, store.error());
    st.streams.erase(name);
    return;
  }
  stream_config config;
  config.name = name;
  config.stats_stream = st.cfg.stats_stream_for ? st.cfg.stats_stream_for(name) : std::string();
  config.nats = st.cfg.nats;
  config.store = *store;
  config.reads = std::make_shared<read_activity>();
  config.on_message = st.cfg.on_message;
  config.options = st.cfg.options;
  entry.actor = spawn_stream(self->system(), std::move(config));
  self->monitor(entry.actor);
  st.names[entry.actor.address()] = name;
  auto actor = entry.actor;
  self->request(actor, caf::infinite, ready_atom::value)
      .then(
          [self, name, actor](ok_atom) {
            auto it = self->state.streams.find(name);
            if (it == self->state.streams.end() || it->second.actor != actor) return;
            auto& e = it->second;
            if (e.current != manager_state::phase::opening) return;
            e.current = manager_state::phase::ready;
            auto waiters = std::move(e.waiters);
            e.waiters.clear();
            notify(self, true, name);
            for (auto& w : waiters) w(actor);
          },
          [](caf::error&) {
            // The stream actor stops after a failed open; its down message fails the waiters
            // with the reason.
          });
}

// A stream actor is gone: forget it, and reopen it if someone asked for it meanwhile.
void on_stream_down(manager_self self, const caf::down_msg& down) {
  auto& st = self->state;
  auto named = st.names.find(down.source);
  if (named == st.names.end()) return;
  std::string name = named->second;
  st.names.erase(named);
  auto it = st.streams.find(name);
  if (it == st.streams.end() || it->second.actor.address() != down.source) return;
  auto& entry = it->second;
  bool was_open = entry.current != manager_state::phase::opening;
  if (!was_open) {
    status why = down.reason ? to_status(down.reason)
                             : status(errc::closed, "stream '" + name + "' stopped while opening");
    fail_waiters(entry, why);
  }
  bool reopen = entry.reopen && !entry.waiters.empty();
  auto waiters = std::move(entry.waiters);
  st.streams.erase(it);
  if (was_open) {
    EB_LOG_INFO("manager", "stream '" << name << "' closed");
    notify(self, false, name);
  }
  if (reopen) {
    st.streams[name].waiters = std::move(waiters);
    start_stream(self, name);
  }
  if (st.streams.empty() && !st.close_all_waiters.empty()) {
    for (auto& rp : st.close_all_waiters) rp.deliver(ok_atom::value);
    st.close_all_waiters.clear();
  }
}

// Runs `then` with the actor of `name` once it is open, opening it if needed.
void with_stream(manager_self self, const std::string& name, manager_state::waiter then) {
  auto& st = self->state;
  auto it = st.streams.find(name);
  if (it != st.streams.end() && it->second.current == manager_state::phase::ready) {
    // Handing it out counts as activity, so it does not stop right after.
    caf::anon_send(internal(it->second.actor), touch_atom::value);
    then(it->second.actor);
    return;
  }
  if (it == st.streams.end()) {
    st.streams[name].waiters.push_back(std::move(then));
    start_stream(self, name);
    return;
  }
  it->second.waiters.push_back(std::move(then));
  if (it->second.current == manager_state::phase::stopping) it->second.reopen = true;
}

// Gathers the metrics of every stream that has an actor (open or opening); a stream that does
// not answer within a second is left out rather than holding up the reply.
caf::result<std::vector<stream_metrics>> gather_metrics(manager_self self) {
  struct gathering {
    caf::typed_response_promise<std::vector<stream_metrics>> promise;
    std::vector<stream_metrics> found;
    size_t waiting = 0;
    void one_done() {
      if (--waiting == 0) promise.deliver(std::move(found));
    }
  };
  auto g = std::make_shared<gathering>();
  for (auto& [name, entry] : self->state.streams)
    if (entry.actor) ++g->waiting;
  if (g->waiting == 0) return std::vector<stream_metrics>();
  g->promise = self->make_response_promise<std::vector<stream_metrics>>();
  for (auto& [name, entry] : self->state.streams) {
    if (!entry.actor) continue;
    self->request(internal(entry.actor), std::chrono::seconds(1), metrics_atom::value)
        .then(
            [g](stream_metrics& m) {
              g->found.push_back(std::move(m));
              g->one_done();
            },
            [g](caf::error&) { g->one_done(); });
  }
  return g->promise;
}

manager_actor_impl::behavior_type manager_behavior(manager_self self, manager_config config) {
  self->state.cfg = std::move(config);
  self->set_down_handler([self](caf::down_msg& down) {
    self->state.listeners.erase(down.source);
    on_stream_down(self, down);
  });
  return {
      [self](open_atom, const std::string& name) -> caf::result<stream_actor> {
        if (auto invalid = protocol::validate_stream_name(name); !invalid.ok())
          return to_error(invalid);
        with_stream(self, name, deliver_to(self->make_response_promise()));
        return caf::delegated<stream_actor>();
      },
      [self](list_atom) -> std::vector<std::string> {
        std::vector<std::string> out;
        for (auto& [name, entry] : self->state.streams)
          if (entry.current == manager_state::phase::ready) out.push_back(name);
        return out;
      },
      [self](status_atom, const std::string& name) -> caf::result<stream_status> {
        if (auto invalid = protocol::validate_stream_name(name); !invalid.ok())
          return to_error(invalid);
        auto rp = self->make_response_promise<stream_status>();
        auto ask_status = [self, rp](const stream_actor& actor) mutable {
          self->request(actor, caf::infinite, status_atom::value)
              .then([rp](stream_status& st) mutable { rp.deliver(std::move(st)); },
                    [rp](caf::error& err) mutable { rp.deliver(err); });
        };
        auto it = self->state.streams.find(name);
        if (it != self->state.streams.end() && it->second.actor &&
            it->second.current == manager_state::phase::opening) {
          ask_status(it->second.actor);  // replaying: its progress, now
        } else {
          with_stream(self, name,
                      [rp, ask_status](const caf::expected<stream_actor>& actor) mutable {
                        if (actor)
                          ask_status(*actor);
                        else
                          rp.deliver(actor.error());
                      });
        }
        return rp;
      },
      [self](metrics_atom) { return gather_metrics(self); },
      [self](close_atom) -> caf::result<ok_atom> {
        auto& st = self->state;
        if (st.streams.empty()) return ok_atom::value;
        for (auto& [name, entry] : st.streams) {
          fail_waiters(entry, status(errc::closed, "the manager closed all streams"));
          entry.current = manager_state::phase::stopping;
          entry.reopen = false;
          caf::anon_send(entry.actor, close_atom::value);  // the down message confirms
        }
        auto rp = self->make_response_promise();
        st.close_all_waiters.push_back(rp);
        return caf::delegated<ok_atom>();
      },
      [self](drop_atom, const std::string& name) -> caf::result<ok_atom> {
        if (auto invalid = protocol::validate_stream_name(name); !invalid.ok())
          return to_error(invalid);
        // Drop through the stream actor, opening it first if needed: it removes the JetStream
        // stream and the local data and stops; its down message makes the manager forget it.
        auto rp = self->make_response_promise();
        with_stream(self, name, [self, name, rp](const caf::expected<stream_actor>& actor) mutable {
          if (!actor) {
            rp.deliver(actor.error());
            return;
          }
          if (auto it = self->state.streams.find(name); it != self->state.streams.end())
            it->second.current = manager_state::phase::stopping;
          self->request(*actor, caf::infinite, drop_atom::value)
              .then([rp](ok_atom) mutable { rp.deliver(ok_atom::value); },
                    [rp](caf::error& err) mutable { rp.deliver(err); });
        });
        return caf::delegated<ok_atom>();
      },
      [self](watch_atom, notice_listener_actor& listener) -> ok_atom {
        self->monitor(listener);
        self->state.listeners.emplace(listener.address(), std::move(listener));
        return ok_atom::value;
      },
  };
}

}  // namespace

manager_actor spawn_manager(caf::actor_system& sys, manager_config config) {
  return sys.spawn(manager_behavior, std::move(config));
}

}  // namespace eventbase::actors
