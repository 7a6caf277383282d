// The actor interface of Eventbase, for CAF applications (CAF 0.17).
//
// Include this header, call `eventbase::add_message_types(cfg)` on your actor_system_config
// (on every node that talks to Eventbase actors), and use the typed handles below. The same
// messages work locally and across CAF's network layer.
//
//   stream_actor      one stream: put / get / erase / keys / query / count / cursor / explain /
//                     index_create / index_drop / index_list / subscribe (glob or live query) /
//                     close / drop
//   subscriber_actor  receives `change` messages; implement it to watch a stream
//   manager_actor     opens stream actors by name and closes idle ones
//
// Documents travel as JSON text in requests and as records in replies: a record is the
// msgpack-encoded document plus its metadata (protocol/record.hpp), its objects' members in the
// order they were written; `eventbase::decode_record` turns one into JSON that keeps that order.
// Every error reply is a caf::error of category "eventbase" whose code is an eventbase::errc and
// whose context holds the message; `eventbase::to_status` converts it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "eventbase/batch.hpp"
#include "eventbase/index_info.hpp"
#include "eventbase/status.hpp"
#include "eventbase/write_condition.hpp"

namespace eventbase {

// -- atoms (CAF 0.17: at most 10 characters; prefixed to stay clear of applications' atoms) ----

using put_atom = caf::atom_constant<caf::atom("eb_put")>;
using get_atom = caf::atom_constant<caf::atom("eb_get")>;
using erase_atom = caf::atom_constant<caf::atom("eb_erase")>;
using keys_atom = caf::atom_constant<caf::atom("eb_keys")>;
using subscribe_atom = caf::atom_constant<caf::atom("eb_sub")>;
using unsubscribe_atom = caf::atom_constant<caf::atom("eb_unsub")>;
using change_atom = caf::atom_constant<caf::atom("eb_change")>;
using status_atom = caf::atom_constant<caf::atom("eb_status")>;
using ready_atom = caf::atom_constant<caf::atom("eb_ready")>;
using close_atom = caf::atom_constant<caf::atom("eb_close")>;
using drop_atom = caf::atom_constant<caf::atom("eb_drop")>;
using ok_atom = caf::atom_constant<caf::atom("eb_ok")>;
using open_atom = caf::atom_constant<caf::atom("eb_open")>;
using list_atom = caf::atom_constant<caf::atom("eb_list")>;
using watch_atom = caf::atom_constant<caf::atom("eb_watch")>;
using opened_atom = caf::atom_constant<caf::atom("eb_opened")>;
using closed_atom = caf::atom_constant<caf::atom("eb_closed")>;
using ended_atom = caf::atom_constant<caf::atom("eb_ended")>;
/// Marks a read as consistent: it reflects every write JetStream acknowledged before the read
/// began, on whichever node it runs (see stream_actor).
using consistent_atom = caf::atom_constant<caf::atom("eb_consist")>;
/// Queries by content (protocol/filter.hpp, protocol/query.hpp).
using query_atom = caf::atom_constant<caf::atom("eb_query")>;
using count_atom = caf::atom_constant<caf::atom("eb_count")>;
/// Secondary indexes (README "Indexes") and the plan of a query.
using index_create_atom = caf::atom_constant<caf::atom("eb_icreate")>;
using index_drop_atom = caf::atom_constant<caf::atom("eb_idrop")>;
using index_list_atom = caf::atom_constant<caf::atom("eb_ilist")>;
using explain_atom = caf::atom_constant<caf::atom("eb_explain")>;
/// Query cursors: a query's results page by page (stream_actor below).
using cursor_atom = caf::atom_constant<caf::atom("eb_cursor")>;
/// Event sourcing: a key's kept events, reads at a revision, watches resumed from one.
using history_atom = caf::atom_constant<caf::atom("eb_history")>;
using revision_atom = caf::atom_constant<caf::atom("eb_rev")>;
/// Expiry: a put that expires (doc/history.md "Expiry").
using ttl_atom = caf::atom_constant<caf::atom("eb_ttl")>;
/// Atomic batches: several writes stored together or not at all (eventbase/batch.hpp).
using batch_atom = caf::atom_constant<caf::atom("eb_batch")>;

// -- messages ---------------------------------------------------------------------------------

/// A stored document with its metadata, as a record (protocol/record.hpp). An empty record means
/// the key is absent.
struct entry {
  std::string record;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entry& x) {
  return f(caf::meta::type_name("eventbase::entry"), x.record);
}

/// The condition of a conditional write (eventbase/write_condition.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_condition& x) {
  return f(caf::meta::type_name("eventbase::write_condition"), x.what, x.revision);
}

