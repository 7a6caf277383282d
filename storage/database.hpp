// The local replica: one RocksDB per data path, one column family per stream.
//
// A `database` is shared by every stream of a node (and by every instance in one process that
// uses the same path: opening a path twice returns the same object). A stream gets its column
// family when it is first opened (from a pool created in batches, mapped to the stream by a
// record in the default column family) and loses it when the stream is deleted; all existing
// ones are opened with the database, as RocksDB requires.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstddef>
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
  size_t block_cache_bytes = size_t{32} << 20;      // shared by all streams
  size_t memtable_budget_bytes = size_t{64} << 20;  // all streams' memtables together
  size_t stream_write_buffer_bytes = size_t{16} << 20;
};

class database : public std::enable_shared_from_this<database> {
 public:
  /// Opens (creating if needed) the database at `path`, with every stream stored there. Returns
  /// the already open database when this process has one at the same path.
  static result<std::shared_ptr<database>> open(const std::string& path,
                                                const database_options& options = {});

  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  /// The store of `stream`, creating its column family on first use. A stream can be open once
  /// at a time per database: a second open fails with invalid_argument until the first store is
  /// closed.
  result<std::shared_ptr<stream_store>> open_stream(const std::string& stream);

  /// The store of `stream` while it is open, else nullptr.
  std::shared_ptr<stream_store> find_open(const std::string& stream) const;

  /// Removes the stream's local data. An open store of it is closed first.
  status drop_stream(const std::string& stream);

  /// The streams that have local data.
  std::vector<std::string> stream_names() const;

  const std::string& path() const { return path_; }

 private:
  friend class stream_store;
  struct private_tag {};

 public:
  database(private_tag, std::string path);  // use open()

 private:
  // Forgets `store` as the open store of its stream (called by stream_store::close).
  void release(const stream_store* store);

  std::string path_;
  database_options options_;
  std::shared_ptr<rocksdb::Cache> cache_;  // block cache shared by all streams
  std::unique_ptr<rocksdb::DB> db_;
  mutable std::mutex mutex_;
  // Creates a batch of free column families (see database.cc).
  status create_slots();

  rocksdb::ColumnFamilyHandle* default_ = nullptr;                // holds stream -> slot
  std::map<std::string, rocksdb::ColumnFamilyHandle*> families_;  // stream name -> its slot
  std::vector<rocksdb::ColumnFamilyHandle*> free_slots_;          // created, not yet handed out
  uint64_t next_slot_ = 0;
  std::map<std::string, std::weak_ptr<stream_store>> open_;  // streams open right now
};

}  // namespace eventbase::storage
