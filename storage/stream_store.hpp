// The local replica of one stream: its documents and the sequence of the last event applied.
//
// The stream's keys in the database's data column family (database.hpp), under its id prefix P:
//   P        -> last applied stream sequence (8 bytes, big-endian); "" is never a valid key
//   P<key>   -> record (protocol/record.hpp)
// Every change is written with the sequence in one atomic WriteBatch, so after a crash at any
// instant the replica holds exactly the events up to the stored sequence.
//
// Tombstones: a key whose last applied event is a DELETE keeps its revision (the DELETE's
// sequence) in the index column family under the reserved index id 0, P<0u32><key> -> sequence
// (8 bytes, big-endian) then the DELETE's JetStream time (8 bytes, ms since the epoch, two's
// complement big-endian; absent in tombstones written before it was kept), written in the same
// WriteBatch as the delete; a later PUT removes it.
// Writers read it to say which revision their write of the key is based on, and replicas to
// recognise a PUT that was computed before a DELETE it landed after (protocol/event.hpp).
//
// Secondary indexes (doc/storage-format.md "Indexes"): each declared on a field path, its entries
// in the database's index column family, P<index id><encoded value><key> (protocol/index_key.hpp),
// written in the same WriteBatch as the documents they index, so an index is never out of step
// with its documents. A new index is "building" until build_index has visited every document;
// only then "ready". Its definition (field, id, state, multikey, build cursor) is stored in the
// default column family and survives clear() (a replay refills the entries through apply).
//
// Thread safety: reads (get, keys, scans, applied_sequence) may run on any thread concurrently
// with one writer (apply_batch, owned by the stream actor). close() waits for running reads;
// calls after it fail with errc::closed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eventbase/status.hpp"
#include "protocol/event.hpp"
#include "protocol/glob.hpp"
#include "protocol/index_key.hpp"
#include "protocol/key_pattern.hpp"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Snapshot;
}  // namespace rocksdb

namespace eventbase::storage {

class database;
class key_scan;
class index_view;

/// The most indexes one stream may have.
inline constexpr size_t kMaxIndexesPerStream = 64;
/// The longest index field path, in bytes.
inline constexpr size_t kMaxIndexFieldBytes = 1024;

enum class index_state : uint8_t { building = 'b', ready = 'r' };

/// "building" or "ready".
const char* to_string(index_state state);

/// A secondary index of a stream.
struct index_definition {
  std::string field;  // dotted path, as declared
  std::vector<std::string> path;
  uint32_t id = 0;  // unique within the stream, never reused while the stream exists
  index_state state = index_state::building;
  bool multikey = false;  // some document's field held (or reached through) an array
  uint64_t progress = 0;  // documents the build has visited (all of them once ready)
  std::string cursor;     // building: the key the build continues at ("" at the start)
};

/// A key whose current version expires (stream_store::expiries_due).
struct due_expiry {
  std::string key;
  uint64_t revision = 0;   // of the PUT that set the expiry
  int64_t expires_ms = 0;  // ms since the epoch
};

/// A key's latest change as a replica holds it (stream_store::changes_since).
struct key_change {
  std::string key;
  uint64_t revision = 0;
  std::string record;      // the key's record; empty when its latest change is a DELETE
  int64_t deleted_ms = 0;  // a DELETE's JetStream time (0 when the tombstone has none)
};

class stream_store {
 public:
  /// The store of the stream with `id`: its documents in `family`, its index definitions in
  /// `meta` and its index entries in `index_entries` (database.hpp).
  stream_store(std::shared_ptr<database> owner, std::string name, rocksdb::DB* db,
               rocksdb::ColumnFamilyHandle* family, rocksdb::ColumnFamilyHandle* meta,
               rocksdb::ColumnFamilyHandle* index_entries, uint64_t id, uint64_t applied);
  ~stream_store();
  stream_store(const stream_store&) = delete;
  stream_store& operator=(const stream_store&) = delete;

  const std::string& name() const { return name_; }

  /// The sequence of the last event applied (0 for a new stream).
  uint64_t applied_sequence() const { return applied_.load(std::memory_order_acquire); }

