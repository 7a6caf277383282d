// The state of a stream actor and the operations on it (internal to actors/).
//
// Split by concern over three files:
//   stream_actor.cc     behaviour, opening, closing, reads, subscriptions, timers
//   stream_consumer.cc  the pull consumer, applying events, JetStream API replies
//   stream_writes.cc    puts and erases: publishing, acknowledgements, completion
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/inbound.hpp"
#include "actors/stream_actor.hpp"
#include "protocol/glob.hpp"
#include "protocol/key_pattern.hpp"
#include "protocol/stats.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

using drain_atom = caf::atom_constant<caf::atom("eb_drain")>;
using tick_atom = caf::atom_constant<caf::atom("eb_tick")>;
using scan_atom = caf::atom_constant<caf::atom("eb_scan")>;

/// The stream actor's full interface: the public one plus its internal wake-ups.
using stream_actor_impl =
    stream_actor::extend<caf::reacts_to<drain_atom>, caf::reacts_to<tick_atom>,
                         caf::reacts_to<scan_atom, uint64_t>>;

struct stream_state;
using stream_self = stream_actor_impl::stateful_pointer<stream_state>;

struct stream_state {
  using clock = caf::actor_clock;
  using time_point = clock::time_point;

  enum class phase { opening, ready, closing, stopped };

  /// A put or erase from its request to its reply.
  struct write_op {
    enum class kind { put, erase } what = kind::put;
    std::string key;
    std::string document;  // put: JSON text, kept until published
    caf::response_promise promise;
    int64_t started_ms = 0;  // wall clock, for stats
    time_point deadline;
    bool published = false;
    uint64_t ack_seq = 0;  // stream sequence from the acknowledgement; 0 until then
    bool applied = false;  // erase: the DELETE is applied, the purge is running
  };

  /// A JetStream API request awaiting its reply.
  struct api_call {
    enum class kind {
      stream_info,
      stream_create,
      stats_info,
      stats_create,
      consumer_create,
      purge,
      stream_delete
    } what;
    uint64_t write_token = 0;  // purge: the erase it completes
    uint64_t generation = 0;   // consumer_create: the consumer generation it creates
    time_point deadline;
  };

  /// An outstanding pull request of the current consumer.
  struct pull {
    uint64_t id;
    int64_t remaining;
    time_point expires;  // when JetStream drops it (not always with a 408 status: see top_up)
  };

  struct subscription {
    protocol::glob filter;
    subscriber_actor subscriber;
    // Changes (and their bytes) sent, and how many of them are known to be handled: every
    // kAckInterval-th change is a request, whose reply acknowledges it and all before it.
    uint64_t sent = 0;
    uint64_t sent_bytes = 0;
    uint64_t acked = 0;
    uint64_t acked_bytes = 0;
    uint64_t pending() const { return sent - acked; }
    uint64_t pending_bytes() const { return sent_bytes - acked_bytes; }
  };

  /// A keys request being answered in slices.
  struct scan {
    std::unique_ptr<storage::key_scan> keys;
    caf::typed_response_promise<std::vector<std::string>> promise;
    std::vector<std::string> found;
    time_point deadline;
    int64_t started_ms = 0;
  };

  /// An event applied in the current batch, for the work after the commit.
  struct applied_event {
    const inbound* source;
    std::string record;  // empty for DELETE
    std::optional<std::string> old_record;
  };

  stream_state() = default;
  explicit stream_state(stream_self self_ptr) : self(self_ptr) {}

  // -- stream_actor.cc -----------------------------------------------------------------------
  void start(stream_config cfg);
  void become_ready();
  void fail_open(const status& why);
  void begin_close(caf::response_promise rp);
  void finish_close();
  void begin_drop(caf::response_promise rp);
  void shutdown(const status& why);  // releases NATS and storage; fails what is pending
  void on_tick();
  void schedule_tick();
  bool idle() const;
  void touch();  // an operation arrived: not idle
  status check_serving() const;
  void publish_stats(protocol::stats_operation op, std::optional<std::string> id,
                     std::optional<std::string> pattern, int64_t started_ms);
  void notify(const applied_event& ev);
  void on_changes_handled(uint64_t id, uint64_t through, uint64_t through_bytes);
  void end_subscription(uint64_t id, const status& why);
  void remove_subscriber(const caf::actor_addr& who);
  void continue_scan(uint64_t id);

