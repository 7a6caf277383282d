// Eventbase's C++ API for code that is not a CAF actor: a thin facade over the stream and
// manager actors, mirroring the JavaScript library's API.
//
//   eventbase::stream_config config;
//   config.stream_name = "users";
//   config.nats.servers = {"nats://127.0.0.1:4222"};
//   config.data_path = "./data";
//   auto db = eventbase::stream::open(config).value();
//   db.put("user1", {{"name", "Ada"}});          // returns once readable here
//   auto doc = db.get("user1").value();          // std::optional<document>
//   auto sub = db.subscribe("user*", [](auto& key, auto& data, auto& meta, auto& event) {});
//   sub.value().unsubscribe();
//   db.close();
//
// Every call returns a status or a result<T> (eventbase/status.hpp); nothing throws unless you
// call result<T>::value() on an error. Handles are cheap to copy and share one instance.
//
// Documents are nlohmann::ordered_json: a document comes back exactly as it was written, its
// objects' members in their order (README "Key order"). A plain nlohmann::json converts
// implicitly, but it has sorted its keys already.
//
// Threads: synchronous calls block the calling thread only. Callbacks (subscriptions,
// on_message, *_async completions) run on Eventbase's threads; a subscription's callback runs on
// a thread of its own, so it may call the synchronous API, but an *_async completion must not
// (it would wait for itself: such calls fail with errc::internal instead of hanging).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "eventbase/batch.hpp"
#include "eventbase/index_info.hpp"
#include "eventbase/status.hpp"
#include "eventbase/write_condition.hpp"

namespace eventbase {

// -- options ------------------------------------------------------------------------------------
// Every field of every options struct below has the default shown, which is what production
// uses unless a comment says otherwise.

/// How to reach and authenticate with NATS (README "Security"); the same in stream_config,
/// manager_config and node_config.
struct nats_options {
  /// Server URLs ("nats://HOST:PORT", "tls://HOST:PORT" asks for TLS, "HOST:PORT"). Default
  /// empty: nats://127.0.0.1:4222 (a node starts a nats-server of its own instead).
  std::vector<std::string> servers;
  /// User name and password. Default empty: none.
  std::string user;
  std::string password;
  /// Authentication token. Default empty: none.
  std::string token;
  /// PEM file with the CA certificate(s) that signed the servers' certificates. Setting it, or
  /// tls_cert, or a tls:// URL, makes every connection TLS; the server's certificate must chain
  /// to this CA. Default empty: no TLS (unless a tls:// URL asks for it; then the system's CAs).
  std::string tls_ca;
  /// PEM client certificate and its key, for servers that verify clients (nats-server
  /// --tlsverify or `verify: true`). Default empty: none.
  std::string tls_cert;
  std::string tls_key;
  /// A NATS credentials file (a user JWT and its nkey seed, as `nsc` writes it) for servers in
  /// operator (JWT) mode. Default empty: none.
  std::string creds;
  /// A file with a user nkey seed ("SU..."), for servers that list the user's public nkey.
  /// Default empty: none. At most one of creds and nkey.
  std::string nkey;
};

/// A key's metadata: ISO-8601 UTC times with milliseconds, taken from JetStream, so every
/// replica agrees; `changes` counts the puts since the key was created or last deleted;
/// `revision` is the JetStream stream sequence of the event behind the key's current state, the
/// same on every node (write_condition::if_revision takes it).
struct meta {
  std::string date_created;
  std::string date_modified;
  uint64_t changes = 0;
  uint64_t revision = 0;

  /// {"dateCreated": ..., "dateModified": ..., "changes": N, "revision": R}
  nlohmann::ordered_json to_json() const;
};

/// A document with its metadata, what put and get return.
struct document {
  nlohmann::ordered_json data;  // as written, members in their order
  eventbase::meta meta;

  /// {"data": ..., "meta": {"dateCreated": ..., "dateModified": ..., "changes": N,
  /// "revision": R}}, in this order
  nlohmann::ordered_json to_json() const;
};

/// A document with its key: what insert and query return.
struct keyed_document {
  std::string key;
  nlohmann::ordered_json data;  // as written (only the projected fields when a query asked)
  eventbase::meta meta;