  /// The record of `key`, or nullopt when absent.
  result<std::optional<std::string>> get(std::string_view key) const;

  /// The revision of the DELETE that removed `key` (its tombstone), or nullopt when the key is
  /// live or this replica never applied a DELETE of it.
  result<std::optional<uint64_t>> tombstone(std::string_view key) const;

  /// The revision `key` has in this replica: its record's sequence when live, its tombstone's
  /// when deleted, 0 when this replica never saw it.
  result<uint64_t> revision(std::string_view key) const;

  /// The keys matching `glob` whose latest change here has a revision above `after`, in
  /// revision order: live keys with their record, deleted ones from their tombstones. Reads
  /// every key of the stream (O(keys)); must run on the thread that applies batches, so that
  /// records and tombstones are of one moment. too_large, returning nothing, when more than
  /// `max` keys would come.
  result<std::vector<key_change>> changes_since(uint64_t after, const protocol::glob& glob,
                                                size_t max) const;

  /// The keys whose current version expired at `now_ms` or before, earliest first, at most
  /// `max`; must run on the thread that applies batches.
  result<std::vector<due_expiry>> expiries_due(int64_t now_ms, size_t max) const;

  /// When the earliest expiry after `after_ms` is due (ms since the epoch); nullopt when none.
  result<std::optional<int64_t>> next_expiry(int64_t after_ms) const;

  /// False while no key of the stream has ever had an expiry (read at open, set by the first
  /// put with a TTL applied): streams without TTLs never look one up.
  bool may_have_expiries() const { return has_expiries_.load(std::memory_order_acquire); }

  /// The keys matching `pattern`, in byte order. Seeks to the pattern's literal prefix, so
  /// "^user:" reads only the keys that start with "user:". When matching one key hits a regex
  /// limit, the whole call fails with that error ("regex too complex").
  result<std::vector<std::string>> keys(const protocol::key_pattern& pattern) const;

  /// The same, as a scan that can be run in slices (key_scan). It sees the replica as it was
  /// when the scan began. It must not outlive the store.
  result<std::unique_ptr<key_scan>> scan_keys(protocol::key_pattern pattern) const;

  /// The stream's indexes, in the order they were created.
  std::vector<index_definition> indexes() const;

  /// Declares an index on the dotted field path `field`, "building" (see build_index): true
  /// when it was created, false when the stream has one on that field already (left as it is).
  /// invalid_argument for a bad path (an empty step, a step starting with '$', longer than
  /// kMaxIndexFieldBytes, not UTF-8) or when the stream has kMaxIndexesPerStream indexes.
  result<bool> create_index(const std::string& field);

  /// Deletes the index on `field`: its definition and every entry. not_found when there is
  /// none.
  status drop_index(const std::string& field);

  /// Builds the index on `field` from the documents stored now, from where the last call
  /// stopped, until it is complete or `until` passes, writing at most a bounded batch of
  /// entries at a time (with the build cursor, so a restart resumes). true once the index is
  /// ready (also when it was already). Must run on the thread that applies batches (documents
  /// changed meanwhile are indexed by apply_batch). not_found when there is no such index.
  result<bool> build_index(const std::string& field, std::chrono::steady_clock::time_point until);

  /// A consistent view of the documents and the indexes as they are now, for queries.
  result<std::unique_ptr<index_view>> read_indexes() const;

  /// Deletes every document and resets the applied sequence to 0 (the stream was recreated and
  /// the replica is rebuilt from its first event).
  status clear();

  /// Makes the replica durable on disk (syncs the write-ahead log).
  status sync();

  /// Ends use of the store. Reads and writes after it fail with errc::closed; the data stays.
  void close();

  /// Closes the store and deletes all local data of the stream.
  status drop();

  bool closed() const;

 private:
  friend class apply_batch;
  friend class database;
  friend class key_scan;
  friend class index_view;

