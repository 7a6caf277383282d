// The database of a data path (see database.hpp).
#include "storage/database.hpp"

#include <condition_variable>
#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "storage/encoding.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::storage {
namespace {

constexpr char kDataFamily[] = "data";
constexpr char kIndexFamily[] = "index";
constexpr char kIndexDefinitionPrefix[] = "index:";  // + stream id + field (stream_store)
constexpr char kFormatKey[] = "format";
constexpr char kFormat[] = "2";
constexpr char kNextIdKey[] = "next-stream-id";
constexpr char kMappingPrefix[] = "stream:";
constexpr char kMigratingPrefix[] = "migrating:";  // a stream being copied from an old slot
constexpr char kSlotPrefix[] = "slot:";            // format 1: a column family per stream
constexpr size_t kMigrationBatch = 4096;

// Databases open in this process, by canonical path: RocksDB allows one open per path. An entry
// stays until its database has closed RocksDB, so a reopen waits for a closing one.
std::mutex registry_mutex;
std::condition_variable registry_changed;
std::map<std::string, std::weak_ptr<database>>& registry() {
  static std::map<std::string, std::weak_ptr<database>> instances;
  return instances;
}

status storage_error(const std::string& what, const rocksdb::Status& st) {
  return status(errc::storage, what + ": " + st.ToString());
}

rocksdb::ColumnFamilyOptions family_options(const std::string& family, const database_options& opts,
                                            const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = opts.memtable_budget_bytes / 2;
  cf.compression = rocksdb::kLZ4Compression;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  // Indexes (and filters) in partitions of a block each, with only their small top level pinned:
  // the index block of a large file as one piece can exceed a cache shard, and was then read and
  // decompressed again by every point read (each document an index query fetches is one).
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  if (family == kDataFamily) {
    // Every put reads its key's record first (for the metadata it carries), and the key is
    // usually new: a Bloom filter on the memtable answers that miss without walking the skip
    // list (about 2 us less per put here, for 2% of the memtable's memory).
    cf.memtable_prefix_bloom_size_ratio = 0.02;
    cf.memtable_whole_key_filtering = true;
    // Point reads of documents skip the files that do not hold the key.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.partition_filters = true;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

rocksdb::WriteOptions durable() {
  rocksdb::WriteOptions options;
  options.sync = true;
  return options;
}

// Deletes the data of the stream with `id` (its documents and its sequence) in `batch`; with
// `index` and `meta`, its index entries and definitions as well.
void delete_stream_range(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* data, uint64_t id,
                         rocksdb::ColumnFamilyHandle* index = nullptr,
                         rocksdb::ColumnFamilyHandle* meta = nullptr) {
  batch.DeleteRange(data, stream_prefix(id), stream_prefix(id + 1));
  if (index != nullptr) batch.DeleteRange(index, stream_prefix(id), stream_prefix(id + 1));
  if (meta != nullptr)
    batch.DeleteRange(meta, kIndexDefinitionPrefix + stream_prefix(id),
                      kIndexDefinitionPrefix + stream_prefix(id + 1));
}

}  // namespace

database::database(private_tag, std::string path, const database_options& options)
    : path_(std::move(path)), options_(options) {}

result<std::shared_ptr<database>> database::open(const std::string& path,
                                                 const database_options& options) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return status(errc::storage, "cannot create data path '" + path + "': " + ec.message());
  std::string canonical = std::filesystem::canonical(path, ec).string();
  if (ec) return status(errc::storage, "cannot resolve data path '" + path + "': " + ec.message());

  std::unique_lock<std::mutex> guard(registry_mutex);
  for (;;) {
    auto it = registry().find(canonical);
    if (it == registry().end()) break;
    if (auto existing = it->second.lock()) return existing;
    registry_changed.wait(guard);  // its last user let go; it is closing
  }
  // Not in the registry until it is fully open: a failed open destroys it without touching the
  // registry (whose mutex this thread holds).
  auto self = std::make_shared<database>(private_tag{}, canonical, options);
  if (auto st = self->load(); !st.ok()) return st;
  registry()[canonical] = self;
  self->registered_ = true;
  return self;
}

status database::load() {
  cache_ = rocksdb::NewLRUCache(options_.block_cache_bytes);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.db_write_buffer_size = options_.memtable_budget_bytes;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 3;
  db_options.max_open_files = 512;

  std::vector<std::string> names;
  if (std::filesystem::exists(std::filesystem::path(path_) / "CURRENT")) {
    auto st = rocksdb::DB::ListColumnFamilies(db_options, path_, &names);
    if (!st.ok()) return storage_error("cannot list column families in '" + path_ + "'", st);
  }
  if (names.empty()) names.push_back(rocksdb::kDefaultColumnFamilyName);
  // A database written before indexes existed has no index family: it is created empty.
  for (const char* family : {kDataFamily, kIndexFamily})
    if (std::find(names.begin(), names.end(), family) == names.end()) names.push_back(family);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto& name : names) descriptors.emplace_back(name, family_options(name, options_, cache_));

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(db_options, path_, descriptors, &handles, &raw);
  if (!st.ok()) {
    if (st.IsIOError() && st.ToString().find("LOCK") != std::string::npos)
      return status(errc::storage, "data path '" + path_ +
                                       "' is in use by another process (it holds the lock " +
                                       path_ + "/LOCK)");
    return storage_error("cannot open database at '" + path_ + "'", st);
  }
  db_.reset(raw);