  // -- stream_consumer.cc ----------------------------------------------------------------------
  void drain();
  void apply_events(std::vector<inbound>& items);
  void handle_pull_status(const inbound& in);
  void handle_api_reply(inbound& in);
  uint64_t call_api(api_call::kind what, const std::string& subject, const std::string& body,
                    uint64_t write_token = 0);
  void request_stream_info();
  void on_stream_ready(uint64_t last_seq, int64_t max_msgs_per_subject);
  void ensure_stats_stream();
  void reset_consumer(const std::string& why);
  void top_up_pulls();
  void check_consumer_liveness();

  // -- stream_writes.cc ------------------------------------------------------------------------
  void put(caf::response_promise rp, std::string key, std::string document);
  void erase(caf::response_promise rp, std::string key);
  // Registers a write and starts it, or queues it behind the key's earlier writes.
  void submit(write_op::kind what, caf::response_promise rp, std::string key, std::string document);
  void publish_write(uint64_t token);
  void handle_pub_ack(const inbound& in);
  void on_write_applied(uint64_t token, const std::string& record);
  void on_purged(uint64_t token, const result<uint64_t>& purged);
  void resolve_skipped_writes();
  void complete_write(uint64_t token, const status& st, const std::string& record, uint64_t purged);
  void expire_writes(time_point now);
  void fail_all_writes(const status& why);

  // -- data -------------------------------------------------------------------------------------
  stream_self self = nullptr;
  stream_config cfg;
  phase current = phase::opening;
  std::string writer_id;  // random, prefix of the Nats-Msg-Id of this actor's writes
  std::unique_ptr<nats::inbox> inbox;
  std::shared_ptr<inbound_queue> queue;
  uint64_t reconnect_listener = 0;
  time_point last_activity;
  bool tick_scheduled = false;

  // opening
  bool stream_known = false;  // JetStream has told the stream's state
  uint64_t ready_target = 0;  // the stream's last sequence at open time
  std::vector<caf::response_promise> ready_waiters;
  time_point open_deadline;
  bool per_subject_limit = false;  // stream keeps one message per subject (no purge needed)

  // consumer
  std::string consumer;            // name of the current consumer; empty while (re)creating
  uint64_t generation = 0;         // bumped at each consumer (re)creation
  uint64_t next_consumer_seq = 1;  // the consumer sequence expected next
  std::deque<pull> pulls;
  uint64_t next_pull_id = 1;
  time_point last_consumer_traffic;
  int64_t max_pull_bytes = 0;

  // JetStream API calls and writes, by token
  uint64_t next_token = 1;
  std::unordered_map<uint64_t, api_call> calls;
  std::unordered_map<uint64_t, write_op> writes;
  struct key_writes {
    uint64_t active = 0;           // the write of the key in progress
    std::deque<uint64_t> waiting;  // the key's writes queued behind it
  };
  std::unordered_map<std::string, key_writes> busy_keys;
  std::map<uint64_t, uint64_t> acked;  // ack sequence -> token, for writes not yet applied

  // subscriptions
  uint64_t next_subscription = 1;
  std::map<uint64_t, subscription> subscriptions;
  uint64_t slow_subscriptions_ended = 0;

  // keys scans in progress
  uint64_t next_scan = 1;
  std::map<uint64_t, scan> scans;
  protocol::key_pattern_cache patterns;

  uint64_t skipped_events = 0;
  caf::response_promise close_promise;
  bool dropping = false;

  static const char* name;  // CAF's name for this actor type
};

}  // namespace eventbase::actors
