// Behaviour, lifecycle, reads and subscriptions of the stream actor (see stream_state.hpp).
#include <algorithm>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/stream_state.hpp"
#include "eventbase/log.hpp"
#include "nats/transport.hpp"
#include "protocol/jetstream.hpp"
#include "protocol/key_pattern.hpp"
#include "protocol/names.hpp"
#include "protocol/stats.hpp"
#include "protocol/timestamp.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

const char* stream_state::name = "eventbase.stream";

namespace {

// At most every this many changes to a subscription, one is a request whose reply acknowledges
// it (and all before it).
constexpr uint64_t kAckInterval = 32;
// How long a reply is awaited; a later acknowledgement covers a missed one.
constexpr auto kAckTimeout = std::chrono::seconds(60);

std::string random_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

// -- lifecycle ----------------------------------------------------------------------------------

void stream_state::start(stream_config config) {
  cfg = std::move(config);
  writer_id = random_id();
  last_activity = self->clock().now();
  open_deadline = last_activity + cfg.options.open_timeout;
  queue = std::make_shared<inbound_queue>();
  if (!cfg.store || !cfg.nats) {
    fail_open(status(errc::internal, "stream actor started without storage or NATS"));
    return;
  }
  // Messages for this stream arrive on a NATS thread: classify and decode them there, then hand
  // them over through the queue, waking the actor only when the queue was empty.
  auto q = queue;
  stream_actor_impl me = self;
  std::string prefix = "_INBOX.eb" + writer_id + random_id();
  auto inbox_or = cfg.nats->open_inbox(prefix, [q, me, prefix, id = writer_id](nats::message&& m) {
    auto in = classify(std::move(m), prefix, id);
    bool urgent = is_urgent(in);
    if (q->push(std::move(in), urgent)) caf::anon_send(me, drain_atom::value);
  });
  if (!inbox_or.ok()) {
    fail_open(inbox_or.error());
    return;
  }
  inbox = std::move(*inbox_or);
  reconnect_listener = cfg.nats->add_reconnect_listener([q, me] {
    inbound in;
    in.what = inbound::kind::reconnected;
    if (q->push(std::move(in))) caf::anon_send(me, drain_atom::value);
  });
  max_pull_bytes = std::max(cfg.options.pull_max_bytes, cfg.nats->max_payload() + (64 << 10));
  request_stream_info();
  schedule_tick();
}

void stream_state::become_ready() {
  if (current != phase::opening) return;
  current = phase::ready;
  EB_LOG_INFO("stream", "'" << cfg.name << "' ready at sequence " << cfg.store->applied_sequence());
  for (auto& rp : ready_waiters) rp.deliver(ok_atom::value);
  ready_waiters.clear();
}

void stream_state::fail_open(const status& why) {
  EB_LOG_WARN("stream", "cannot open '" << cfg.name << "': " << why.to_string());
  for (auto& rp : ready_waiters) rp.deliver(to_error(why));
  ready_waiters.clear();
  shutdown(why);
  self->quit(to_error(why));
}

status stream_state::check_serving() const {
  switch (current) {
    case phase::ready:
      return status::ok();
    case phase::opening:
      return status(errc::not_ready, "stream '" + cfg.name + "' is still opening");
    default:
      return status(errc::closed, "stream '" + cfg.name + "' is closed");
  }
}

void stream_state::begin_close(caf::response_promise rp) {
  if (current == phase::closing || current == phase::stopped) {
    rp.deliver(ok_atom::value);
    return;
  }
  close_promise = std::move(rp);
  if (current == phase::opening) {
    for (auto& waiter : ready_waiters)
      waiter.deliver(to_error(status(errc::closed, "stream '" + cfg.name + "' was closed")));
    ready_waiters.clear();
  }
  current = phase::closing;
  // Writes already published finish first (bounded by their timeout); new ones are refused.
  if (writes.empty()) finish_close();
}

void stream_state::finish_close() {
  if (current == phase::stopped) return;
  shutdown(status(errc::closed, "stream '" + cfg.name + "' was closed"));
  if (close_promise.pending()) close_promise.deliver(ok_atom::value);
  self->quit();
}

void stream_state::begin_drop(caf::response_promise rp) {
  if (current == phase::stopped) {
    rp.deliver(to_error(status(errc::closed, "stream '" + cfg.name + "' is closed")));
    return;
  }
  close_promise = std::move(rp);
  dropping = true;
  current = phase::closing;
  fail_all_writes(status(errc::closed, "stream '" + cfg.name + "' is being deleted"));
  call_api(api_call::kind::stream_delete, protocol::jetstream::stream_delete_subject(cfg.name), "");
}

void stream_state::shutdown(const status& why) {
  if (current == phase::stopped) return;
  current = phase::stopped;
  fail_all_writes(why);
  for (auto& [id, running] : scans) running.promise.deliver(to_error(why));
  scans.clear();  // their iterators go before the store does
  for (auto& waiter : ready_waiters) waiter.deliver(to_error(why));
  ready_waiters.clear();
  if (cfg.nats) {
    if (reconnect_listener != 0) cfg.nats->remove_reconnect_listener(reconnect_listener);
    if (!consumer.empty())  // the server would remove it after its inactive threshold anyway
      cfg.nats->publish(protocol::jetstream::consumer_delete_subject(cfg.name, consumer), "");
  }
  inbox.reset();
  if (cfg.store) {
    if (!dropping) {
      if (auto st = cfg.store->sync(); !st.is_ok() && st.code() != errc::closed)
        EB_LOG_WARN("stream", "'" << cfg.name << "': " << st.to_string());
    }
    cfg.store->close();
  }
  for (auto& [id, sub] : subscriptions) self->demonitor(sub.subscriber.address());
  subscriptions.clear();
}

// -- timers -----------------------------------------------------------------------------------

void stream_state::schedule_tick() {
  if (tick_scheduled || current == phase::stopped) return;
  tick_scheduled = true;
  // Pending work is checked every second; otherwise only consumer liveness and idleness.
  bool busy = !writes.empty() || !calls.empty() || current == phase::opening;
  auto interval = busy ? std::chrono::milliseconds(1000) : cfg.options.heartbeat;
  if (cfg.options.idle_timeout.count() > 0 && cfg.options.idle_check_interval < interval)
    interval = cfg.options.idle_check_interval;
  self->delayed_send(self, interval, tick_atom::value);
}

void stream_state::on_tick() {
  tick_scheduled = false;
  if (current == phase::stopped) return;
  drain();  // what arrived without waking the actor
  if (current == phase::stopped) return;
  auto now = self->clock().now();
  if (current == phase::opening && now >= open_deadline) {
    fail_open(status(errc::timeout, "stream '" + cfg.name + "' did not open within " +
                                        std::to_string(cfg.options.open_timeout.count()) + " ms"));
    return;
  }
  expire_writes(now);
  // JetStream calls that got no reply.
  std::vector<uint64_t> expired;
  for (auto& [token, call] : calls)
    if (now >= call.deadline) expired.push_back(token);
  for (auto token : expired) {
    inbound timeout;
    timeout.what = inbound::kind::api_reply;
    timeout.token = token;
    timeout.msg.status = 408;
    timeout.msg.description = "no reply from JetStream within " +
                              std::to_string(cfg.options.operation_timeout.count()) + " ms";
    handle_api_reply(timeout);
  }
  if (current == phase::stopped) return;
  check_consumer_liveness();
  if (current == phase::closing && writes.empty() && !dropping) {
    finish_close();
    return;
  }
  if (current == phase::ready && idle()) {
    EB_LOG_INFO("stream", "'" << cfg.name << "' idle for " << cfg.options.idle_timeout.count()
                              << " ms: stopping");
    shutdown(status(errc::closed, "stream '" + cfg.name + "' stopped after being idle"));
    self->quit();
    return;
  }
  schedule_tick();
}

bool stream_state::idle() const {
  if (cfg.options.idle_timeout.count() <= 0) return false;
  if (!subscriptions.empty() || !writes.empty()) return false;
  // Reads of the C++ API go to the replica directly; they count as activity too.
  if (cfg.store->since_last_read() < cfg.options.idle_timeout) return false;
  return self->clock().now() - last_activity >= cfg.options.idle_timeout;
}

void stream_state::touch() {
  last_activity = self->clock().now();
}

// -- stats and subscribers ---------------------------------------------------------------------

void stream_state::publish_stats(protocol::stats_operation op, std::optional<std::string> id,
                                 std::optional<std::string> pattern, int64_t started_ms) {
  if (cfg.stats_stream.empty()) return;
  protocol::stats_event ev;
  ev.operation = op;
  ev.id = std::move(id);
  ev.pattern = std::move(pattern);
  ev.timestamp_ms = started_ms;
  ev.duration_ms = protocol::now_ms() - started_ms;
  // A plain publish: stats never wait for JetStream, and a failure only costs the stat.
  auto st =
      cfg.nats->publish(protocol::stats_subject(cfg.stats_stream), protocol::encode_stats(ev));
  if (!st.is_ok()) EB_LOG_DEBUG("stream", "stats not published: " << st.to_string());
}

void stream_state::notify(const applied_event& ev) {
  if (subscriptions.empty() && !cfg.on_message) return;
  const inbound& in = *ev.source;
  const std::string& key = in.event->key;
  change c{cfg.name, key, in.stream_seq, ev.record, ev.old_record.value_or(""), in.msg.data};
  uint64_t bytes = c.key.size() + c.record.size() + c.old_record.size() + c.event.size();
  // Acknowledged often enough that a small bound is not reached by changes merely in flight.
  const uint64_t ack_every =
      std::clamp<uint64_t>(cfg.options.subscriber_max_pending / 4, 1, kAckInterval);
  std::vector<uint64_t> too_slow;
  for (auto& [id, sub] : subscriptions) {
    if (!sub.filter.matches(key)) continue;
    if (sub.pending() + 1 > cfg.options.subscriber_max_pending ||
        sub.pending_bytes() + bytes > cfg.options.subscriber_max_pending_bytes) {
      too_slow.push_back(id);
      continue;
    }
    int64_t started = protocol::now_ms();
    ++sub.sent;
    sub.sent_bytes += bytes;
    if (sub.sent % ack_every != 0) {
      // Anonymous: the subscriber's reply to a plain message has nowhere to go.
      caf::anon_send(sub.subscriber, change_atom::value, c);
    } else {
      // Its reply says the subscriber has handled this change and, messages between two actors
      // keeping their order, every earlier one. A lost reply only delays the accounting until
      // the next one: acknowledgements are cumulative.
      self->request(sub.subscriber, kAckTimeout, change_atom::value, c)
          .then([self = self, id = id, n = sub.sent,
                 b = sub.sent_bytes](ok_atom) { self->state.on_changes_handled(id, n, b); },
                [](caf::error&) {});  // gone (its down message ends it) or late
    }
    publish_stats(protocol::stats_operation::subscribe_emit, key, sub.filter.pattern(), started);
  }
  for (auto id : too_slow) {
    auto& sub = subscriptions.at(id);
    ++slow_subscriptions_ended;
    status why(errc::unavailable,
               "too slow: " + std::to_string(sub.pending()) + " changes outstanding (" +
                   std::to_string(sub.pending_bytes()) + " bytes) on stream '" + cfg.name + "'");
    EB_LOG_WARN("stream", "'" << cfg.name << "': ending subscription " << id << " to '"
                              << sub.filter.pattern() << "': " << why.message());
    end_subscription(id, why);
  }
  if (cfg.on_message) caf::anon_send(cfg.on_message, change_atom::value, c);
}

void stream_state::on_changes_handled(uint64_t id, uint64_t through, uint64_t through_bytes) {
  auto it = subscriptions.find(id);
  if (it == subscriptions.end()) return;
  it->second.acked = std::max(it->second.acked, through);
  it->second.acked_bytes = std::max(it->second.acked_bytes, through_bytes);
}

void stream_state::end_subscription(uint64_t id, const status& why) {
  auto it = subscriptions.find(id);
  if (it == subscriptions.end()) return;
  auto subscriber = it->second.subscriber;
  subscriptions.erase(it);
  bool still_used = false;
  for (auto& [other, sub] : subscriptions) still_used = still_used || sub.subscriber == subscriber;
  if (!still_used) self->demonitor(subscriber.address());
  if (!why.is_ok()) self->send(subscriber, ended_atom::value, id, to_error(why));
}

void stream_state::remove_subscriber(const caf::actor_addr& who) {
  for (auto it = subscriptions.begin(); it != subscriptions.end();) {
    if (it->second.subscriber.address() == who)
      it = subscriptions.erase(it);
    else
      ++it;
  }
  touch();  // idleness counts from the moment the last subscription went away
}

// -- keys scans -----------------------------------------------------------------------------------

void stream_state::continue_scan(uint64_t id) {
  auto it = scans.find(id);
  if (it == scans.end()) return;
  auto& running = it->second;
  auto until = std::chrono::steady_clock::now() + cfg.options.scan_slice;
  auto done = running.keys->next(running.found, until);
  if (done.ok() && !*done && self->clock().now() >= running.deadline)
    done = status(errc::timeout, "listing the keys of '" + cfg.name + "' matching '" +
                                     running.keys->pattern().pattern() + "' took longer than " +
                                     std::to_string(cfg.options.operation_timeout.count()) + " ms");
  if (!done.ok()) {
    running.promise.deliver(to_error(done.error()));
    scans.erase(it);
    return;
  }
  if (!*done) {
    self->send(self, scan_atom::value, id);  // the next slice, after what is queued already
    return;
  }
  publish_stats(protocol::stats_operation::keys, std::nullopt, running.keys->pattern().pattern(),
                running.started_ms);
  running.promise.deliver(std::move(running.found));
  scans.erase(it);
}

// -- behaviour ----------------------------------------------------------------------------------

namespace {

stream_actor_impl::behavior_type stream_behavior(stream_self self, stream_config config) {
  auto& st = self->state;
  st.start(std::move(config));
  self->set_down_handler(
      [self](const caf::down_msg& down) { self->state.remove_subscriber(down.source); });
  return {
      [self](put_atom, std::string& key, std::string& document) -> caf::result<entry> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.is_ok()) return to_error(err);
        s.put(self->make_response_promise(), std::move(key), std::move(document));
        return caf::delegated<entry>();
      },
      [self](get_atom, const std::string& key) -> caf::result<entry> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.is_ok()) return to_error(err);
        int64_t started = protocol::now_ms();
        if (auto invalid = protocol::validate_key(key); !invalid.is_ok()) return to_error(invalid);
        auto value = s.cfg.store->get(key);
        if (!value.ok()) return to_error(value.error());
        s.publish_stats(protocol::stats_operation::get, key, std::nullopt, started);
        return entry{value->value_or(std::string())};
      },
      [self](erase_atom, std::string& key) -> caf::result<uint64_t> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.is_ok()) return to_error(err);
        s.erase(self->make_response_promise(), std::move(key));
        return caf::delegated<uint64_t>();
      },
      [self](keys_atom, std::string& pattern) -> caf::result<std::vector<std::string>> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.is_ok()) return to_error(err);
        int64_t started = protocol::now_ms();
        auto compiled = s.patterns.compile(pattern);
        if (!compiled.ok()) return to_error(compiled.error());
        auto keys = s.cfg.store->scan_keys(std::move(*compiled));
        if (!keys.ok()) return to_error(keys.error());
        uint64_t id = s.next_scan++;
        auto& running = s.scans[id];
        running.keys = std::move(*keys);
        running.promise = self->make_response_promise<std::vector<std::string>>();
        running.deadline = self->clock().now() + s.cfg.options.operation_timeout;
        running.started_ms = started;
        auto promise = running.promise;
        s.continue_scan(id);
        return promise;
      },
      [self](subscribe_atom, std::string& filter,
             subscriber_actor& subscriber) -> caf::result<uint64_t> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.is_ok()) return to_error(err);
        if (!subscriber)
          return to_error(status(errc::invalid_argument, "subscriber must be a valid actor"));
        int64_t started = protocol::now_ms();
        uint64_t id = s.next_subscription++;
        self->monitor(subscriber);
        s.subscriptions.emplace(
            id, stream_state::subscription{protocol::glob(filter), std::move(subscriber)});
        s.publish_stats(protocol::stats_operation::subscribe, std::nullopt, filter, started);
        return id;
      },
      [self](unsubscribe_atom, uint64_t id) -> caf::result<ok_atom> {
        auto& s = self->state;
        s.touch();
        if (s.subscriptions.count(id) == 0)
          return to_error(status(errc::not_found, "no subscription " + std::to_string(id)));
        s.end_subscription(id, status::ok());
        return ok_atom::value;
      },
      [self](status_atom) -> stream_status {
        auto& s = self->state;
        stream_status out;
        out.name = s.cfg.name;
        out.ready = s.current == stream_state::phase::ready;
        out.applied_sequence = s.cfg.store ? s.cfg.store->applied_sequence() : 0;
        out.skipped_events = s.skipped_events;
        out.subscriptions = s.subscriptions.size();
        out.pending_writes = s.writes.size();
        out.slow_subscriptions_ended = s.slow_subscriptions_ended;
        return out;
      },
      [self](ready_atom) -> caf::result<ok_atom> {
        auto& s = self->state;
        s.touch();  // the manager sends it when it hands the stream out
        if (s.current == stream_state::phase::ready) return ok_atom::value;
        if (s.current != stream_state::phase::opening)
          return to_error(status(errc::closed, "stream '" + s.cfg.name + "' is closed"));
        auto rp = self->make_response_promise();
        s.ready_waiters.push_back(rp);
        return caf::delegated<ok_atom>();
      },
      [self](close_atom) -> caf::result<ok_atom> {
        auto rp = self->make_response_promise();
        self->state.begin_close(rp);
        return caf::delegated<ok_atom>();
      },
      [self](drop_atom) -> caf::result<ok_atom> {
        auto rp = self->make_response_promise();
        self->state.begin_drop(rp);
        return caf::delegated<ok_atom>();
      },
      [self](drain_atom) { self->state.drain(); },
      [self](tick_atom) { self->state.on_tick(); },
      [self](scan_atom, uint64_t id) { self->state.continue_scan(id); },
  };
}

}  // namespace

stream_actor spawn_stream(caf::actor_system& sys, stream_config config) {
  return sys.spawn(stream_behavior, std::move(config));
}

}  // namespace eventbase::actors