/// An applied atomic batch (eventbase/batch.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_result& x) {
  return f(caf::meta::type_name("eventbase::batch_result"), x.applied, x.revision);
}

/// One applied event, pushed to subscribers in stream order.
struct change {
  std::string stream;
  std::string key;
  uint64_t sequence = 0;
  std::string record;      // the key's record after the event; empty for a DELETE
  std::string old_record;  // the record the event replaced; empty if the key was absent
  // The event's JSON payload exactly as it is on the stream: {"type","id","data","timestamp"}
  // as the JS library writes it ("data" absent for a DELETE). An event that an earlier version
  // of Eventbase wrote with a "meta" member comes without it, so that the fields are the same
  // whoever wrote the change.
  std::string event;
  /// A DELETE that expired the key (put with a TTL), not a delete someone asked for.
  bool expired = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change& x) {
  return f(caf::meta::type_name("eventbase::change"), x.stream, x.key, x.sequence, x.record,
           x.old_record, x.event, x.expired);
}

/// The answer to a query: the matching documents in order, each a key and its record (as in
/// `entry`, its data projected when the query asked for it).
struct query_reply {
  std::vector<std::string> keys;
  std::vector<std::string> records;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_reply& x) {
  return f(caf::meta::type_name("eventbase::query_reply"), x.keys, x.records);
}

/// The answer to a batch of puts (stream_actor below): for the i-th put of the batch,
/// `records[i]` is the key's new record (as in `entry`) when `errors[i]` is empty, else
/// `errors[i]` says why that put failed (an error like the single put's).
struct put_batch_reply {
  std::vector<std::string> records;
  std::vector<caf::error> errors;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, put_batch_reply& x) {
  return f(caf::meta::type_name("eventbase::put_batch_reply"), x.records, x.errors);
}

/// The most puts one batch may carry; a larger batch is refused whole (invalid_argument).
constexpr size_t max_put_batch = 10000;

/// A secondary index of a stream (eventbase/index_info.hpp), as index_list and index_create
/// report it.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_info& x) {
  return f(caf::meta::type_name("eventbase::index_info"), x.field, x.state, x.multikey, x.progress);
}

/// One page of a query cursor: the next documents in the query's order, as in query_reply, and
/// the cursor to ask for the page after it; `cursor` is 0 when this page is the last (the
/// stream has closed the cursor then).
struct query_page {
  uint64_t cursor = 0;
  std::vector<std::string> keys;
  std::vector<std::string> records;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_page& x) {
  return f(caf::meta::type_name("eventbase::query_page"), x.cursor, x.keys, x.records);
}

/// A key's events as the stream keeps them (history_atom), newest first: the i-th has revision
/// `revisions[i]` and is `events[i]`, the event's JSON as on the stream ({"type","id","data",
/// "timestamp"}, "data" absent for a DELETE).
struct key_history_reply {
  std::vector<uint64_t> revisions;
  std::vector<std::string> events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_history_reply& x) {
  return f(caf::meta::type_name("eventbase::key_history_reply"), x.revisions, x.events);
}