  std::map<std::string, rocksdb::ColumnFamilyHandle*> slots;
  for (auto* handle : handles) {
    const std::string& name = handle->GetName();
    if (name == rocksdb::kDefaultColumnFamilyName)
      meta_ = handle;
    else if (name == kDataFamily)
      data_ = handle;
    else if (name == kIndexFamily)
      index_ = handle;
    else if (name.rfind(kSlotPrefix, 0) == 0)
      slots.emplace(name, handle);
    else
      db_->DestroyColumnFamilyHandle(handle);  // not ours
  }

  std::string value;
  st = db_->Get(rocksdb::ReadOptions(), meta_, kNextIdKey, &value);
  if (st.ok()) {
    auto next = decode_u64(value);
    if (!next)
      return status(errc::corrupt, "stored next stream id in '" + path_ + "' is malformed");
    next_id_ = *next;
  } else if (!st.IsNotFound()) {
    return storage_error("cannot read the next stream id", st);
  }

  // Streams -> ids; copies of old slots that a crash interrupted are discarded first.
  rocksdb::WriteBatch cleanup;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  for (it->Seek(kMigratingPrefix); it->Valid() && it->key().starts_with(kMigratingPrefix);
       it->Next()) {
    if (auto id = decode_u64(it->value().ToStringView()))
      delete_stream_range(cleanup, data_, *id, index_, meta_);
    cleanup.Delete(meta_, it->key());
  }
  for (it->Seek(kMappingPrefix); it->Valid() && it->key().starts_with(kMappingPrefix); it->Next()) {
    std::string stream = it->key().ToString().substr(sizeof(kMappingPrefix) - 1);
    if (auto id = decode_u64(it->value().ToStringView())) {
      ids_.emplace(stream, *id);
    } else if (!slots.count(it->value().ToString())) {
      cleanup.Delete(meta_, it->key());  // format 1: its slot is gone (an interrupted drop)
    }
  }
  if (!it->status().ok()) return storage_error("cannot read stream mappings", it->status());
  it.reset();
  if (cleanup.Count() > 0) {
    st = db_->Write(durable(), &cleanup);
    if (!st.ok()) return storage_error("cannot clean up stream mappings", st);
  }
  if (auto migrated = migrate_slots(slots); !migrated.ok()) return migrated;
  st = db_->Put(rocksdb::WriteOptions(), meta_, kFormatKey, kFormat);
  if (!st.ok()) return storage_error("cannot record the storage format", st);
  return status::OK();
}

status database::migrate_slots(std::map<std::string, rocksdb::ColumnFamilyHandle*>& slots) {
  // Which stream each slot holds (format 1 mappings name the slot's column family).
  std::map<std::string, std::string> stream_of_slot;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
    for (it->Seek(kMappingPrefix); it->Valid() && it->key().starts_with(kMappingPrefix); it->Next())
      if (it->value().starts_with(kSlotPrefix))
        stream_of_slot[it->value().ToString()] =
            it->key().ToString().substr(sizeof(kMappingPrefix) - 1);
  }
  for (auto& [slot, handle] : slots) {
    if (auto owner = stream_of_slot.find(slot); owner != stream_of_slot.end()) {
      const std::string& stream = owner->second;
      uint64_t id = next_id_++;
      std::string marker = kMigratingPrefix + stream;
      rocksdb::WriteBatch begin;
      begin.Put(meta_, kNextIdKey, encode_u64(next_id_));
      begin.Put(meta_, marker, encode_u64(id));
      auto st = db_->Write(durable(), &begin);
      if (!st.ok()) return storage_error("cannot migrate stream '" + stream + "'", st);
      std::string prefix = stream_prefix(id);
      rocksdb::WriteBatch copy;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        copy.Put(data_, prefix + it->key().ToString(), it->value());
        if (copy.Count() >= static_cast<int>(kMigrationBatch)) {
          st = db_->Write(rocksdb::WriteOptions(), &copy);
          if (!st.ok()) return storage_error("cannot migrate stream '" + stream + "'", st);
          copy.Clear();
        }
      }
      if (!it->status().ok())
        return storage_error("cannot read stream '" + stream + "' to migrate it", it->status());
      it.reset();
      // The copy becomes the stream's data in the same write that ends the migration.
      copy.Put(meta_, kMappingPrefix + stream, encode_u64(id));
      copy.Delete(meta_, marker);
      st = db_->Write(durable(), &copy);
      if (!st.ok()) return storage_error("cannot migrate stream '" + stream + "'", st);
      ids_[stream] = id;
    }
    auto st = db_->DropColumnFamily(handle);
    if (!st.ok()) return storage_error("cannot drop column family " + slot, st);
    db_->DestroyColumnFamilyHandle(handle);
  }
  slots.clear();
  return status::OK();
}