  std::string stored_key(std::string_view key) const;
  std::string tombstone_key(std::string_view key) const;
  // Whether any tombstone is stored (read once at open; set by the first DELETE applied), so
  // that streams without deletes never look one up.
  status load_tombstone_flag();
  // The expiries from `from_ms` to `until_ms`, earliest first, at most `max`.
  result<std::vector<due_expiry>> scan_expiries(int64_t from_ms, int64_t until_ms,
                                                size_t max) const;
  // Whether the index column family holds a key in [first, end).
  result<bool> has_entries(const std::string& first, const std::string& end) const;
  // The same for expiries.
  status load_expiry_flag();
  // Expiry entries (doc/storage-format.md "Expiries"): by time, and by key.
  std::string expiry_key(int64_t expires_ms, std::string_view key) const;
  std::string expiry_of_key(std::string_view key) const;
  bool may_have_tombstones() const { return has_tombstones_.load(std::memory_order_acquire); }
  // The first key of the entries of index `id` (the stream prefix and the id).
  std::string index_prefix(uint32_t id) const;
  // Reads the stored index definitions (database::open_stream).
  status load_indexes();
  // Writes `def` into `batch` (as its stored definition).
  void put_definition(void* write_batch, const index_definition& def) const;
  // Replaces the definitions (under indexes_mutex_ exclusively, after writing them).
  using index_list = std::vector<index_definition>;
  std::shared_ptr<const index_list> current_indexes() const;

  void mark_closed();  // without telling the database (used by it)

  std::shared_ptr<database> owner_;
  std::string name_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* family_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;     // index definitions
  rocksdb::ColumnFamilyHandle* entries_ = nullptr;  // index entries
  std::string prefix_;                              // of every key of this stream (encoding.hpp)
  std::string end_;                                 // the first key after this stream's range
  std::atomic<uint64_t> applied_;
  std::atomic<bool> has_tombstones_{false};
  std::atomic<bool> has_expiries_{false};
  mutable std::shared_mutex lifecycle_;  // shared: reads and writes; exclusive: close
  bool closed_ = false;
  // Exclusive while definitions change together with what is stored (create, build steps,
  // drop, a commit that flags an index multikey); shared while a reader takes its view, so a
  // view's definitions always match its snapshot.
  mutable std::shared_mutex indexes_mutex_;
  std::shared_ptr<const index_list> indexes_;
};

/// A consistent view of a stream's documents and index entries (one RocksDB snapshot, with the
/// index definitions of that moment), for the query planner and executor. It must not outlive
/// its store; reads fail with errc::closed once the store is closed.
class index_view {
 public:
  ~index_view();
  index_view(const index_view&) = delete;
  index_view& operator=(const index_view&) = delete;

  /// The definitions as of the snapshot.
  const std::vector<index_definition>& indexes() const { return *indexes_; }

  /// A run over the entries of index `id` whose encoded values are in [begin, end) (end "":
  /// unbounded), in index order (value, then document key) or (`reverse`) backwards.
  class cursor {
   public:
    ~cursor();
    /// Calls `visit(encoded value, document key)` for the next entries until `visit` returns
    /// false (the next call continues after that entry), the range ends (true), or `until`
    /// passes (false).
    result<bool> next(const std::function<bool(std::string_view, std::string_view)>& visit,
                      std::chrono::steady_clock::time_point until);

    /// Adds to `n` the number of the next entries, until the range ends (true) or `until`
    /// passes (false).
    result<bool> count(uint64_t& n, std::chrono::steady_clock::time_point until);

   private:
    friend class index_view;
    cursor() = default;
    const index_view* view_ = nullptr;
    struct impl;
    std::unique_ptr<impl> impl_;
  };
  std::unique_ptr<cursor> entries(uint32_t id, const std::string& begin, const std::string& end,
                                  bool reverse) const;

  /// The records of `keys` (nullopt for an absent key), from the snapshot, in one MultiGet;
  /// `records` is resized to match. `in_key_order`: the keys are sorted (faster).
  status get(const std::vector<std::string>& keys, std::vector<std::optional<std::string>>& records,
             bool in_key_order) const;

 private:
  friend class stream_store;
  index_view(const stream_store& store, std::shared_ptr<const std::vector<index_definition>> defs,
             const rocksdb::Snapshot* snapshot);
  const stream_store& store_;
  std::shared_ptr<const std::vector<index_definition>> indexes_;
  const rocksdb::Snapshot* snapshot_;
};

/// A scan of a stream's keys in byte order, run in slices: each call of next() examines keys
/// until the scan ends or `until` passes, so a scan of millions of keys need not occupy its
/// thread in one go. The scan reads one consistent snapshot of the replica.
class key_scan {
 public:
  ~key_scan();
  key_scan(const key_scan&) = delete;
  key_scan& operator=(const key_scan&) = delete;