/// What a stream actor reports about itself.
struct stream_status {
  std::string name;
  bool ready = false;
  uint64_t applied_sequence = 0;  // last event applied to the local replica
  uint64_t skipped_events = 0;    // malformed messages skipped since the actor started
  uint64_t subscriptions = 0;
  uint64_t pending_writes = 0;
  uint64_t slow_subscriptions_ended = 0;  // subscriptions ended for falling behind (see below)
  /// The stream's last sequence as far as this node knows (from its consumer's deliveries and
  /// heartbeats, and from consistent reads); `lag` = last_known_sequence - applied_sequence.
  uint64_t last_known_sequence = 0;
  uint64_t lag = 0;
  /// Milliseconds since the consumer last said anything (an event or an idle heartbeat); -1
  /// while there is no consumer.
  int64_t last_contact_ms = -1;
  /// The consumer went silent past the heartbeat rule, and the replica has not caught up with
  /// the stream since: reads may miss recent writes.
  bool stale = false;
  std::string consumer;  // the JetStream consumer's name; empty while it is being (re)created
  /// The replica holds the effect of every event up to this sequence (<= applied_sequence:
  /// events compaction removed are known only once what replaced them is applied); consistent
  /// reads wait for it.
  uint64_t consistent_sequence = 0;
  /// Times the consumer was found stalled (the stream ahead, nothing delivered) and recreated,
  /// and times the replica was found to differ from the stream and rebuilt from it, since the
  /// actor started (README "Failover").
  uint64_t replica_stalls = 0;
  uint64_t replica_rebuilds = 0;
  // While the stream replays after opening (not ready yet): the sequence it catches up to (the
  // stream's last at open time), events applied per second so far, and the estimated time
  // until it is ready (-1: unknown). 0, 0, -1 once ready.
  uint64_t replay_target = 0;
  uint64_t replay_rate = 0;
  int64_t replay_eta_ms = -1;
  /// Events the stream keeps per key and event type (its per-subject limit; -1: no limit, a
  /// stream the JS library created); 0 until the stream is known.
  int64_t history = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_status& x) {
  return f(caf::meta::type_name("eventbase::stream_status"), x.name, x.ready, x.applied_sequence,
           x.skipped_events, x.subscriptions, x.pending_writes, x.slow_subscriptions_ended,
           x.last_known_sequence, x.lag, x.last_contact_ms, x.stale, x.consumer,
           x.consistent_sequence, x.replica_stalls, x.replica_rebuilds, x.replay_target,
           x.replay_rate, x.replay_eta_ms, x.history);
}

// -- typed actor interfaces -----------------------------------------------------------------

/// Receives the changes of the subscriptions it was passed to, and acknowledges each one once
/// it has handled it (by returning ok_atom). A stream keeps a bounded number of changes (and
/// bytes) sent to a subscription and not yet acknowledged (stream_options, eventbase-server
/// --subscriber-max-pending...); a subscriber that falls further behind has its subscription
/// ended: it gets `ended_atom` with the subscription id and an error ("too slow: N changes
/// outstanding"), after the changes already sent, and nothing more from it. A live query whose
/// filter cannot be matched against a change (a $regex beyond its limits) ends the same way,
/// with invalid_argument "live query ended: ...".
using subscriber_actor = caf::typed_actor<caf::replies_to<change_atom, change>::with<ok_atom>,
                                          caf::reacts_to<ended_atom, uint64_t, caf::error>>;

