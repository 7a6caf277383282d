// The local replica of one stream: its documents and the sequence of the last event applied.
//
// The stream's keys in the database's data column family (database.hpp), under its id prefix P:
//   P        -> last applied stream sequence (8 bytes, big-endian); "" is never a valid key
//   P<key>   -> record (protocol/record.hpp)
// Every change is written with the sequence in one atomic WriteBatch, so after a crash at any
// instant the replica holds exactly the events up to the stored sequence.
//
// Thread safety: reads (get, keys, scans, applied_sequence) may run on any thread concurrently
// with one writer (apply_batch, owned by the stream actor). close() waits for running reads;
// calls after it fail with errc::closed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eventbase/status.hpp"
#include "protocol/event.hpp"
#include "protocol/key_pattern.hpp"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace eventbase::storage {

class database;
class key_scan;

class stream_store {
 public:
  stream_store(std::shared_ptr<database> owner, std::string name, rocksdb::DB* db,
               rocksdb::ColumnFamilyHandle* family, uint64_t id, uint64_t applied);
  ~stream_store();
  stream_store(const stream_store&) = delete;
  stream_store& operator=(const stream_store&) = delete;

  const std::string& name() const { return name_; }

  /// The sequence of the last event applied (0 for a new stream).
  uint64_t applied_sequence() const { return applied_.load(std::memory_order_acquire); }

  /// The record of `key`, or nullopt when absent.
  result<std::optional<std::string>> get(std::string_view key) const;

  /// The keys matching `pattern`, in byte order. Seeks to the pattern's literal prefix, so
  /// "^user:" reads only the keys that start with "user:". When matching one key hits a regex
  /// limit, the whole call fails with that error ("regex too complex").
  result<std::vector<std::string>> keys(const protocol::key_pattern& pattern) const;

  /// The same, as a scan that can be run in slices (key_scan). It sees the replica as it was
  /// when the scan began. It must not outlive the store.
  result<std::unique_ptr<key_scan>> scan_keys(protocol::key_pattern pattern) const;

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

  std::string stored_key(std::string_view key) const;

  void mark_closed();  // without telling the database (used by it)

  std::shared_ptr<database> owner_;
  std::string name_;
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* family_;
  std::string prefix_;  // of every key of this stream (encoding.hpp)
  std::string end_;     // the first key after this stream's range
  std::atomic<uint64_t> applied_;
  mutable std::shared_mutex lifecycle_;  // shared: reads and writes; exclusive: close
  bool closed_ = false;
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
  result<std::string> put(const protocol::decoded_event& ev, uint64_t seq, int64_t time_ms,
                          std::optional<std::string>* previous = nullptr);

  /// Applies a DELETE; `previous` as for put.
  status erase(const std::string& key, std::optional<std::string>* previous = nullptr);

  /// Writes the changes and `through_seq` as the new applied sequence, atomically. The batch is
  /// empty afterwards.
  status commit(uint64_t through_seq);

  size_t size() const { return changes_; }

 private:
  // The current record of `key` as this batch sees it.
  result<std::optional<std::string>> current(const std::string& key);

  stream_store& store_;
  struct impl;
  std::unique_ptr<impl> impl_;
  std::unordered_map<std::string, std::optional<std::string>> overlay_;
  size_t changes_ = 0;
};

}  // namespace eventbase::storage