  /// {"key": ..., "data": ..., "meta": {...}}, in this order: the line `eventbase query` prints
  nlohmann::ordered_json to_json() const;
};

/// One kept event of a key (stream::history): {"revision": R, "type": "PUT"|"DELETE", "data":
/// ..., "timestamp": ms} as to_json writes it ("data" only for a PUT; "timestamp" is the
/// writer's clock, as in the event on the stream).
struct history_event {
  uint64_t revision = 0;
  std::string type;             // "PUT" or "DELETE"
  nlohmann::ordered_json data;  // a PUT's document; null for a DELETE
  int64_t timestamp = 0;

  nlohmann::ordered_json to_json() const;
};

/// Where a subscription starts (stream::subscribe).
struct subscribe_options {
  /// Resume after this revision: first every change with a later revision, in revision order
  /// (the latest version of each matching key changed since, the DELETE of each key deleted
  /// since: what a watcher that never stopped ends with), then the live changes, without a gap
  /// or a duplicate between them. nullopt: only later changes. errc::too_large when more keys
  /// changed since than a subscription may have outstanding (10,000 by default).
  std::optional<uint64_t> from_revision;
};

/// A new random UUID v4 in lower case ("1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"): insert's key.
std::string random_uuid();

struct change;             // eventbase/actors.hpp
struct query_reply;        // eventbase/actors.hpp
struct key_history_reply;  // eventbase/actors.hpp

/// The events of a key_history_reply, in its order.
result<std::vector<history_event>> decode_history(const key_history_reply& reply);

/// Decodes the documents of a query_reply, in order.
result<std::vector<keyed_document>> decode_query_reply(const query_reply& reply);

/// A change message as JSON, in this order: {"key", "data", "meta", "event"}, with data and meta
/// null for a DELETE and "oldData" added to the event (as subscription callbacks get it): the
/// line `eventbase watch` prints (README "Watching changes").
nlohmann::ordered_json change_to_json(const change& c);

/// JSON text as JavaScript's JSON.stringify writes the same value: no white space, members in
/// their order, numbers in JavaScript's shortest form (1e-7, 1e+21, 0.000001; integers with all
/// their digits), only quotes, backslashes and control characters escaped. Strings that are not
/// valid UTF-8 get U+FFFD for each invalid sequence. A value nested deeper than
/// kMaxDocumentDepth + 2 levels (a change line holds documents two levels down), or holding a
/// binary value, which no document has, gives "null".
std::string stringify(const nlohmann::ordered_json& value);

/// The deepest nesting of arrays and objects a document may have (README "Limits").
inline constexpr size_t kMaxDocumentDepth = 512;

/// Parses JSON text as a document, without recursion, keeping its key order (a key written twice
/// in one object keeps its first position and its last value, as JSON.parse does):
/// invalid_argument when it is not JSON or nests deeper than kMaxDocumentDepth (a tree that deep
/// could not be serialised safely).
result<nlohmann::ordered_json> parse_document(std::string_view text);

/// Decodes a stored record (eventbase::entry::record, eventbase::change::record) into a
/// document; nullopt for an empty record (an absent key).
result<std::optional<document>> decode_record(const std::string& record);

/// Called for each change of a subscribed key, in stream order: `data` is null and `meta`
/// empty for a DELETE. `event` is the event as on the stream, whoever wrote it:
/// {"type","id","data","timestamp"} ("data" absent for a DELETE), plus "oldData", the document
/// before the change (null if none), as in the JS library (README "Watching changes"), and
/// "revision", the change's revision (the stream sequence; what subscribe_options::from_revision
/// resumes after).
using change_callback =
    std::function<void(const std::string& key, const nlohmann::ordered_json& data,
                       const std::optional<meta>& meta, const nlohmann::ordered_json& event)>;

/// Called with every event this instance applies, as on the stream ({"type","id","data",
/// "timestamp"}, without "oldData").
using message_callback = std::function<void(const nlohmann::ordered_json& event)>;

/// One stream (the JS library's createEventbase config).
struct stream_config {
  /// The JetStream stream. Required: printable ASCII without space . * > / \, at most 200 bytes.
  std::string stream_name;
  /// Where each operation publishes a stat (subject "<name>.stats"). Default: "", no stats.
  std::string stats_stream_name;
  nats_options nats;
  /// Directory of the local replica (a RocksDB). Default: "", a fresh temporary directory,
  /// removed on close.
  std::string data_path;
  /// Called with every event this instance applies. Default: none.
  message_callback on_message;
  /// How long an operation, and opening, may take. Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  /// Events kept per key (PUTs and DELETEs each) when this instance creates the JetStream
  /// stream: 1 (compacted) up to 64; an existing stream keeps its own. Default: 1.
  int64_t history = 1;
};

/// A subscription; call unsubscribe() to end it (closing the stream ends it too). Copies share
/// the subscription. The stream ends a subscription whose callback falls too far behind (see
/// README "Limits and failure behaviour"), and a live query whose filter cannot be matched
/// against a change; it is then no longer active and error() says why.
class subscription {
 public:
  subscription() = default;