/// One stream. Writes reply once the local replica has applied them (read-your-writes).
/// Records carry the key's revision (the JetStream sequence of the event behind its state, the
/// same on every node); writes of one key are serialized across nodes.
using stream_actor = caf::typed_actor<
    // (key, JSON text) -> the new record
    caf::replies_to<put_atom, std::string, std::string>::with<entry>,
    // (key, JSON text, condition) -> the new record, or errc::conflict (nothing written) when
    // the condition does not hold where JetStream orders the write (README "Consistency")
    caf::replies_to<put_atom, std::string, std::string, write_condition>::with<entry>,
    // (keys, JSON texts) -> puts of many documents in one message, each as the put above: the
    // i-th key gets the i-th document; the reply comes when every put of the batch has
    // completed, with each one's record or error (put_batch_reply). Puts of one key run in
    // batch order. invalid_argument for the whole batch when the two lists differ in length or
    // hold more than max_put_batch puts.
    caf::replies_to<put_atom, std::vector<std::string>,
                    std::vector<std::string>>::with<put_batch_reply>,
    // key -> the record, empty when absent
    caf::replies_to<get_atom, std::string>::with<entry>,
    // key -> number of messages purged from the stream
    caf::replies_to<erase_atom, std::string>::with<uint64_t>,
    // (key, condition: if_revision) -> as above, or errc::conflict when the key is not at that
    // revision (nothing is deleted)
    caf::replies_to<erase_atom, std::string, write_condition>::with<uint64_t>,
    // ECMAScript regex ("" for all) -> matching keys in byte order
    caf::replies_to<keys_atom, std::string>::with<std::vector<std::string>>,
    // The same two reads, consistent: the stream first learns the stream's last sequence from
    // JetStream and answers once its replica has applied it, so the answer reflects every write
    // acknowledged before the read began (like etcd's linearizable reads; the plain forms are
    // its serializable ones: local, fast, possibly stale). Fails (timeout, unavailable) rather
    // than answer from a stale replica when JetStream cannot say within the operation timeout.
    caf::replies_to<get_atom, std::string, consistent_atom>::with<entry>,
    caf::replies_to<keys_atom, std::string, consistent_atom>::with<std::vector<std::string>>,
    // (filter, options: {"sort","limit","offset","project"}, both JSON text) -> the matching
    // documents in order, from the local replica. Runs in slices like keys, within the
    // operation timeout; invalid_argument for a bad filter or options (protocol/query.hpp).
    caf::replies_to<query_atom, std::string, std::string>::with<query_reply>,
    // filter (JSON text) -> how many documents match, from the local replica
    caf::replies_to<count_atom, std::string>::with<uint64_t>,
    // (filter, options) as for query -> the query's plan and the documents it examined and
    // returned, JSON text {"plan":{"index":FIELD or null,"type",...},"examined":N,"returned":M}
    // (README "Indexes"); the query runs in full, its results are not sent
    caf::replies_to<explain_atom, std::string, std::string>::with<std::string>,
    // (field, wait) -> the index on the dotted field path, declared if new (creating an
    // existing one is no error) and built in the background from the local replica; with
    // wait, the reply comes once it is ready (the requester's timeout bounds the wait).
    // invalid_argument for a bad path or past 64 indexes
    caf::replies_to<index_create_atom, std::string, bool>::with<index_info>,
    // field -> deletes the index; not_found when there is none
    caf::replies_to<index_drop_atom, std::string>::with<ok_atom>,
    // -> every index of the stream, in the order they were created
    caf::replies_to<index_list_atom>::with<std::vector<index_info>>,
    // query and count, consistent (like get and keys above).
    caf::replies_to<query_atom, std::string, std::string, consistent_atom>::with<query_reply>,
    caf::replies_to<count_atom, std::string, consistent_atom>::with<uint64_t>,
    // Query cursors, for results too large to hold at once: (open, filter, options, page size)
    // -> the first page; (cursor id) -> the next page; (close, cursor id) -> ok. Pages come in
    // the order of query_atom's answer, each of at most page size documents (0: 1000; at most
    // 10,000) and about 4 MiB of records. Each page is read within the operation timeout. A
    // stream holds at most 64 cursors (more: errc::unavailable), and closes a cursor not asked
    // for a page for 60 s (then: errc::not_found). Without "sort" the stream holds a page of
    // results at a time; with "sort" it holds the sorted results (2 x (offset + limit)
    // documents at most while sorting with a limit; every match without one). The reads see
    // the replica as it was when the cursor opened.
    caf::replies_to<cursor_atom, open_atom, std::string, std::string, uint64_t>::with<query_page>,
    caf::replies_to<cursor_atom, open_atom, std::string, std::string, uint64_t,
                    consistent_atom>::with<query_page>,
    caf::replies_to<cursor_atom, uint64_t>::with<query_page>,
    caf::replies_to<cursor_atom, close_atom, uint64_t>::with<ok_atom>,
    // (glob, subscriber) -> subscription id; the subscription ends with the subscriber
    caf::replies_to<subscribe_atom, std::string, subscriber_actor>::with<uint64_t>,
    // (query, filter as JSON text, subscriber) -> subscription id: a live query. The subscriber
    // gets every change whose document matched the filter before it (old_record) or matches it
    // after (record): it can tell entering (old does not match), leaving (new does not match)
    // and deletion (record empty). invalid_argument for a bad filter; a live query whose
    // matching fails on a change (a $regex beyond its limits) ends with ended_atom and
    // invalid_argument "live query ended: ...". Acknowledgements and bounds as for globs; a
    // stream holds at most 256 live queries (unavailable beyond).
    caf::replies_to<subscribe_atom, query_atom, std::string, subscriber_actor>::with<uint64_t>,
    // (glob, subscriber, revision, R) -> subscription id: first every change with a revision
    // above R, in revision order (the latest version of each matching key changed since, the
    // DELETE of each deleted since), then the live ones, without gap or duplicate. too_large
    // when more keys changed since R than a subscription may have outstanding.
    caf::replies_to<subscribe_atom, std::string, subscriber_actor, revision_atom,
                    uint64_t>::with<uint64_t>,
    // (key, limit) -> the key's kept events, newest first, at most `limit` (0: all kept)
    caf::replies_to<history_atom, std::string, uint64_t>::with<key_history_reply>,
    // (key, revision, R) -> the key as it was at revision R (empty record: absent then);
    // compacted when the stream no longer keeps that version, invalid_argument for an R beyond
    // the stream's last revision
    caf::replies_to<get_atom, std::string, revision_atom, uint64_t>::with<entry>,
    // (key, JSON text, condition, ttl, seconds) -> as a put: the key expires `seconds` (1 to
    // ten years) after JetStream stored the put, on every node, unless written again before
    caf::replies_to<put_atom, std::string, std::string, write_condition, ttl_atom,
                    uint64_t>::with<entry>,
    // (batch, JSON lines) -> an atomic batch (protocol/batch.hpp: {"op":"put","key","data"} or
    // {"op":"delete","key"}, each with optional "ifRevision"/"ifAbsent", a put with "ttl"), at
    // most 1,000 writes of distinct keys: every write is stored, at consecutive revisions, or
    // none. errc::conflict (nothing written) when a condition does not hold; invalid_argument
    // naming the first bad line; too_large beyond 1,000 writes; unavailable on a nats-server
    // older than 2.12. Replies once the replica has applied the whole batch.
    caf::replies_to<batch_atom, std::string>::with<batch_result>,
    caf::replies_to<unsubscribe_atom, uint64_t>::with<ok_atom>,
    caf::replies_to<status_atom>::with<stream_status>,
    // replies once the replica has caught up with the stream as it was at open time
    caf::replies_to<ready_atom>::with<ok_atom>,
    // stops the stream actor; the local data stays
    caf::replies_to<close_atom>::with<ok_atom>,
    // deletes the JetStream stream and the local data, then stops
    caf::replies_to<drop_atom>::with<ok_atom>>;

