// The stream actor (see stream_actor.hpp): its state wires the components together, its
// behaviour turns requests into calls on them.
#include "actors/stream_actor.hpp"

#include <map>
#include <memory>
#include <optional>
#include <random>
#include <type_traits>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/batch_assembler.hpp"
#include "actors/batch_writer.hpp"
#include "actors/expiry_clock.hpp"
#include "actors/inbound.hpp"
#include "actors/jetstream_client.hpp"
#include "actors/key_history.hpp"
#include "actors/pull_consumer.hpp"
#include "actors/query_cursors.hpp"
#include "actors/read_barrier.hpp"
#include "actors/replay_progress.hpp"
#include "actors/replica_auditor.hpp"
#include "actors/replica_horizon.hpp"
#include "actors/replica_reader.hpp"
#include "actors/revision_reads.hpp"
#include "actors/run_here.hpp"
#include "actors/stats_publisher.hpp"
#include "actors/subscriptions.hpp"
#include "actors/write_pipeline.hpp"
#include "eventbase/log.hpp"
#include "nats/transport.hpp"
#include "protocol/batch.hpp"
#include "protocol/event.hpp"
#include "protocol/jetstream.hpp"
#include "protocol/names.hpp"
#include "protocol/timestamp.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {
namespace {

namespace js = protocol::jetstream;

// How long the reply to an acknowledged change (subscriptions.hpp) is awaited; a later one
// covers a missed one.
constexpr auto kAckTimeout = std::chrono::seconds(60);

// 64 random bits as hex. Straight from the system's entropy source, not a generator seeded
// with 32 bits: writer ids of different processes must not repeat, since JetStream
// de-duplicates writes by the Nats-Msg-Id they prefix.
std::string random_id() {
  std::random_device entropy;
  uint64_t value = (uint64_t{entropy()} << 32) ^ uint64_t { entropy() };
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

struct stream_state;
using stream_self = stream_actor_impl::stateful_pointer<stream_state>;

struct stream_state {
  using time_point = caf::actor_clock::time_point;
  enum class phase { opening, ready, closing, stopped };

  /// A read answered in slices (a keys scan, a query): `step` runs one slice and says whether
  /// the read is complete; `finish` answers the request once, with ok when the read is complete
  /// or with why not.
  struct scan {
    std::function<result<bool>(std::chrono::steady_clock::time_point until)> step;
    std::function<void(const status&)> finish;
    std::string what;  // "listing the keys of 's' matching 'p'", for the timeout error
    time_point deadline;
  };

  stream_state() = default;
  explicit stream_state(stream_self self_ptr) : self(self_ptr) {}
  ~stream_state() { release(); }
  stream_state(const stream_state&) = delete;
  stream_state& operator=(const stream_state&) = delete;

  void start(stream_config config);
  void begin_open();
  void on_stream_info(uint64_t ticket, result<std::string> reply);
  void on_stream_created(uint64_t ticket, result<std::string> reply);
  void on_stream_known(uint64_t ticket, const js::stream_info& info);
  void rebuild(const std::string& why);  // the replica differs from the stream: from scratch
  // Why a replica that applied up to `applied` must be rebuilt from a stream ending at `last`.
  std::string lost_events(uint64_t last, uint64_t applied) const {
    return "the stream ends at sequence " + std::to_string(last) +
           " but the replica applied up to " + std::to_string(applied) +
           ": JetStream lost events it had acknowledged (or the stream "
           "was recreated)";
  }
  void ensure_stats_stream();
  void become_ready();
  void fail_open(const status& why);
  status check_serving() const;
  status check_subscribe(const subscriber_actor& subscriber);  // touches: a request came
  void begin_close(caf::typed_response_promise<ok_atom> rp);
  void finish_close_if_drained();
  void begin_drop(caf::typed_response_promise<ok_atom> rp);
  void stop(const status& why);  // ends every operation with `why`, then quits
  void release();                // gives back NATS and storage resources; idempotent

  void drain();
  void apply_events(std::vector<inbound>& events);
  void notify(const inbound& in, const std::string& record,
              const std::optional<std::string>& old_record);
  subscription_set::deliver_fn change_sender();  // sends changes, counts acknowledgements
  void end_subscriptions(std::vector<subscription_set::ended> ended);
  void start_scan(scan read);
  void start_keys_scan(std::unique_ptr<storage::key_scan> keys,
                       caf::typed_response_promise<std::vector<std::string>> promise,
                       op_start started);
  template <class Reply>
  void start_query(std::unique_ptr<query_scan> query, caf::typed_response_promise<Reply> promise,
                   std::string filter, op_start started);
  template <class Reply>
  caf::result<Reply> consistent_query(std::string filter, std::string options);
  /// Once the replica has applied what JetStream acknowledged before now (await_consistency),
  /// starts a query of (filter, options) and hands it to `run`; `fail` gets why not.
  void query_consistently(std::string filter, std::string options, bool count_only,
                          std::function<void(std::unique_ptr<query_scan>)> run,
                          std::function<void(const status&)> fail);
  caf::result<query_page> open_cursor(std::string filter, std::string options, uint64_t page_size,
                                      bool consistent);
  void serve_page(uint64_t id, std::shared_ptr<query_cursor_set::cursor> c,
                  caf::typed_response_promise<query_page> promise);
  void continue_scan(uint64_t id);
  void schedule_build();  // sends index_build_atom unless a build step is queued or none builds
  void build_step();
  void answer_index_waiters(const std::string& field, const status& st);
  void replica_advanced();  // releases what waited for the replica; checks readiness
  void run_expiries();      // publishes the DELETEs of keys whose TTL passed (expiry_clock.hpp)

  // event sourcing (key_history.hpp)
  caf::result<entry> get_at_revision(std::string key, uint64_t revision);
  caf::result<key_history_reply> read_history(std::string key, uint64_t limit);
  caf::result<uint64_t> subscribe_from(std::string glob, subscriber_actor subscriber,
                                       uint64_t after);

  void schedule_tick();  // wakes the actor when the next deadline, retry or check is due
  void on_tick();
  bool idle() const;
  stream_status status_now() const;
  void touch() { last_activity = self->clock().now(); }
  time_point now() const { return self->clock().now(); }

  stream_self self = nullptr;
  stream_config cfg;
  phase current = phase::opening;
  std::string writer_id;  // random, prefix of the Nats-Msg-Id of this actor's writes
  std::unique_ptr<nats::inbox> inbox;
  std::shared_ptr<inbound_queue> queue;
  std::vector<inbound> spare_inbound;  // a drained batch's buffer, handed back to the queue
  uint64_t reconnect_listener = 0;
  time_point last_activity;
  std::optional<time_point> tick_at;  // the earliest tick already scheduled

  // opening
  bool stream_known = false;  // JetStream has told the stream's state
  uint64_t ready_target = 0;  // the stream's last sequence at open time
  std::vector<caf::typed_response_promise<ok_atom>> ready_waiters;
  time_point open_deadline;
  replay_progress progress;  // of the replay up to ready_target

  // the components (stream_actor.hpp)
  operation_latencies latencies;  // counted by `stats`, for GET /metrics
  std::unique_ptr<stats_publisher> stats;
  std::unique_ptr<replica_reader> reader;
  std::unique_ptr<jetstream_client> api;
  std::unique_ptr<pull_consumer> consumer;
  std::unique_ptr<write_pipeline> writes;
  std::unique_ptr<batch_writer> batches;
  batch_assembler assembler;  // holds a delivered batch until it is whole
  std::unique_ptr<subscription_set> subscriptions;
  std::unique_ptr<query_cursor_set> cursors;
  std::unique_ptr<replica_horizon> horizon;
  std::unique_ptr<read_barrier> barrier;
  std::unique_ptr<replica_auditor> auditor;
  std::unique_ptr<key_history> history;
  std::unique_ptr<revision_reads> past;  // history and reads at a revision
  std::unique_ptr<expiry_clock> expiry;
  int64_t per_subject_limit = 1;  // the stream's, once known

  // keys scans and queries in progress
  uint64_t next_scan = 1;
  std::map<uint64_t, scan> scans;

  // index builds: one step queued at a time; creates waiting for their index to be ready
  bool build_scheduled = false;
  std::map<std::string, std::vector<caf::typed_response_promise<index_info>>> index_waiters;

  uint64_t skipped_events = 0;
  bool rebuilding = false;  // the replica is rebuilt from scratch (rebuild): not announced
  uint64_t rebuilds = 0;    // since the actor started
  caf::typed_response_promise<ok_atom> close_promise;
  bool dropping = false;

  static const char* name;  // CAF's name for this actor type
};

const char* stream_state::name = "eventbase.stream";

// -- lifecycle ----------------------------------------------------------------------------------

void stream_state::start(stream_config config) {
  cfg = std::move(config);
  writer_id = random_id();
  last_activity = now();
  open_deadline = last_activity + cfg.options.open_timeout;
  queue = std::make_shared<inbound_queue>();
  if (!cfg.store || !cfg.nats) {
    fail_open(status(errc::internal, "stream actor started without storage or NATS"));
    return;
  }
  // Messages for this stream arrive on a NATS thread: classify and decode them there, then hand
  // them over through the queue, waking the actor only when the queue was empty. The callbacks
  // hold the actor weakly: they must not keep it alive.
  auto q = queue;
  auto me = caf::actor_cast<caf::weak_actor_ptr>(self);
  // `here`: the calling thread runs the actor's turn itself (run_here.hpp), one thread wake-up
  // less between an event's arrival and the reply to its write; else a CAF worker does.
  auto wake = [me](bool here) {
    auto alive = caf::actor_cast<caf::strong_actor_ptr>(me);
    if (!alive) return;
    if (here)
      send_and_run_here(alive, caf::make_message(drain_atom::value));
    else
      caf::anon_send(caf::actor_cast<stream_actor_impl>(alive), drain_atom::value);
  };
  std::string prefix = "_INBOX.eb" + writer_id + random_id();
  auto inbox_or =
      cfg.nats->open_inbox(prefix, [q, wake, prefix, id = writer_id](nats::message&& m) {
        bool more = m.more_queued;
        auto in = classify(std::move(m), prefix, id);
        bool urgent = is_urgent(in);
        // With more queued behind it, this thread goes on handing them over meanwhile.
        if (q->push(std::move(in), urgent)) wake(!more);
      });
  if (!inbox_or.ok()) {
    fail_open(inbox_or.error());
    return;
  }
  inbox = std::move(*inbox_or);
  reconnect_listener = cfg.nats->add_reconnect_listener([q, wake] {
    inbound in;
    in.what = inbound::kind::reconnected;
    if (q->push(std::move(in))) wake(false);
  });

  auto clock = [self = self] { return self->clock().now(); };
  stats = std::make_unique<stats_publisher>(cfg.nats, cfg.stats_stream, &latencies);
  reader = std::make_unique<replica_reader>(cfg.store, *stats);
  api = std::make_unique<jetstream_client>(*cfg.nats, inbox->prefix() + ".r.",
                                           cfg.options.operation_timeout, clock);
  pull_consumer::settings pulls;
  pulls.stream = cfg.name;
  pulls.pull_reply_prefix = inbox->prefix() + ".p.";
  pulls.batch = cfg.options.pull_batch;
  pulls.max_bytes = std::max(cfg.options.pull_max_bytes, cfg.nats->max_payload() + (64 << 10));
  pulls.expires = cfg.options.pull_expires;
  pulls.heartbeat = cfg.options.heartbeat;
  pulls.missed_heartbeats = cfg.options.missed_heartbeats;
  pulls.create_timeout = cfg.options.consumer_create_timeout;
  pulls.replicas = cfg.options.consumer_replicas;
  consumer = std::make_unique<pull_consumer>(
      pulls, *cfg.nats, *api, clock, [store = cfg.store] { return store->applied_sequence() + 1; },
      [this](const status& gone) {
        // Deleting the stream removes its consumer too (newer servers tell pending pulls at
        // once): the reply to our own delete finishes the drop, this is no surprise.
        if (dropping) return;
        EB_LOG_WARN("stream", gone.message());
        if (current == phase::opening)
          fail_open(gone);
        else
          stop(gone);
      });
  horizon = std::make_unique<replica_horizon>(cfg.store->applied_sequence());
  barrier = std::make_unique<read_barrier>(
      read_barrier::settings{cfg.name, cfg.options.operation_timeout}, *api, *horizon, clock,
      [this](uint64_t last, uint64_t applied_when_asked) {
        consumer->note_stream_sequence(last);
        if (last < applied_when_asked) rebuild(lost_events(last, applied_when_asked));
      },
      [this] { return consumer->stale() ? std::string("its consumer is being recreated") : ""; });
  replica_auditor::actions audit;
  audit.ask_stream_last = [this](auto answered) { barrier->ask(std::move(answered)); };
  audit.recreate_consumer = [this](const std::string& why) {
    EB_LOG_WARN("stream", "'" << cfg.name << "': " << why << ": recreating its consumer");
    consumer->reset(why);
  };
  audit.rebuild = [this](const std::string& why) { rebuild(why); };
  history = std::make_unique<key_history>(cfg.name, *api);
  past = std::make_unique<revision_reads>(cfg.name, *cfg.store, *reader, *horizon, *barrier,
                                          *history, [this] { return per_subject_limit; });
  expiry = std::make_unique<expiry_clock>(
      expiry_clock::settings{}, *cfg.store, clock, [] { return protocol::now_ms(); },
      [this](const storage::due_expiry& due) {
        // The same message id from every node: JetStream stores the DELETE once.
        nats::headers headers{{"Nats-Msg-Id", "expire." + std::to_string(due.revision)},
                              {protocol::kExpiredRevisionHeader, std::to_string(due.revision)}};
        auto st = cfg.nats->publish(protocol::delete_subject(cfg.name, due.key),
                                    protocol::encode_delete_payload(due.key, protocol::now_ms()),
                                    "", headers);
        if (!st.ok())
          EB_LOG_WARN("stream", "'" << cfg.name << "': cannot expire '" << due.key
                                    << "': " << st.to_string() << " (tried again shortly)");
      });
  auditor = std::make_unique<replica_auditor>(
      replica_auditor::settings{cfg.name, cfg.options.audit_interval}, *api, clock,
      std::move(audit));
  write_pipeline::settings writing{cfg.name, writer_id, inbox->prefix() + ".a.",
                                   cfg.options.operation_timeout};
  writing.max_writes = cfg.options.max_pending_writes;
  writing.max_write_bytes = cfg.options.max_pending_write_bytes;
  write_pipeline::replica_view view;
  view.consistent = [this] { return horizon->consistent(); };
  view.await_sequence = [this](uint64_t seq, std::function<void(const status&)> go) {
    barrier->await_sequence(seq, "a write of '" + cfg.name + "' waiting for the replica",
                            std::move(go));
    schedule_tick();
  };
  view.await_consistency = [this](std::function<void(const status&)> go) {
    barrier->await_consistency(std::move(go));
    schedule_tick();
  };
  batches = std::make_unique<batch_writer>(
      batch_writer::settings{cfg.name, writer_id, inbox->prefix() + ".b.",
                             cfg.options.operation_timeout},
      *cfg.nats, *api, *cfg.store, clock, view);
  writes = std::make_unique<write_pipeline>(writing, *cfg.nats, *api, *cfg.store, *stats, clock,
                                            std::move(view));
  subscriptions = std::make_unique<subscription_set>(subscription_set::limits{
      cfg.options.subscriber_max_pending, cfg.options.subscriber_max_pending_bytes});
  query_cursor_set::limits cursor_limits;
  cursor_limits.max_cursors = cfg.options.max_cursors;
  cursor_limits.idle_timeout = cfg.options.cursor_idle_timeout;
  cursors = std::make_unique<query_cursor_set>(cursor_limits);
  begin_open();
  schedule_tick();
  schedule_build();  // a build a restart interrupted
}

void stream_state::begin_open() {
  // The answer bounds what the replica's earlier run left open (replica_horizon.hpp).
  uint64_t ticket = horizon->ask();
  api->call(js::stream_info_subject(cfg.name), "", [this, ticket](result<std::string> reply) {
    on_stream_info(ticket, std::move(reply));
  });
}

void stream_state::on_stream_info(uint64_t ticket, result<std::string> reply) {
  auto info = reply.ok() ? js::parse_stream_info(*reply) : result<js::stream_info>(reply.error());
  if (info.ok()) return on_stream_known(ticket, *info);
  if (info.error().code() != errc::not_found) {
    if (current == phase::opening) fail_open(info.error());
    return;
  }
  js::stream_settings settings{
      cfg.name, {js::stream_wildcard(cfg.name)}, cfg.options.history, cfg.options.replicas};
  api->call(js::stream_create_subject(cfg.name), js::stream_create_request(settings),
            [this, ticket](result<std::string> created) {
              on_stream_created(ticket, std::move(created));
            });
}

void stream_state::on_stream_created(uint64_t ticket, result<std::string> reply) {
  if (reply.ok() && js::api_error_code(*reply) == 10058) {
    begin_open();  // another node created it first, with its own settings: ask again
    return;
  }
  auto info = reply.ok() ? js::parse_stream_info(*reply) : result<js::stream_info>(reply.error());
  if (info.ok())
    on_stream_known(ticket, *info);
  else if (current == phase::opening)
    fail_open(info.error());
}

void stream_state::on_stream_known(uint64_t ticket, const js::stream_info& info) {
  if (current != phase::opening) return;
  per_subject_limit = info.max_msgs_per_subject;
  writes->set_per_subject_limit(info.max_msgs_per_subject);
  batches->set_per_subject_limit(info.max_msgs_per_subject);
  if (auto release = cfg.nats->server_release();
      release && info.replicas > 1 && *release < nats::kAtomicSubjectCheckSince)
    EB_LOG_WARN("stream", "'" << cfg.name << "' has " << info.replicas
                              << " replicas on nats-server " << release->to_string()
                              << ", which checks the order of writes of one key only on the "
                                 "leader before replicating (fixed in "
                              << nats::kAtomicSubjectCheckSince.to_string()
                              << "): two writes of one key through different nodes at the same "
                                 "moment may both pass, the second counting one change less");
  ready_target = info.last_seq;
  stream_known = true;
  if (cfg.store->applied_sequence() > info.last_seq) {
    // The stream has fewer messages than the replica has applied: it was deleted and created
    // anew since. The local data belongs to the old stream.
    EB_LOG_WARN("stream", "'" << cfg.name << "': the replica is at sequence "
                              << cfg.store->applied_sequence() << " but the stream ends at "
                              << info.last_seq << "; it was recreated: rebuilding the replica");
    if (auto st = cfg.store->clear(); !st.ok()) return fail_open(st);
    horizon->reset(0);
  }
  // A paused leader's old state bounds nothing (read_barrier.hpp).
  if (js::from_current_leader(info, std::chrono::seconds(3)))
    horizon->on_stream_last(ticket, info.last_seq);
  ensure_stats_stream();
  consumer->reset("open");
  // Ready once the replica is exact up to the stream's end at open time.
  if (horizon->consistent() >= ready_target)
    become_ready();
  else
    progress.start(now(), cfg.store->applied_sequence(), ready_target);
}

void stream_state::rebuild(const std::string& why) {
  if (current != phase::ready) return;
  ++rebuilds;
  EB_LOG_ERROR("stream", "'" << cfg.name << "': " << why << "; rebuilding the replica from the "
                             << "stream (reads fail with not_ready until it has caught up)");
  if (auto st = cfg.store->clear(); !st.ok()) return stop(st);
  horizon->reset(0);
  auditor->reset();
  consumer->stop();
  current = phase::opening;
  rebuilding = true;
  stream_known = false;
  open_deadline = now() + cfg.options.open_timeout;
  begin_open();
}

void stream_state::ensure_stats_stream() {
  if (cfg.stats_stream.empty()) return;
  auto warn = [this](const status& st) {
    EB_LOG_WARN("stream", "'" << cfg.name << "': stats stream '" << cfg.stats_stream
                              << "' unavailable: " << st.to_string());
  };
  api->call(js::stream_info_subject(cfg.stats_stream), "", [this, warn](result<std::string> r) {
    auto info = r.ok() ? js::parse_stream_info(*r) : result<js::stream_info>(r.error());
    if (info.ok()) return;
    if (info.error().code() != errc::not_found) return warn(info.error());
    js::stream_settings settings{
        cfg.stats_stream, {js::stream_wildcard(cfg.stats_stream)}, -1, cfg.options.replicas};
    api->call(js::stream_create_subject(cfg.stats_stream), js::stream_create_request(settings),
              [warn](result<std::string> created) {
                auto made = created.ok() ? js::parse_stream_info(*created)
                                         : result<js::stream_info>(created.error());
                if (!made.ok() && !(created.ok() && js::api_error_code(*created) == 10058))
                  warn(made.error());
              });
  });
}

void stream_state::become_ready() {
  if (current != phase::opening) return;
  current = phase::ready;
  rebuilding = false;
  if (auto line = progress.finish(now(), cfg.store->applied_sequence()))
    EB_LOG_INFO("stream", "'" << cfg.name << "' " << *line);
  EB_LOG_INFO("stream", "'" << cfg.name << "' ready at sequence " << cfg.store->applied_sequence());
  for (auto& rp : ready_waiters) rp.deliver(ok_atom::value);
  ready_waiters.clear();
  run_expiries();  // what expired while no node of this replica ran
}

void stream_state::fail_open(const status& why) {
  EB_LOG_WARN("stream", "cannot open '" << cfg.name << "': " << why.to_string());
  stop(why);
}

status stream_state::check_serving() const {
  switch (current) {
    case phase::ready:
      return status::OK();
    case phase::opening:
      return status(errc::not_ready, "stream '" + cfg.name + "' is still opening");
    default:
      return status(errc::closed, "stream '" + cfg.name + "' is closed");
  }
}

status stream_state::check_subscribe(const subscriber_actor& subscriber) {
  touch();
  if (auto err = check_serving(); !err.ok()) return err;
  if (!subscriber) return status(errc::invalid_argument, "subscriber must be a valid actor");
  return status::OK();
}

void stream_state::begin_close(caf::typed_response_promise<ok_atom> rp) {
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
  finish_close_if_drained();
}

void stream_state::finish_close_if_drained() {
  if (current != phase::closing || dropping || (writes && !writes->empty()) ||
      (batches && !batches->empty()))
    return;
  stop(status(errc::closed, "stream '" + cfg.name + "' was closed"));
}

void stream_state::begin_drop(caf::typed_response_promise<ok_atom> rp) {
  if (current == phase::stopped) {
    rp.deliver(to_error(status(errc::closed, "stream '" + cfg.name + "' is closed")));
    return;
  }
  close_promise = std::move(rp);
  dropping = true;
  current = phase::closing;
  writes->fail_all(status(errc::closed, "stream '" + cfg.name + "' is being deleted"));
  batches->fail_all(status(errc::closed, "stream '" + cfg.name + "' is being deleted"));
  api->call(js::stream_delete_subject(cfg.name), "", [this](result<std::string> reply) {
    status st = reply.ok() ? js::parse_success(*reply) : reply.error();
    if (!st.ok() && st.code() != errc::not_found) {
      dropping = false;
      current = phase::ready;
      close_promise.deliver(to_error(st));
      return;
    }
    auto store = cfg.store;
    auto promise = close_promise;
    close_promise = {};
    stop(status(errc::closed, "stream '" + cfg.name + "' was deleted"));
    status dropped = store->drop();
    if (dropped.ok())
      promise.deliver(ok_atom::value);
    else
      promise.deliver(to_error(dropped));
  });
}

void stream_state::stop(const status& why) {
  if (current == phase::stopped) return;
  current = phase::stopped;
  for (auto& rp : ready_waiters) rp.deliver(to_error(why));
  ready_waiters.clear();
  if (writes) writes->fail_all(why);
  if (batches) batches->fail_all(why);
  for (auto& [id, running] : scans) running.finish(why);
  scans.clear();  // their iterators go before the store does
  for (auto& [field, waiters] : index_waiters)
    for (auto& rp : waiters) rp.deliver(to_error(why));
  index_waiters.clear();
  if (barrier) barrier->fail_all(why);
  if (cfg.store && !dropping) {
    if (auto st = cfg.store->sync(); !st.ok() && st.code() != errc::closed)
      EB_LOG_WARN("stream", "'" << cfg.name << "': " << st.to_string());
  }
  release();
  if (close_promise.pending()) {
    if (why.code() == errc::closed)
      close_promise.deliver(ok_atom::value);
    else
      close_promise.deliver(to_error(why));
  }
  if (why.code() == errc::closed)
    self->quit();
  else
    self->quit(to_error(why));
}

void stream_state::release() {
  scans.clear();
  if (cursors) cursors->clear();  // their iterators go before the store does
  if (subscriptions)
    for (auto& subscriber : subscriptions->clear()) self->demonitor(subscriber.address());
  if (cfg.nats && reconnect_listener != 0) cfg.nats->remove_reconnect_listener(reconnect_listener);
  reconnect_listener = 0;
  if (consumer) consumer->stop();
  if (api) api->clear();  // completions refer to this state
  inbox.reset();
  if (cfg.store) cfg.store->close();
}

// -- the inbox ----------------------------------------------------------------------------------

void stream_state::drain() {
  if (current == phase::stopped) return;
  auto items = std::move(spare_inbound);
  queue->take(items);
  std::vector<inbound> events;
  events.reserve(items.size());
  uint64_t seen = cfg.store->applied_sequence();  // highest sequence applied or collected
  auto flush = [&] {
    if (!events.empty()) apply_events(events);
    events.clear();
  };
  for (auto& in : items) {
    if (current == phase::stopped) return;
    switch (in.what) {
      case inbound::kind::event:
        if (!consumer->accept(in)) {
          flush();  // a gap resets the consumer: apply what came before it
          break;
        }
        if (in.stream_seq <= seen) break;  // already applied
        seen = in.stream_seq;
        horizon->on_delivery(in.stream_seq, in.pending, consumer->generation());
        assembler.add(std::move(in), consumer->generation(), events);
        break;
      case inbound::kind::pub_ack:
        writes->on_ack(in);
        break;
      case inbound::kind::batch_ack:
        flush();
        batches->on_ack(in);
        break;
      case inbound::kind::api_reply:
        flush();
        api->on_reply(in.token, in.msg);
        break;
      case inbound::kind::pull_status:
        flush();
        if (consumer->on_pull_status(in)) {
          assembler.end_of_stream(events);
          flush();
          horizon->on_idle(consumer->generation());
          replica_advanced();
        }
        break;
      case inbound::kind::reconnected:
        flush();
        if (stream_known)
          consumer->reset("reconnected to NATS");
        else if (api->idle())
          begin_open();  // the request may have been lost
        break;
      case inbound::kind::unknown:
        EB_LOG_DEBUG("stream", "'" << cfg.name << "': ignored message on " << in.msg.subject);
        break;
    }
  }
  flush();
  if (current == phase::stopped) return;
  // Handed back unless a backlog made it large: the NATS thread then appends without
  // allocating (a reallocation moved every item queued so far).
  constexpr size_t kSpareInbound = 256;
  if (items.capacity() <= kSpareInbound) {
    items.clear();
    spare_inbound = std::move(items);
  }
  consumer->top_up();
  schedule_tick();  // calls made above may have earlier deadlines
}

void stream_state::apply_events(std::vector<inbound>& events) {
  storage::apply_batch batch(*cfg.store);
  struct applied {
    const inbound* source;
    std::string record;  // empty for DELETE
    std::optional<std::string> old_record;
  };
  std::vector<applied> done;
  done.reserve(events.size());
  for (auto& in : events) {
    if (!in.event) {
      ++skipped_events;
      EB_LOG_WARN("stream", "'" << cfg.name << "': skipped malformed message at sequence "
                                << in.stream_seq << " on " << in.msg.subject << ": "
                                << in.decode_error.message());
      continue;
    }
    const auto& ev = *in.event;
    if (!ev.meta_problem.empty())
      EB_LOG_WARN("stream", "'" << cfg.name << "': sequence " << in.stream_seq
                                << ": metadata headers ignored: " << ev.meta_problem);
    bool want_old = subscriptions->matches_any(ev.key);
    applied out{&in, {}, std::nullopt};
    status st;
    if (ev.type == protocol::event_type::put) {
      auto record = batch.put(ev, in.stream_seq, in.time_ms, want_old ? &out.old_record : nullptr);
      if (record.ok())
        out.record = std::move(*record);
      else
        st = record.error();
    } else if (ev.expired_revision != 0) {
      // An expiry: only while the key is still at the revision that expired.
      auto expired = batch.expire(ev.key, in.stream_seq, ev.expired_revision,
                                  want_old ? &out.old_record : nullptr, in.time_ms);
      if (expired.ok() && !*expired) continue;  // written again since, or expired already
      if (!expired.ok()) st = expired.error();
    } else {
      st = batch.erase(ev.key, in.stream_seq, want_old ? &out.old_record : nullptr, in.time_ms);
    }
    if (!st.ok()) {
      EB_LOG_ERROR("stream", "'" << cfg.name << "': cannot apply sequence " << in.stream_seq << ": "
                                 << st.to_string());
      return stop(st);
    }
    done.push_back(std::move(out));
  }
  const auto& last = events.back();
  if (auto st = batch.commit(last.stream_seq); !st.ok()) {
    EB_LOG_ERROR("stream", "'" << cfg.name << "': " << st.to_string());
    return stop(st);
  }
  horizon->on_applied(last.stream_seq);
  auditor->on_applied(last.stream_seq, last.msg.subject, last.msg.data);
  // While a replica is rebuilt, its subscribers saw these changes already.
  bool announce = !rebuilding;
  for (auto& ev : done) {
    if (ev.source->own_write != 0)
      writes->on_applied(ev.source->own_write, ev.source->stream_seq, ev.record);
    if (ev.source->batch_end) batches->on_applied(ev.source->batch_id, ev.source->stream_seq);
    if (announce) notify(*ev.source, ev.record, ev.old_record);
  }
  if (current == phase::opening) {
    if (auto line = progress.update(now(), cfg.store->applied_sequence()))
      EB_LOG_INFO("stream", "'" << cfg.name << "' replaying: " << *line);
  }
  replica_advanced();
  if (cfg.store->may_have_expiries()) run_expiries();
  finish_close_if_drained();
}

void stream_state::run_expiries() {
  // Only a ready replica knows which keys are still at the revision that expires.
  if (current != phase::ready) return;
  if (auto st = expiry->tick(); !st.ok())
    EB_LOG_WARN("stream", "'" << cfg.name << "': expiries: " << st.to_string());
  schedule_tick();
}

void stream_state::replica_advanced() {
  if (current == phase::stopped) return;
  writes->on_replica_advanced();
  batches->on_replica_advanced();
  // Something else waiting for the replica: the writes compaction replaced, and readiness.
  std::optional<uint64_t> waiting = writes->lowest_awaited();
  if (auto batch = batches->lowest_awaited()) waiting = std::min(waiting.value_or(*batch), *batch);
  if (current == phase::opening && stream_known)
    waiting = std::min(waiting.value_or(ready_target), ready_target);
  barrier->check(waiting);
  if (current == phase::opening && stream_known && horizon->consistent() >= ready_target)
    become_ready();
}

void stream_state::notify(const inbound& in, const std::string& record,
                          const std::optional<std::string>& old_record) {
  if (subscriptions->empty() && !cfg.on_message) return;
  change c{cfg.name,
           in.event->key,
           in.stream_seq,
           record,
           old_record.value_or(""),
           protocol::payload_for_subscribers(*in.event, in.msg.data),
           in.event->expired_revision != 0};
  auto started = op_start::now();
  auto sent = [&](const std::string& pattern) {
    stats->publish(protocol::stats_operation::subscribe_emit, c.key, pattern, started);
  };
  end_subscriptions(subscriptions->dispatch(c, change_sender(), sent));
  if (cfg.on_message) caf::anon_send(cfg.on_message, change_atom::value, c);
}

subscription_set::deliver_fn stream_state::change_sender() {
  return [this](const subscriber_actor& to, const change& ch,
                const std::optional<subscription_set::ack_point>& ack) {
    if (!ack) {
      // Anonymous: the subscriber's reply to a plain message has nowhere to go.
      caf::anon_send(to, change_atom::value, ch);
      return;
    }
    self->request(to, kAckTimeout, change_atom::value, ch)
        .then(
            [self = self, a = *ack](ok_atom) {
              self->state.subscriptions->acknowledged(a.id, a.through, a.through_bytes);
            },
            [](caf::error&) {});  // gone (its down message ends it) or late
  };
}

void stream_state::end_subscriptions(std::vector<subscription_set::ended> ended) {
  for (auto& slow : ended) {
    EB_LOG_WARN("stream", "'" << cfg.name << "': ending subscription " << slow.id << ": "
                              << slow.why.message());
    if (slow.subscriber_left) self->demonitor(slow.subscriber.address());
    self->send(slow.subscriber, ended_atom::value, slow.id, to_error(slow.why));
  }
}

// -- reads in slices: keys scans and queries ---------------------------------------------------

void stream_state::start_scan(scan read) {
  uint64_t id = next_scan++;
  read.deadline = now() + cfg.options.operation_timeout;
  scans.emplace(id, std::move(read));
  continue_scan(id);
}

void stream_state::start_keys_scan(std::unique_ptr<storage::key_scan> keys,
                                   caf::typed_response_promise<std::vector<std::string>> promise,
                                   op_start started) {
  std::shared_ptr<storage::key_scan> running = std::move(keys);
  auto found = std::make_shared<std::vector<std::string>>();
  std::string pattern = running->pattern().pattern();
  scan read;
  read.what = "listing the keys of '" + cfg.name + "' matching '" + pattern + "'";
  read.step = [running, found](auto until) { return running->next(*found, until); };
  read.finish = [this, promise, found, pattern, started](const status& st) mutable {
    if (!st.ok()) {
      promise.deliver(to_error(st));
      return;
    }
    reader->keys_listed(pattern, started);
    promise.deliver(std::move(*found));
  };
  start_scan(std::move(read));
}

template <class Reply>
void stream_state::start_query(std::unique_ptr<query_scan> query,
                               caf::typed_response_promise<Reply> promise, std::string filter,
                               op_start started) {
  std::shared_ptr<query_scan> running = std::move(query);
  scan read;
  read.what = "querying '" + cfg.name + "'";
  read.step = [running, max = cfg.options.max_query_bytes](auto until) {
    return replica_reader::continue_query(*running, until, max);
  };
  read.finish = [this, running, promise, filter = std::move(filter),
                 started](const status& st) mutable {
    if (!st.ok()) {
      promise.deliver(to_error(st));
      return;
    }
    if constexpr (std::is_same_v<Reply, uint64_t>) {
      reader->queried(filter, true, running->run.matched(), started);
      promise.deliver(running->run.matched());
    } else if constexpr (std::is_same_v<Reply, std::string>) {  // explain
      (void)this;  // an explain publishes no stats event: the captures the others use stay idle
      (void)started;
      auto results = running->run.finish();
      if (!results.ok()) {
        promise.deliver(to_error(results.error()));
        return;
      }
      promise.deliver(running->explain(results->keys.size()));
    } else {
      auto results = running->run.finish();
      if (!results.ok()) {
        promise.deliver(to_error(results.error()));
        return;
      }
      reader->queried(filter, false, results->keys.size(), started);
      promise.deliver(query_reply{std::move(results->keys), std::move(results->records)});
    }
  };
  start_scan(std::move(read));
}

template <class Reply>
caf::result<Reply> stream_state::consistent_query(std::string filter, std::string options) {
  touch();
  if (auto err = check_serving(); !err.ok()) return to_error(err);
  constexpr bool count_only = std::is_same_v<Reply, uint64_t>;
  auto started = op_start::now();
  // A bad filter or options fails at once; the scan runs over the replica once it caught up.
  if (auto checked = reader->start_query(filter, options, count_only); !checked.ok())
    return to_error(checked.error());
  auto rp = self->make_response_promise<Reply>();
  query_consistently(
      filter, std::move(options), count_only,
      [this, rp, started, filter](std::unique_ptr<query_scan> query) mutable {
        start_query(std::move(query), rp, std::move(filter), started);
      },
      [rp](const status& why) mutable { rp.deliver(to_error(why)); });
  return rp;
}

void stream_state::query_consistently(std::string filter, std::string options, bool count_only,
                                      std::function<void(std::unique_ptr<query_scan>)> run,
                                      std::function<void(const status&)> fail) {
  barrier->await_consistency([this, filter = std::move(filter), options = std::move(options),
                              count_only, run = std::move(run),
                              fail = std::move(fail)](const status& st) {
    if (!st.ok()) return fail(st);
    // A fresh scan: one made before the replica caught up reads an older snapshot.
    auto query = reader->start_query(filter, options, count_only);
    if (!query.ok()) return fail(query.error());
    run(std::move(*query));
  });
}

// -- query cursors ------------------------------------------------------------------------------

caf::result<query_page> stream_state::open_cursor(std::string filter, std::string options,
                                                  uint64_t page_size, bool consistent) {
  touch();
  if (auto err = check_serving(); !err.ok()) return to_error(err);
  auto started = op_start::now();
  auto query = reader->start_query(filter, options, false);  // a bad filter fails at once
  if (!query.ok()) return to_error(query.error());
  auto rp = self->make_response_promise<query_page>();
  auto open = [this, rp, filter, page_size, started](std::unique_ptr<query_scan> q) mutable {
    auto id = cursors->open(std::move(q), filter, page_size, started, now());
    if (!id.ok()) {
      rp.deliver(to_error(id.error()));
      return;
    }
    serve_page(*id, *cursors->find(*id, cfg.name), rp);
  };
  if (!consistent) {
    open(std::move(*query));
    return rp;
  }
  query->reset();  // its snapshot is older than what the read must see
  query_consistently(std::move(filter), std::move(options), false, open,
                     [rp](const status& why) mutable { rp.deliver(to_error(why)); });
  return rp;
}

void stream_state::serve_page(uint64_t id, std::shared_ptr<query_cursor_set::cursor> c,
                              caf::typed_response_promise<query_page> promise) {
  c->busy = true;
  scan read;
  read.what = "reading a page of query cursor " + std::to_string(id) + " on '" + cfg.name + "'";
  read.step = [c, max = cfg.options.max_query_bytes](auto until) {
    return query_cursor_set::step(*c, until, max);
  };
  read.finish = [this, id, c, promise](const status& st) mutable {
    c->busy = false;
    if (!st.ok()) {
      cursors->close(id);
      promise.deliver(to_error(st));
      return;
    }
    bool last = false;
    auto page = cursors->take_page(id, *c, now(), last);
    if (!page.ok()) {
      cursors->close(id);
      promise.deliver(to_error(page.error()));
      return;
    }
    if (last) reader->queried(c->filter, false, c->returned, c->started);
    promise.deliver(std::move(*page));
  };
  start_scan(std::move(read));
}

void stream_state::continue_scan(uint64_t id) {
  auto it = scans.find(id);
  if (it == scans.end()) return;
  auto& running = it->second;
  auto done = running.step(std::chrono::steady_clock::now() + cfg.options.scan_slice);
  if (done.ok() && !*done && now() >= running.deadline)
    done = status(errc::timeout, running.what + " took longer than " +
                                     std::to_string(cfg.options.operation_timeout.count()) + " ms");
  if (done.ok() && !*done) {
    self->send(self, scan_atom::value, id);  // the next slice, after what is queued already
    return;
  }
  auto finish = std::move(running.finish);
  scans.erase(it);  // over: a slice still queued for it finds nothing
  finish(done.ok() ? status::OK() : done.error());
}

// -- index builds ------------------------------------------------------------------------------

index_info info_of(const storage::index_definition& def) {
  return index_info{def.field, storage::to_string(def.state), def.multikey, def.progress};
}

void stream_state::schedule_build() {
  if (build_scheduled || current == phase::stopped || !cfg.store) return;
  for (const auto& def : cfg.store->indexes()) {
    if (def.state != storage::index_state::building) continue;
    build_scheduled = true;
    self->send(self, index_build_atom::value);  // after what is queued already
    return;
  }
}

void stream_state::build_step() {
  build_scheduled = false;
  if (current == phase::stopped) return;
  std::string field;
  for (const auto& def : cfg.store->indexes())
    if (def.state == storage::index_state::building) {
      field = def.field;
      break;
    }
  if (field.empty()) return;
  auto done =
      cfg.store->build_index(field, std::chrono::steady_clock::now() + cfg.options.scan_slice);
  if (!done.ok()) {
    EB_LOG_ERROR("stream", "'" << cfg.name << "': building the index on '" << field
                               << "': " << done.error().to_string());
    answer_index_waiters(field, done.error());
    return;  // a storage failure: the build resumes when the stream is opened again
  }
  if (*done) {
    EB_LOG_INFO("stream", "'" << cfg.name << "': index on '" << field << "' is ready");
    answer_index_waiters(field, status::OK());
  }
  schedule_build();
}

void stream_state::answer_index_waiters(const std::string& field, const status& st) {
  auto it = index_waiters.find(field);
  if (it == index_waiters.end()) return;
  auto waiters = std::move(it->second);
  index_waiters.erase(it);
  std::optional<index_info> info;
  for (const auto& def : cfg.store->indexes())
    if (def.field == field) info = info_of(def);
  for (auto& rp : waiters) {
    if (!st.ok())
      rp.deliver(to_error(st));
    else if (info)
      rp.deliver(*info);
    else
      rp.deliver(to_error(status(errc::not_found, "the index on '" + field + "' was dropped")));
  }
}

// -- timers ---------------------------------------------------------------------------------

void stream_state::schedule_tick() {
  if (current == phase::stopped) return;
  auto time = now();
  // Liveness and idleness are checked at least every heartbeat; deadlines and retries when due.
  auto at = time + cfg.options.heartbeat;
  auto consider = [&at](std::optional<time_point> t) {
    if (t && *t < at) at = *t;
  };
  consider(writes->next_wake());
  consider(batches->next_wake());
  consider(api->next_wake());
  if (stream_known) consider(consumer->next_wake());
  if (current == phase::opening) consider(open_deadline);
  consider(barrier->next_wake());
  if (current == phase::ready) consider(auditor->next_wake());
  if (current == phase::ready) consider(expiry->next_wake());
  if (cfg.options.idle_timeout.count() > 0) consider(time + cfg.options.idle_check_interval);
  if (tick_at && *tick_at <= at) return;  // an earlier tick comes anyway
  tick_at = at;
  auto delay = std::max<caf::timespan>(at - time, std::chrono::milliseconds(1));
  self->delayed_send(self, delay, tick_atom::value);
}

void stream_state::on_tick() {
  // Ticks scheduled before an earlier one was due arrive as well; each does the checks below.
  if (tick_at && now() >= *tick_at) tick_at.reset();
  if (current == phase::stopped) return;
  drain();  // what arrived without waking the actor
  if (current == phase::stopped) return;
  if (current == phase::opening && now() >= open_deadline) {
    std::string why = "stream '" + cfg.name + "' did not open within " +
                      std::to_string(cfg.options.open_timeout.count()) + " ms";
    if (!api->last_failure().ok()) why += " (last: " + api->last_failure().message() + ")";
    return fail_open(status(errc::timeout, why));
  }
  writes->expire();
  batches->expire();
  api->expire();
  if (current == phase::stopped) return;
  if (stream_known && (current == phase::opening || current == phase::ready))
    consumer->check_liveness();
  replica_advanced();  // times out what waited for the replica too long
  if (current == phase::ready) auditor->tick(cfg.store->applied_sequence(), consumer->active());
  if (expiry->next_wake() && now() >= *expiry->next_wake()) run_expiries();
  if (current == phase::stopped) return;
  if (auto expired = cursors->expire(now()); expired > 0)
    EB_LOG_DEBUG("stream", "'" << cfg.name << "': closed " << expired << " idle query cursors");
  finish_close_if_drained();
  if (current == phase::ready && idle()) {
    EB_LOG_INFO("stream", "'" << cfg.name << "' idle for " << cfg.options.idle_timeout.count()
                              << " ms: stopping");
    return stop(status(errc::closed, "stream '" + cfg.name + "' stopped after being idle"));
  }
  schedule_tick();
}

bool stream_state::idle() const {
  if (cfg.options.idle_timeout.count() <= 0) return false;
  if (!subscriptions->empty() || !writes->empty() || !batches->empty()) return false;
  if (cfg.reads && cfg.reads->since_last() < cfg.options.idle_timeout) return false;
  return self->clock().now() - last_activity >= cfg.options.idle_timeout;
}

stream_status stream_state::status_now() const {
  stream_status out;
  out.name = cfg.name;
  out.ready = current == phase::ready;
  out.applied_sequence = cfg.store ? cfg.store->applied_sequence() : 0;
  out.skipped_events = skipped_events;
  out.subscriptions = subscriptions ? subscriptions->size() : 0;
  out.pending_writes = writes ? writes->size() : 0;
  out.slow_subscriptions_ended = subscriptions ? subscriptions->slow_ended() : 0;
  out.history = stream_known ? per_subject_limit : 0;
  if (current == phase::opening && progress.active()) {
    out.replay_target = progress.target();
    out.replay_rate = static_cast<uint64_t>(progress.rate());
    if (auto left = progress.eta()) out.replay_eta_ms = left->count();
  }
  if (consumer) {
    out.last_known_sequence =
        std::max({consumer->last_known_sequence(), ready_target, out.applied_sequence});
    out.lag = out.last_known_sequence - out.applied_sequence;
    out.stale = consumer->stale();
    out.consumer = consumer->name();
    out.consistent_sequence = horizon->consistent();
    out.replica_stalls = auditor->stalls();
    out.replica_rebuilds = rebuilds;
    if (consumer->active())
      out.last_contact_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now() - consumer->last_contact())
              .count();
  }
  return out;
}

// -- event sourcing: history, reads at a revision, resumed watches ------------------------------

// Answers `rp` with `value` or its error.
template <class T, class Value>
void deliver_result(caf::typed_response_promise<T>& rp, result<Value> value) {
  if (value.ok())
    rp.deliver(T{std::move(*value)});
  else
    rp.deliver(to_error(value.error()));
}

caf::result<entry> stream_state::get_at_revision(std::string key, uint64_t revision) {
  touch();
  if (auto err = check_serving(); !err.ok()) return to_error(err);
  auto rp = self->make_response_promise<entry>();
  past->get_at(key, revision,
               [rp](result<std::string> record) mutable { deliver_result(rp, std::move(record)); });
  schedule_tick();
  return rp;
}

caf::result<key_history_reply> stream_state::read_history(std::string key, uint64_t limit) {
  touch();
  if (auto err = check_serving(); !err.ok()) return to_error(err);
  auto rp = self->make_response_promise<key_history_reply>();
  past->history(key, limit, [rp](result<key_history_reply> events) mutable {
    deliver_result(rp, std::move(events));
  });
  schedule_tick();
  return rp;
}

caf::result<uint64_t> stream_state::subscribe_from(std::string glob, subscriber_actor subscriber,
                                                   uint64_t after) {
  if (auto err = check_subscribe(subscriber); !err.ok()) return to_error(err);
  auto started = op_start::now();
  protocol::glob filter(glob);
  // What the watcher missed, from the replica: each key's latest change since `after`.
  auto missed = cfg.store->changes_since(after, filter, cfg.options.subscriber_max_pending);
  if (!missed.ok()) {
    status why = missed.error();
    if (why.code() == errc::too_large)
      why = status(errc::too_large,
                   "cannot resume watching '" + glob + "' on '" + cfg.name + "' from revision " +
                       std::to_string(after) + ": " + why.message() +
                       ", more than a subscription may have outstanding; resume from a later "
                       "revision, or read the current state (query, export) and watch from its "
                       "revision");
    return to_error(why);
  }
  self->monitor(subscriber);
  uint64_t id = subscriptions->add(filter, subscriber, after);
  auto send = change_sender();
  for (auto& k : *missed) {
    auto payload = key_history::event_of(k);
    if (!payload.ok()) {
      subscriptions->remove(id);
      return to_error(payload.error());
    }
    change c{cfg.name, k.key, k.revision, std::move(k.record), "", std::move(*payload), false};
    auto ended = subscriptions->deliver_to(id, c, send);
    if (!ended.empty()) {
      end_subscriptions(std::move(ended));
      break;
    }
  }
  stats->publish(protocol::stats_operation::subscribe, std::nullopt, glob, started);
  return id;
}

// -- behaviour ----------------------------------------------------------------------------------

// A batch of puts, answered once all of them completed: one record or one error per put.
caf::result<put_batch_reply> put_batch(stream_self self, std::vector<std::string>& keys,
                                       std::vector<std::string>& documents, document_form form,
                                       const std::vector<write_condition>& conditions = {}) {
  auto& s = self->state;
  s.touch();
  if (auto err = s.check_serving(); !err.ok()) return to_error(err);
  if (keys.size() != documents.size())
    return to_error(status(errc::invalid_argument, "a batch of puts needs one document per key (" +
                                                       std::to_string(keys.size()) + " keys, " +
                                                       std::to_string(documents.size()) +
                                                       " documents)"));
  if (!conditions.empty() && conditions.size() != keys.size())
    return to_error(status(errc::invalid_argument, "a batch of puts needs one condition per key"));
  if (keys.size() > max_put_batch)
    return to_error(
        status(errc::invalid_argument, "a batch holds at most " + std::to_string(max_put_batch) +
                                           " puts (got " + std::to_string(keys.size()) + ")"));
  if (keys.empty()) return put_batch_reply{};
  // The reply is filled in as the puts complete, in any order; the last one sends it.
  struct pending_batch {
    put_batch_reply reply;
    size_t remaining;
  };
  auto batch = std::make_shared<pending_batch>();
  batch->reply.records.resize(keys.size());
  batch->reply.errors.resize(keys.size());
  batch->remaining = keys.size();
  auto rp = self->make_response_promise<put_batch_reply>();
  // The batch's publishes leave together (one put alone needs no hold).
  std::optional<nats::send_burst> burst;
  if (keys.size() > 1) burst.emplace(*s.cfg.nats);
  for (size_t i = 0; i < keys.size(); ++i)
    s.writes->put(
        std::move(keys[i]), std::move(documents[i]),
        [self, rp, batch, i](result<std::string> r) mutable {
          if (r.ok())
            batch->reply.records[i] = std::move(*r);
          else
            batch->reply.errors[i] = to_error(r.error());
          if (--batch->remaining == 0) rp.deliver(std::move(batch->reply));
          self->state.finish_close_if_drained();
        },
        form, conditions.empty() ? write_condition::none() : conditions[i]);
  s.schedule_tick();
  return rp;
}

// One put, answered with the key's record once the replica applied it.
caf::result<entry> put_one(stream_self self, std::string& key, std::string& document,
                           write_condition condition, uint64_t ttl_seconds = 0) {
  auto& s = self->state;
  s.touch();
  if (auto err = s.check_serving(); !err.ok()) return to_error(err);
  auto rp = self->make_response_promise<entry>();
  s.writes->put(
      std::move(key), std::move(document),
      [self, rp](result<std::string> r) mutable {
        if (r.ok())
          rp.deliver(entry{std::move(*r)});
        else
          rp.deliver(to_error(r.error()));
        self->state.finish_close_if_drained();
      },
      document_form::json, condition, ttl_seconds);
  s.schedule_tick();
  return rp;
}

// One erase, answered with the number of messages purged.
caf::result<uint64_t> erase_one(stream_self self, std::string& key, write_condition condition) {
  auto& s = self->state;
  s.touch();
  if (auto err = s.check_serving(); !err.ok()) return to_error(err);
  auto rp = self->make_response_promise<uint64_t>();
  s.writes->erase(
      std::move(key),
      [self, rp](result<uint64_t> r) mutable {
        if (r.ok())
          rp.deliver(*r);
        else
          rp.deliver(to_error(r.error()));
        self->state.finish_close_if_drained();
      },
      condition);
  s.schedule_tick();
  return rp;
}

// An atomic batch (JSON lines, protocol/batch.hpp), answered once the replica applied it whole.
caf::result<batch_result> write_batch(stream_self self, const std::string& lines) {
  auto& s = self->state;
  s.touch();
  if (auto err = s.check_serving(); !err.ok()) return to_error(err);
  auto ops = protocol::parse_batch(lines);
  if (!ops.ok()) return to_error(ops.error());
  auto rp = self->make_response_promise<batch_result>();
  s.batches->submit(std::move(*ops), [self, rp](result<batch_result> r) mutable {
    if (r.ok())
      rp.deliver(*r);
    else
      rp.deliver(to_error(r.error()));
    self->state.finish_close_if_drained();
  });
  s.schedule_tick();
  return rp;
}

stream_actor_impl::behavior_type stream_behavior(stream_self self, stream_config config) {
  self->state.start(std::move(config));
  self->set_down_handler([self](const caf::down_msg& down) {
    if (self->state.subscriptions) self->state.subscriptions->remove_subscriber(down.source);
  });
  return {
      [self](put_atom, std::string& key, std::string& document) -> caf::result<entry> {
        return put_one(self, key, document, write_condition::none());
      },
      [self](put_atom, std::string& key, std::string& document, write_condition condition)
          -> caf::result<entry> { return put_one(self, key, document, condition); },
      [self](batch_atom, std::string& lines) -> caf::result<batch_result> {
        return write_batch(self, lines);
      },
      [self](put_atom, std::string& key, std::string& document, write_condition condition, ttl_atom,
             uint64_t seconds) -> caf::result<entry> {
        if (seconds == 0)
          return to_error(status(errc::invalid_argument, "a TTL must be at least 1 second"));
        return put_one(self, key, document, condition, seconds);
      },
      [self](put_atom, std::vector<std::string>& keys,
             std::vector<std::string>& documents) -> caf::result<put_batch_reply> {
        return put_batch(self, keys, documents, document_form::json);
      },
      [self](stringified_puts& puts) -> caf::result<put_batch_reply> {
        return put_batch(self, puts.keys, puts.documents, document_form::canonical,
                         puts.conditions);
      },
      [self](get_atom, const std::string& key) -> caf::result<entry> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto record = s.reader->get(key);
        if (!record.ok()) return to_error(record.error());
        return entry{std::move(*record)};
      },
      [self](erase_atom, std::string& key) -> caf::result<uint64_t> {
        return erase_one(self, key, write_condition::none());
      },
      [self](erase_atom, std::string& key, write_condition condition) -> caf::result<uint64_t> {
        return erase_one(self, key, condition);
      },
      [self](keys_atom, std::string& pattern) -> caf::result<std::vector<std::string>> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto started = op_start::now();
        auto keys = s.reader->scan(pattern);
        if (!keys.ok()) return to_error(keys.error());
        auto promise = self->make_response_promise<std::vector<std::string>>();
        s.start_keys_scan(std::move(*keys), promise, started);
        return promise;
      },
      [self](query_atom, std::string& filter, std::string& options) -> caf::result<query_reply> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto started = op_start::now();
        auto query = s.reader->start_query(filter, options, false);
        if (!query.ok()) return to_error(query.error());
        auto promise = self->make_response_promise<query_reply>();
        s.start_query(std::move(*query), promise, std::move(filter), started);
        return promise;
      },
      [self](count_atom, std::string& filter) -> caf::result<uint64_t> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto started = op_start::now();
        auto query = s.reader->start_query(filter, "", true);
        if (!query.ok()) return to_error(query.error());
        auto promise = self->make_response_promise<uint64_t>();
        s.start_query(std::move(*query), promise, std::move(filter), started);
        return promise;
      },
      [self](explain_atom, std::string& filter, std::string& options) -> caf::result<std::string> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto query = s.reader->start_query(filter, options, false);
        if (!query.ok()) return to_error(query.error());
        auto promise = self->make_response_promise<std::string>();
        // No QUERY stats event for an explain: it is a diagnosis, not a read.
        s.start_query(std::move(*query), promise, std::move(filter), op_start::now());
        return promise;
      },
      [self](index_create_atom, std::string& field, bool wait) -> caf::result<index_info> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto created = s.cfg.store->create_index(field);
        if (!created.ok()) return to_error(created.error());
        if (*created)
          EB_LOG_INFO("stream", "'" << s.cfg.name << "': building an index on '" << field << "'");
        s.schedule_build();
        for (const auto& def : s.cfg.store->indexes()) {
          if (def.field != field) continue;
          if (!wait || def.state == storage::index_state::ready) return info_of(def);
          auto rp = self->make_response_promise<index_info>();
          s.index_waiters[field].push_back(rp);
          return rp;
        }
        return to_error(status(errc::internal, "the index on '" + field + "' vanished"));
      },
      [self](index_drop_atom, std::string& field) -> caf::result<ok_atom> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        if (auto st = s.cfg.store->drop_index(field); !st.ok()) return to_error(st);
        s.answer_index_waiters(field, status::OK());  // tells them it was dropped
        return ok_atom::value;
      },
      [self](index_list_atom) -> caf::result<std::vector<index_info>> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        std::vector<index_info> out;
        for (const auto& def : s.cfg.store->indexes()) out.push_back(info_of(def));
        return out;
      },
      [self](query_atom, std::string& filter, std::string& options,
             consistent_atom) -> caf::result<query_reply> {
        return self->state.consistent_query<query_reply>(std::move(filter), std::move(options));
      },
      [self](count_atom, std::string& filter, consistent_atom) -> caf::result<uint64_t> {
        return self->state.consistent_query<uint64_t>(std::move(filter), "");
      },
      [self](cursor_atom, open_atom, std::string& filter, std::string& options,
             uint64_t page_size) -> caf::result<query_page> {
        return self->state.open_cursor(std::move(filter), std::move(options), page_size, false);
      },
      [self](cursor_atom, open_atom, std::string& filter, std::string& options, uint64_t page_size,
             consistent_atom) -> caf::result<query_page> {
        return self->state.open_cursor(std::move(filter), std::move(options), page_size, true);
      },
      [self](cursor_atom, uint64_t id) -> caf::result<query_page> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto c = s.cursors->find(id, s.cfg.name);
        if (!c.ok()) return to_error(c.error());
        if ((*c)->busy)
          return to_error(status(errc::invalid_argument, "query cursor " + std::to_string(id) +
                                                             " is reading a page already"));
        auto rp = self->make_response_promise<query_page>();
        s.serve_page(id, std::move(*c), rp);
        return rp;
      },
      [self](cursor_atom, close_atom, uint64_t id) -> caf::result<ok_atom> {
        auto& s = self->state;
        s.touch();
        if (!s.cursors->close(id)) return to_error(s.cursors->find(id, s.cfg.name).error());
        return ok_atom::value;
      },
      [self](get_atom, std::string& key, consistent_atom) -> caf::result<entry> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto rp = self->make_response_promise<entry>();
        s.barrier->await_consistency([self, rp, key = std::move(key)](const status& st) mutable {
          if (!st.ok()) {
            rp.deliver(to_error(st));
            return;
          }
          auto record = self->state.reader->get(key);
          if (!record.ok()) {
            rp.deliver(to_error(record.error()));
            return;
          }
          rp.deliver(entry{std::move(*record)});
        });
        return rp;
      },
      [self](keys_atom, std::string& pattern,
             consistent_atom) -> caf::result<std::vector<std::string>> {
        auto& s = self->state;
        s.touch();
        if (auto err = s.check_serving(); !err.ok()) return to_error(err);
        auto started = op_start::now();
        auto keys = s.reader->scan(pattern);  // compiles the pattern: a bad one fails at once
        if (!keys.ok()) return to_error(keys.error());
        auto rp = self->make_response_promise<std::vector<std::string>>();
        s.barrier->await_consistency(
            [self, rp, started, pattern = std::move(pattern)](const status& st) mutable {
              if (!st.ok()) {
                rp.deliver(to_error(st));
                return;
              }
              // A fresh scan: the one above was made before the replica caught up.
              auto fresh = self->state.reader->scan(pattern);
              if (!fresh.ok()) {
                rp.deliver(to_error(fresh.error()));
                return;
              }
              self->state.start_keys_scan(std::move(*fresh), rp, started);
            });
        return rp;
      },
      [self](subscribe_atom, std::string& filter,
             subscriber_actor& subscriber) -> caf::result<uint64_t> {
        auto& s = self->state;
        if (auto err = s.check_subscribe(subscriber); !err.ok()) return to_error(err);
        auto started = op_start::now();
        self->monitor(subscriber);
        uint64_t id = s.subscriptions->add(protocol::glob(filter), std::move(subscriber));
        s.stats->publish(protocol::stats_operation::subscribe, std::nullopt, filter, started);
        return id;
      },
      [self](subscribe_atom, std::string& glob, subscriber_actor& subscriber, revision_atom,
             uint64_t after) {
        return self->state.subscribe_from(std::move(glob), std::move(subscriber), after);
      },
      [self](history_atom, std::string& key, uint64_t limit) {
        return self->state.read_history(std::move(key), limit);
      },
      [self](get_atom, std::string& key, revision_atom, uint64_t revision) {
        return self->state.get_at_revision(std::move(key), revision);
      },
      [self](subscribe_atom, query_atom, std::string& filter,
             subscriber_actor& subscriber) -> caf::result<uint64_t> {
        auto& s = self->state;
        if (auto err = s.check_subscribe(subscriber); !err.ok()) return to_error(err);
        auto started = op_start::now();
        auto compiled = protocol::filter::parse(filter);  // once, for every change
        if (!compiled.ok()) return to_error(compiled.error());
        if (s.subscriptions->live_queries() >= s.cfg.options.max_live_queries)
          return to_error(status(errc::unavailable,
                                 "too many live queries on stream '" + s.cfg.name + "' (at most " +
                                     std::to_string(s.cfg.options.max_live_queries) + ")"));
        self->monitor(subscriber);
        uint64_t id = s.subscriptions->add(std::move(*compiled), filter, std::move(subscriber));
        s.stats->publish(protocol::stats_operation::subscribe, std::nullopt, filter, started);
        return id;
      },
      [self](unsubscribe_atom, uint64_t id) -> caf::result<ok_atom> {
        auto& s = self->state;
        s.touch();
        if (!s.subscriptions->contains(id))
          return to_error(status(errc::not_found, "no subscription " + std::to_string(id)));
        if (auto left = s.subscriptions->remove(id)) self->demonitor(left->address());
        return ok_atom::value;
      },
      [self](status_atom) -> stream_status { return self->state.status_now(); },
      [self](metrics_atom) -> stream_metrics {
        return {self->state.status_now(), self->state.latencies};
      },
      [self](ready_atom) -> caf::result<ok_atom> {
        auto& s = self->state;
        if (s.current == stream_state::phase::ready) return ok_atom::value;
        if (s.current != stream_state::phase::opening)
          return to_error(status(errc::closed, "stream '" + s.cfg.name + "' is closed"));
        auto rp = self->make_response_promise<ok_atom>();
        s.ready_waiters.push_back(rp);
        return rp;
      },
      [self](close_atom) -> caf::result<ok_atom> {
        auto rp = self->make_response_promise<ok_atom>();
        self->state.begin_close(rp);
        return rp;
      },
      [self](drop_atom) -> caf::result<ok_atom> {
        auto rp = self->make_response_promise<ok_atom>();
        self->state.begin_drop(rp);
        return rp;
      },
      [self](drain_atom) { self->state.drain(); },
      [self](tick_atom) { self->state.on_tick(); },
      [self](scan_atom, uint64_t id) { self->state.continue_scan(id); },
      [self](touch_atom) { self->state.touch(); },
      [self](index_build_atom) { self->state.build_step(); },
      [self](local_atom) -> caf::result<local_access> {
        auto& s = self->state;
        if (s.current != stream_state::phase::ready)
          return to_error(status(errc::closed, "stream '" + s.cfg.name + "' is not open"));
        return local_access{s.cfg.store, s.cfg.reads};
      },
  };
}

}  // namespace

stream_actor spawn_stream(caf::actor_system& sys, stream_config config) {
  return sys.spawn(stream_behavior, std::move(config));
}

}  // namespace eventbase::actors