  /// Ends the subscription; no callback starts after it returns. Idempotent.
  void unsubscribe();
  bool active() const;

  /// Why the stream ended the subscription; ok while it is active or after unsubscribe().
  status error() const;

  struct impl;

 private:
  friend class stream;
  explicit subscription(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<impl> impl_;
};

/// A query's results page by page (stream::open_cursor), read by the stream actor through a
/// server-side cursor, so that neither the stream nor the caller holds a large result at once.
/// Results come in the order stream::query gives them, from the replica as it was when the
/// cursor opened. Copies share the cursor; the last one to go closes it. A cursor that is not
/// asked for a page for 60 s is closed by the stream (next() then fails with errc::not_found).
class query_cursor {
 public:
  query_cursor() = default;  // an exhausted cursor

  /// The next page of documents (at most the page size): empty once every result was handed
  /// over. Errors of the read (timeout, closed, not_found) end the cursor.
  result<std::vector<keyed_document>> next();

  /// True once every result was handed over (or the cursor was closed).
  bool done() const;

  /// Tells the stream to close the cursor early. Idempotent.
  void close();

  struct impl;

 private:
  friend class stream;
  explicit query_cursor(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<impl> impl_;
};

/// How fresh a read must be.
enum class read_consistency {
  /// From the local replica as it is: fast, and possibly behind writes made through other nodes
  /// (never behind this instance's own acknowledged writes).
  local,
  /// Reflects every write JetStream acknowledged before the read began, through any node: the
  /// read first learns the stream's last sequence from JetStream, then waits until the replica
  /// has applied it. Fails (timeout, unavailable) rather than return stale data when JetStream
  /// cannot answer within the timeout.
  consistent,
};

/// One open stream (an "instance" in the JS library).
class stream {
 public:
  /// Connects to NATS, opens or creates the JetStream stream and the local replica, and returns
  /// once the replica has applied every event the stream had at that moment.
  static result<stream> open(stream_config config);

  /// Stores `data` under `key`; returns once this instance can read it back.
  /// invalid_argument when `data` nests deeper than kMaxDocumentDepth or holds a string that
  /// is not valid UTF-8. With a `condition` (write_condition::if_revision(R) or if_absent()),
  /// the put applies only if it holds when JetStream orders the write, and fails with
  /// errc::conflict (naming the key's revision, or that it exists or not) otherwise, writing
  /// nothing (README "Consistency").
  result<document> put(const std::string& key, const nlohmann::ordered_json& data,
                       write_condition condition = write_condition::none());
  void put_async(const std::string& key, const nlohmann::ordered_json& data,
                 std::function<void(result<document>)> done,
                 write_condition condition = write_condition::none());

  /// A put that expires: `ttl` (1 s to ten years) after JetStream stored it, the key is deleted
  /// on every node (once, however many serve the stream; subscribers get one DELETE with
  /// event["expired"] true), unless it was written again before; a later put without a TTL
  /// clears the expiry (README "Expiry"). invalid_argument for a TTL out of range.
  result<document> put(const std::string& key, const nlohmann::ordered_json& data,
                       std::chrono::seconds ttl,
                       write_condition condition = write_condition::none());

  /// The document, or nullopt when the key is absent.
  result<std::optional<document>> get(const std::string& key,
                                      read_consistency consistency = read_consistency::local);

  /// The key as it was at `revision` (a meta.revision, a JetStream sequence): its version with
  /// the largest revision <= `revision`, nullopt when it did not exist or was deleted then.
  /// Read from the events the stream keeps (its history): errc::compacted, naming the oldest
  /// revision still readable, when that version is no longer kept; invalid_argument for a
  /// revision beyond the stream's last.
  result<std::optional<document>> get_at(const std::string& key, uint64_t revision);

  /// The key's events the stream keeps, newest first, at most `limit` (0: all kept): up to the
  /// stream's history of PUTs and as many DELETEs.
  result<std::vector<history_event>> history(const std::string& key, uint64_t limit = 0);