/// Receives the manager's notices: a stream was opened (ready), a stream was closed.
using notice_listener_actor = caf::typed_actor<caf::reacts_to<opened_atom, std::string>,
                                               caf::reacts_to<closed_atom, std::string>>;

/// Opens streams by name, one actor per stream, and keeps track of them. All streams of a
/// manager share its NATS connection and its RocksDB. A stream that has been idle for the
/// manager's keep-alive with no subscriptions stops itself; the manager forgets it, and the next
/// open reopens it from the stored sequence. Holders of a stream_actor should monitor it and ask
/// the manager again when it is gone.
using manager_actor = caf::typed_actor<
    // name -> the stream's actor, once ready; concurrent requests for one name open it once
    caf::replies_to<open_atom, std::string>::with<stream_actor>,
    // the names of the open streams, sorted
    caf::replies_to<list_atom>::with<std::vector<std::string>>,
    // name -> the stream's status: at once while it opens (with its replay progress), else
    // once it is open (opening it if needed)
    caf::replies_to<status_atom, std::string>::with<stream_status>,
    // closes every stream (their data stays); replies when all have stopped
    caf::replies_to<close_atom>::with<ok_atom>,
    // deletes a stream: its JetStream stream and this node's local data
    caf::replies_to<drop_atom, std::string>::with<ok_atom>,
    // sends `opened` / `closed` notices to the listener until it goes down
    caf::replies_to<watch_atom, notice_listener_actor>::with<ok_atom>>;

// -- helpers ------------------------------------------------------------------------------------

/// Registers every Eventbase message type; call it on the configuration of every actor system
/// that exchanges messages with Eventbase actors, locally or remotely.
void add_message_types(caf::actor_system_config& cfg);

/// The caf::error that carries `st` (category "eventbase").
caf::error to_error(const status& st);

/// The status a caf::error stands for; CAF's own errors map to the closest errc.
status to_status(const caf::error& err);

}  // namespace eventbase