  /// Appends the next matching keys to `out`; true once the scan is complete. Errors: the
  /// store was closed, RocksDB failed, or the pattern exceeded its limits on a key.
  result<bool> next(std::vector<std::string>& out, std::chrono::steady_clock::time_point until);

  /// The same, appending to `records` (when not null) the record of each key appended to `out`.
  result<bool> next(std::vector<std::string>& out, std::vector<std::string>* records,
                    std::chrono::steady_clock::time_point until);

  const protocol::key_pattern& pattern() const { return pattern_; }

 private:
  friend class stream_store;
  key_scan(const stream_store& store, protocol::key_pattern pattern);

  const stream_store& store_;
  protocol::key_pattern pattern_;
  std::string seek_;  // where the scan starts (the stream prefix and the literal prefix)
  struct impl;
  std::unique_ptr<impl> impl_;
  bool started_ = false;
  bool done_ = false;
};

/// One atomic write of a run of consecutive events (with the sequence they reach). Changes see
/// the earlier changes of the same batch: two PUTs of one key in a batch count two changes.
class apply_batch {
 public:
  explicit apply_batch(stream_store& store);
  ~apply_batch();

  /// Applies a PUT delivered at JetStream time `time_ms` with sequence `seq`; returns the new
  /// record. When `previous` is given, it receives the record it replaces (nullopt if none).
  /// A PUT whose carried base revision is older than a DELETE of the key this replica applied
  /// starts the key anew (protocol::meta_after_put); `raced_delete`, when given, says whether
  /// that happened.
  result<std::string> put(const protocol::decoded_event& ev, uint64_t seq, int64_t time_ms,
                          std::optional<std::string>* previous = nullptr,
                          bool* raced_delete = nullptr);

  /// Applies a DELETE with sequence `seq` at JetStream time `time_ms` (the key's tombstone);
  /// `previous` as for put.
  status erase(const std::string& key, uint64_t seq, std::optional<std::string>* previous = nullptr,
               int64_t time_ms = 0);

  /// Applies an expiry's DELETE (protocol::kExpiredRevisionHeader) as erase does, but only
  /// while the key is still at `expired_revision`: false, changing nothing, when a later write
  /// (or an earlier expiry) changed it since.
  result<bool> expire(const std::string& key, uint64_t seq, uint64_t expired_revision,
                      std::optional<std::string>* previous = nullptr, int64_t time_ms = 0);

  /// Writes the changes and `through_seq` as the new applied sequence, atomically. The batch is
  /// empty afterwards.
  status commit(uint64_t through_seq);

  size_t size() const { return changes_; }

 private:
  // The current record of `key` as this batch sees it.
  result<std::optional<std::string>> current(const std::string& key);
  // The tombstone of `key` as this batch sees it.
  result<std::optional<uint64_t>> current_tombstone(const std::string& key);
  // Replaces the expiry of `key` (when it has one) by `expires_ms` (none when nullopt) for its
  // version at `revision`.
  status set_expiry(const std::string& key, std::optional<int64_t> expires_ms, uint64_t revision);
  // Replaces the index entries of `key` for `previous` by those for `record` (either may be
  // absent).
  status update_indexes(const std::string& key, const std::optional<std::string>& previous,
                        const std::string* record);

  stream_store& store_;
  struct impl;
  std::unique_ptr<impl> impl_;
  std::unordered_map<std::string, std::optional<std::string>> overlay_;
  std::unordered_map<std::string, std::optional<uint64_t>> tombstones_;  // written in this batch
  std::unordered_map<std::string, std::optional<int64_t>> expiries_;     // written in this batch
  size_t changes_ = 0;
  std::shared_ptr<const std::vector<index_definition>> indexes_;  // as the batch began
  std::vector<uint32_t> now_multikey_;  // ids of indexes this batch makes multikey
};

}  // namespace eventbase::storage