  /// Writes `ops` atomically (README "Atomic batches"): every write is stored, at consecutive
  /// revisions, or none; readers on every node see all of them or none. At most
  /// kMaxBatchWrites writes of distinct keys. errc::conflict (nothing written) when a
  /// condition does not hold; invalid_argument naming the first bad write; unavailable on a
  /// nats-server older than 2.12. Returns once the local replica applied the batch.
  result<batch_result> batch(std::vector<batch_op> ops);

  /// Deletes `key`; returns the number of messages purged from the stream. Deleting an absent
  /// key is not an error. With write_condition::if_revision(R), deletes only when the key
  /// exists at revision R, else fails with errc::conflict and deletes nothing.
  result<uint64_t> erase(const std::string& key,
                         write_condition condition = write_condition::none());
  void erase_async(const std::string& key, std::function<void(result<uint64_t>)> done,
                   write_condition condition = write_condition::none());

  /// Keys matching the ECMAScript regex `pattern` anywhere ("" for all), in byte order.
  result<std::vector<std::string>> keys(const std::string& pattern = "",
                                        read_consistency consistency = read_consistency::local);

  /// Stores `data` under a new random UUID v4 key (random_uuid()), as put does.
  result<keyed_document> insert(const nlohmann::ordered_json& data);

  /// The documents matching the MongoDB-style `filter` (README "Queries"; `{}` matches all),
  /// read from the local replica, in key order unless `options` says otherwise: an object with
  /// any of "sort" (field -> 1 or -1, several fields, stable), "limit" (0: none), "offset" and
  /// "project" (field -> 1: the results' data holds only those fields). Runs on the calling
  /// thread, through a ready index when one serves the filter or the sort (README "Indexes"),
  /// else examining every document, holding only what the answer needs (without a sort,
  /// reading stops at the limit). invalid_argument naming the offending part of a bad
  /// filter or options.
  /// With read_consistency::consistent the query runs in the stream actor once its replica has
  /// applied every write acknowledged before the call (as get and keys do).
  result<std::vector<keyed_document>> query(
      const nlohmann::ordered_json& filter,
      const nlohmann::ordered_json& options = nlohmann::ordered_json::object(),
      read_consistency consistency = read_consistency::local);

  /// How many documents of the local replica match `filter`; errors of query.
  result<uint64_t> count(const nlohmann::ordered_json& filter,
                         read_consistency consistency = read_consistency::local);

  /// The results of query(filter, options) page by page: a cursor of the stream actor whose
  /// pages hold at most `page_size` documents (0: 1000; at most 10,000) and about 4 MiB. The
  /// first page is read before this returns, so a bad filter fails here. A stream holds at most
  /// 64 cursors at once (errc::unavailable beyond). Without "sort" the stream holds only a page
  /// at a time; with "sort" it holds the sorted results (limit-bounded, or every match without
  /// a limit).
  result<query_cursor> open_cursor(
      const nlohmann::ordered_json& filter,
      const nlohmann::ordered_json& options = nlohmann::ordered_json::object(),
      uint64_t page_size = 0, read_consistency consistency = read_consistency::local);

  /// Calls `callback` with each result of query(filter, options), in order, through a cursor
  /// (open_cursor): a large result is never held at once. The callback returns false to stop
  /// early. Runs on the calling thread.
  status query_each(const nlohmann::ordered_json& filter, const nlohmann::ordered_json& options,
                    const std::function<bool(const keyed_document&)>& callback,
                    read_consistency consistency = read_consistency::local);

  /// Runs the query as query does and returns its plan instead of its results:
  /// {"plan":{"index":FIELD or null,"type":"scan"|"equality"|"in"|"range"|"prefix"|"sort",
  /// "sort":"index"|"memory"|null,...},"examined":N,"returned":M} (README "Indexes").
  result<nlohmann::ordered_json> explain(
      const nlohmann::ordered_json& filter,
      const nlohmann::ordered_json& options = nlohmann::ordered_json::object());

  /// Declares a secondary index on the dotted field path `field` of this node's replica, built
  /// in the background from the documents it holds and kept in step with every later change;
  /// queries use it once it is "ready" (README "Indexes"). Creating an index that exists is no
  /// error (it is returned as it is). With `wait`, returns once the index is ready, or
  /// errc::timeout when that takes longer than the stream's timeout (the build goes on; see
  /// list_indexes). invalid_argument for a bad path or when the stream has 64 indexes.
  result<index_info> create_index(const std::string& field, bool wait = true);

  /// Deletes the index on `field`; not_found when there is none.
  status drop_index(const std::string& field);

  /// The stream's indexes on this node, in the order they were created.
  result<std::vector<index_info>> list_indexes();

