// The local replica: one RocksDB per data path, shared by every stream of a node.
//
// Layout (format 2, doc/storage-format.md), in three column families:
//   default  "format"          -> "2"
//            "next-stream-id"  -> the id the next new stream gets (8 bytes, big-endian)
//            "stream:<name>"   -> the stream's id (8 bytes, big-endian)
//            "index:<id><field>" -> the definition of an index of the stream (stream_store.hpp)
//   data     <id><key>         -> the record of <key> in the stream with id <id>
//            <id>              -> the stream's last applied sequence (8 bytes, big-endian)
//   index    <id><index id><value><key> -> "" : an entry of a secondary index (stream_store.hpp)
// A stream's data is the key range [<id>, <id + 1>). Ids are never reused: deleting a stream
// removes its range and its mapping, and a stream of the same name opened later starts afresh
// under a new id.
//
// Why one column family for all streams rather than one per stream: RocksDB keeps every column
// family of a database open, with a file descriptor on the data directory each, for as long as
// the database is open; it cannot close one without dropping its data. A node serves streams
// any peer can name, so per-stream families made its descriptors and memory grow with every
// stream name ever opened. Key prefixes cost 8 bytes a key and nothing per stream.
//
// Databases written by earlier versions (a column family per stream, "slot:N") are migrated on
// open: each stream's data is copied under a new id, then its old family is dropped.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eventbase/status.hpp"

namespace rocksdb {
class Cache;
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace eventbase::storage {

class stream_store;

struct database_options {
  size_t block_cache_bytes = size_t{32} << 20;      // read cache, shared by all streams
  size_t memtable_budget_bytes = size_t{64} << 20;  // all memtables together
};

class database : public std::enable_shared_from_this<database> {
 public:
  /// Opens (creating if needed) the database at `path`, with every stream stored there. Returns
  /// the already open database when this process has one at the same path. Fails with
  /// errc::storage naming the path when another process has it open (RocksDB's LOCK file).
  static result<std::shared_ptr<database>> open(const std::string& path,
                                                const database_options& options = {});

  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  /// The store of `stream`, created on first use. A stream can be open once at a time per
  /// database: a second open fails with invalid_argument until the first store is closed.
  result<std::shared_ptr<stream_store>> open_stream(const std::string& stream);

  /// The store of `stream` while it is open, else nullptr.
  std::shared_ptr<stream_store> find_open(const std::string& stream) const;

  /// Removes the stream's local data. An open store of it is closed first.
  status drop_stream(const std::string& stream);

  /// The streams that have local data.
  std::vector<std::string> stream_names() const;

  /// Bytes the database holds, as RocksDB estimates them: its live SST files and its memtables.
  /// Thread-safe; for metrics.
  uint64_t approximate_size() const;

  const std::string& path() const { return path_; }

 private:
  friend class stream_store;
  struct private_tag {};

 public:
  database(private_tag, std::string path, const database_options& options);  // use open()

 private:
  // Opens RocksDB, reads the stream mappings and migrates an old layout.
  status load();
  status migrate_slots(std::map<std::string, rocksdb::ColumnFamilyHandle*>& slots);
  // Forgets `store` as the open store of its stream (called by stream_store::close).
  void release(const stream_store* store);

  std::string path_;
  database_options options_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;  // the default column family
  rocksdb::ColumnFamilyHandle* data_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_ = nullptr;
  bool registered_ = false;  // in the registry of open databases (see database.cc)

  mutable std::mutex mutex_;             // guards what follows
  std::map<std::string, uint64_t> ids_;  // stream name -> id
  uint64_t next_id_ = 1;
  std::map<std::string, std::weak_ptr<stream_store>> open_;  // streams open right now
};

}  // namespace eventbase::storage