database::~database() {
  if (db_) {
    if (data_ != nullptr) db_->DestroyColumnFamilyHandle(data_);
    if (index_ != nullptr) db_->DestroyColumnFamilyHandle(index_);
    if (meta_ != nullptr) db_->DestroyColumnFamilyHandle(meta_);
    db_->Close();
    db_.reset();
  }
  if (!registered_) return;  // a failed open, whose thread holds the registry's mutex
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto it = registry().find(path_);
  if (it != registry().end() && it->second.expired()) {
    registry().erase(it);
    registry_changed.notify_all();
  }
}

result<std::shared_ptr<stream_store>> database::open_stream(const std::string& stream) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (auto it = open_.find(stream); it != open_.end() && !it->second.expired())
    return status(errc::invalid_argument,
                  "stream '" + stream + "' is already open on data path '" + path_ + "'");
  uint64_t id;
  if (auto it = ids_.find(stream); it != ids_.end()) {
    id = it->second;
  } else {
    id = next_id_;
    rocksdb::WriteBatch batch;
    batch.Put(meta_, kNextIdKey, encode_u64(id + 1));
    batch.Put(meta_, kMappingPrefix + stream, encode_u64(id));
    auto st = db_->Write(durable(), &batch);
    if (!st.ok()) return storage_error("cannot record storage of stream '" + stream + "'", st);
    ++next_id_;
    ids_.emplace(stream, id);
  }
  std::string value;
  uint64_t applied = 0;
  auto st = db_->Get(rocksdb::ReadOptions(), data_, stream_prefix(id), &value);
  if (st.ok()) {
    auto seq = decode_u64(value);
    if (!seq)
      return status(errc::corrupt, "stored sequence of stream '" + stream + "' is malformed");
    applied = *seq;
  } else if (!st.IsNotFound()) {
    return storage_error("cannot read stored sequence of stream '" + stream + "'", st);
  }
  auto store = std::make_shared<stream_store>(shared_from_this(), stream, db_.get(), data_, meta_,
                                              index_, id, applied);
  if (auto loaded = store->load_indexes(); !loaded.ok()) {
    store->mark_closed();
    return loaded;
  }
  if (auto loaded = store->load_tombstone_flag(); !loaded.ok()) {
    store->mark_closed();
    return loaded;
  }
  if (auto loaded = store->load_expiry_flag(); !loaded.ok()) {
    store->mark_closed();
    return loaded;
  }
  open_[stream] = store;
  return store;
}

status database::drop_stream(const std::string& stream) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (auto it = open_.find(stream); it != open_.end()) {
    if (auto store = it->second.lock()) store->mark_closed();
    open_.erase(it);
  }
  auto it = ids_.find(stream);
  if (it == ids_.end()) return status::OK();
  rocksdb::WriteBatch batch;
  delete_stream_range(batch, data_, it->second, index_, meta_);
  batch.Delete(meta_, kMappingPrefix + stream);
  auto st = db_->Write(durable(), &batch);
  if (!st.ok()) return storage_error("cannot drop storage of stream '" + stream + "'", st);
  ids_.erase(it);
  return status::OK();
}

std::shared_ptr<stream_store> database::find_open(const std::string& stream) const {
  std::lock_guard<std::mutex> guard(mutex_);
  auto it = open_.find(stream);
  return it == open_.end() ? nullptr : it->second.lock();
}

std::vector<std::string> database::stream_names() const {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<std::string> names;
  for (auto& [name, id] : ids_) names.push_back(name);
  return names;
}

uint64_t database::approximate_size() const {
  uint64_t total = 0;
  for (auto* family : {meta_, data_, index_}) {
    if (family == nullptr) continue;
    uint64_t value = 0;
    if (db_->GetIntProperty(family, rocksdb::DB::Properties::kLiveSstFilesSize, &value))
      total += value;
    if (db_->GetIntProperty(family, rocksdb::DB::Properties::kCurSizeAllMemTables, &value))
      total += value;
  }
  return total;
}

void database::release(const stream_store* store) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto it = open_.find(store->name());
  if (it == open_.end()) return;
  auto current = it->second.lock();
  if (current == nullptr || current.get() == store) open_.erase(it);
}

}  // namespace eventbase::storage