  /// Calls `callback` for every later change of a key matching `glob` ('*' matches any run of
  /// characters, everything else is literal).
  [[nodiscard]] result<subscription> subscribe(const std::string& glob, change_callback callback,
                                               const subscribe_options& options = {});
  [[nodiscard]] result<subscription> subscribe(const char* glob, change_callback callback,
                                               const subscribe_options& options = {}) {
    return subscribe(std::string(glob), std::move(callback), options);
  }

  /// A live query: calls `callback` for every later change whose document matched the
  /// MongoDB-style `filter` (README "Queries") before the change or matches it after: a
  /// document entering the set (`event["oldData"]` does not match), changing in it, leaving it
  /// (`data` does not match) or deleted from it (`data` null). Changes of documents outside the
  /// set before and after are not delivered. The filter is compiled once, here:
  /// invalid_argument for a bad one. When matching a change fails (a $regex beyond its limits)
  /// the stream ends the subscription: error() is invalid_argument "live query ended: ...".
  /// Pass an nlohmann::ordered_json (a plain nlohmann::json converts to std::string as well:
  /// wrap it in ordered_json).
  [[nodiscard]] result<subscription> subscribe(const nlohmann::ordered_json& filter,
                                               change_callback callback);

  /// Stops the consumer and releases the replica (the data stays on disk). Later calls fail
  /// with errc::closed. Idempotent.
  status close();

  /// Deletes the JetStream stream and this instance's local data, then closes.
  status delete_stream();

  const std::string& name() const;
  bool is_open() const;

  /// True when both handles refer to the same instance.
  friend bool operator==(const stream& a, const stream& b) { return a.impl_ == b.impl_; }
  friend bool operator!=(const stream& a, const stream& b) { return a.impl_ != b.impl_; }

  stream() = default;  // an empty handle: every call fails with errc::closed

  struct impl;

 private:
  friend class manager;
  explicit stream(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<impl> impl_;
};

/// The stats stream of each stream ("" for none): the JS library's getStatsStreamName; the
/// same in manager_config and node_config.
using stats_stream_naming = std::function<std::string(const std::string& stream)>;

/// Many streams (the JS library's EventbaseManager config).
struct manager_config {
  /// Directory of the replica of all streams (dbPath). Default: "", a fresh temporary
  /// directory, removed with the manager.
  std::string data_path;
  nats_options nats;
  /// A stream with no operation for this long and no subscription closes itself
  /// (keepAliveSeconds). Default: 1 hour.
  std::chrono::milliseconds keep_alive{std::chrono::hours(1)};
  /// How often each stream checks whether it is idle (cleanupIntervalMs). Default: 1 minute.
  std::chrono::milliseconds cleanup_interval{std::chrono::minutes(1)};
  /// Called with every event of every stream, with the stream's name. Default: none.
  std::function<void(const std::string& stream, const nlohmann::ordered_json& event)> on_message;
  /// Default: none, no stats.
  stats_stream_naming stats_stream_name;
  /// The manager's notices ("stream:opened", "stream:closed" in the JS library). Default: none.
  std::function<void(const std::string& stream)> on_stream_opened;
  std::function<void(const std::string& stream)> on_stream_closed;
  /// How long an operation, and opening a stream, may take. Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  /// Events kept per key by the JetStream streams this manager creates (stream_config::history).
  /// Default: 1.
  int64_t history = 1;
};

/// Many streams on one node (the JS library's EventbaseManager): one NATS connection and one
/// RocksDB (at data_path) shared by all of them, each stream opened on first use and closed
/// after keep_alive without activity. A handle of a stream that was closed for idleness fails
/// with errc::closed; get_stream gives a fresh one (and reopens it, resuming from the replica).
class manager {
 public:
  static result<manager> create(manager_config config);

  /// The open instance of `name`, opening it on first use; concurrent calls open it once and
  /// return the same instance.
  result<stream> get_stream(const std::string& name);

  /// The names of the open streams, sorted.
  result<std::vector<std::string>> open_streams();

  /// Closes every stream (their data stays); get_stream opens them anew.
  status close_all();

  /// Deletes a stream: its JetStream stream and this node's local data.
  status delete_stream(const std::string& name);

  manager() = default;  // an empty handle: every call fails with errc::closed

  struct impl;

 private:
  explicit manager(std::shared_ptr<impl> p) : impl_(std::move(p)) {}
  std::shared_ptr<impl> impl_;
};

}  // namespace eventbase
