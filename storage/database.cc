#include "storage/database.hpp"

#include <algorithm>
#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "storage/stream_store.hpp"

namespace eventbase::storage {
namespace {

// Column families are "slots" created in batches, and a stream is mapped to its slot by a record
// in the default column family. RocksDB rewrites and re-verifies its OPTIONS file, listing every
// column family, on each CreateColumnFamily call: creating families one by one costs O(n) each,
// O(n^2) for n streams (42 ms per stream at 200 streams here). A batch pays that once.
constexpr char kSlotPrefix[] = "slot:";
constexpr char kMappingPrefix[] = "stream:";

// Databases open in this process, by canonical path: RocksDB allows one open per path.
std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<database>>& registry() {
  static std::map<std::string, std::weak_ptr<database>> instances;
  return instances;
}

status storage_error(const std::string& what, const rocksdb::Status& st) {
  return status(errc::storage, what + ": " + st.ToString());
}

rocksdb::ColumnFamilyOptions family_options(const database_options& opts,
                                            const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = opts.stream_write_buffer_bytes;
  cf.arena_block_size = size_t{1} << 20;  // memtables of idle streams stay small
  cf.compression = rocksdb::kLZ4Compression;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

std::string mapping_key(const std::string& stream) {
  return kMappingPrefix + stream;
}

}  // namespace

database::database(private_tag, std::string path) : path_(std::move(path)) {}

result<std::shared_ptr<database>> database::open(const std::string& path,
                                                 const database_options& options) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return status(errc::storage, "cannot create data path '" + path + "': " + ec.message());
  std::string canonical = std::filesystem::canonical(path, ec).string();
  if (ec) return status(errc::storage, "cannot resolve data path '" + path + "': " + ec.message());

  std::lock_guard<std::mutex> guard(registry_mutex);
  if (auto existing = registry()[canonical].lock()) return existing;

  auto self = std::make_shared<database>(private_tag{}, canonical);
  self->options_ = options;
  self->cache_ = rocksdb::NewLRUCache(options.block_cache_bytes);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.db_write_buffer_size = options.memtable_budget_bytes;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 3;
  db_options.max_open_files = 512;

  std::vector<std::string> names;
  if (std::filesystem::exists(std::filesystem::path(canonical) / "CURRENT")) {
    auto st = rocksdb::DB::ListColumnFamilies(db_options, canonical, &names);
    if (!st.ok()) return storage_error("cannot list column families in '" + canonical + "'", st);
  }
  if (names.empty()) names.push_back(rocksdb::kDefaultColumnFamilyName);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto& name : names) descriptors.emplace_back(name, family_options(options, self->cache_));

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(db_options, canonical, descriptors, &handles, &raw);
  if (!st.ok()) return storage_error("cannot open database at '" + canonical + "'", st);
  self->db_.reset(raw);

  std::map<std::string, rocksdb::ColumnFamilyHandle*> slots;
  for (auto* handle : handles) {
    const std::string& name = handle->GetName();
    if (name == rocksdb::kDefaultColumnFamilyName) {
      self->default_ = handle;
    } else if (name.rfind(kSlotPrefix, 0) == 0) {
      slots.emplace(name, handle);
      self->next_slot_ = std::max<uint64_t>(self->next_slot_,
                                            std::stoull(name.substr(sizeof(kSlotPrefix) - 1)) + 1);
    } else {
      self->db_->DestroyColumnFamilyHandle(handle);  // not ours
    }
  }
  // Streams -> slots. A mapping whose slot is gone (a drop interrupted by a crash) is removed.
  std::unique_ptr<rocksdb::Iterator> it(
      self->db_->NewIterator(rocksdb::ReadOptions(), self->default_));
  rocksdb::WriteBatch stale;
  for (it->Seek(kMappingPrefix); it->Valid() && it->key().starts_with(kMappingPrefix); it->Next()) {
    std::string stream = it->key().ToString().substr(sizeof(kMappingPrefix) - 1);
    auto slot = slots.find(it->value().ToString());
    if (slot == slots.end()) {
      stale.Delete(self->default_, it->key());
      continue;
    }
    self->families_.emplace(stream, slot->second);
    slots.erase(slot);
  }
  if (!it->status().ok()) return storage_error("cannot read stream mappings", it->status());
  it.reset();
  if (stale.Count() > 0) self->db_->Write(rocksdb::WriteOptions(), &stale);
  // Unmapped slots were created but never handed out: they are empty and free.
  for (auto& [name, handle] : slots) self->free_slots_.push_back(handle);
  registry()[canonical] = self;
  return self;
}

database::~database() {
  for (auto& [name, handle] : families_) db_->DestroyColumnFamilyHandle(handle);
  for (auto* handle : free_slots_) db_->DestroyColumnFamilyHandle(handle);
  if (default_ != nullptr) db_->DestroyColumnFamilyHandle(default_);
  families_.clear();
  if (db_) db_->Close();
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto it = registry().find(path_);
  if (it != registry().end() && it->second.expired()) registry().erase(it);
}

status database::create_slots() {
  // Batches grow with the database, so the OPTIONS rewrite stays amortised O(1) per stream.
  size_t count = std::max<size_t>(16, families_.size() / 4);
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(kSlotPrefix + std::to_string(next_slot_++));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  auto st = db_->CreateColumnFamilies(family_options(options_, cache_), names, &handles);
  for (auto* handle : handles) free_slots_.push_back(handle);
  if (!st.ok()) return storage_error("cannot create column families", st);
  return status::ok();
}

result<std::shared_ptr<stream_store>> database::open_stream(const std::string& stream) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (auto it = open_.find(stream); it != open_.end() && !it->second.expired())
    return status(errc::invalid_argument,
                  "stream '" + stream + "' is already open on data path '" + path_ + "'");
  rocksdb::ColumnFamilyHandle* family = nullptr;
  if (auto it = families_.find(stream); it != families_.end()) {
    family = it->second;
  } else {
    if (free_slots_.empty()) {
      if (auto st = create_slots(); !st.is_ok()) return st;
    }
    family = free_slots_.back();
    rocksdb::WriteOptions durable;
    durable.sync = true;
    auto st = db_->Put(durable, default_, mapping_key(stream), family->GetName());
    if (!st.ok()) return storage_error("cannot record storage of stream '" + stream + "'", st);
    free_slots_.pop_back();
    families_.emplace(stream, family);
  }
  std::string value;
  uint64_t applied = 0;
  auto st = db_->Get(rocksdb::ReadOptions(), family, rocksdb::Slice("", 0), &value);
  if (st.ok()) {
    if (value.size() != 8)
      return status(errc::corrupt, "stored sequence of stream '" + stream + "' is malformed");
    for (unsigned char c : value) applied = (applied << 8) | c;
  } else if (!st.IsNotFound()) {
    return storage_error("cannot read stored sequence of stream '" + stream + "'", st);
  }
  auto store =
      std::make_shared<stream_store>(shared_from_this(), stream, db_.get(), family, applied);
  open_[stream] = store;
  return store;
}

status database::drop_stream(const std::string& stream) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (auto it = open_.find(stream); it != open_.end()) {
    if (auto store = it->second.lock()) store->mark_closed();
    open_.erase(it);
  }
  auto it = families_.find(stream);
  if (it == families_.end()) return status::ok();
  // Drop the data first: a crash before the mapping is removed leaves a mapping to a missing
  // slot, which open() discards.
  auto st = db_->DropColumnFamily(it->second);
  if (!st.ok()) return storage_error("cannot drop storage of stream '" + stream + "'", st);
  db_->DestroyColumnFamilyHandle(it->second);
  families_.erase(it);
  rocksdb::WriteOptions durable;
  durable.sync = true;
  st = db_->Delete(durable, default_, mapping_key(stream));
  if (!st.ok()) return storage_error("cannot forget storage of stream '" + stream + "'", st);
  return status::ok();
}

std::shared_ptr<stream_store> database::find_open(const std::string& stream) const {
  std::lock_guard<std::mutex> guard(mutex_);
  auto it = open_.find(stream);
  return it == open_.end() ? nullptr : it->second.lock();
}

std::vector<std::string> database::stream_names() const {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<std::string> names;
  for (auto& [name, handle] : families_) names.push_back(name);
  return names;
}

void database::release(const stream_store* store) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto it = open_.find(store->name());
  if (it == open_.end()) return;
  auto current = it->second.lock();
  if (current == nullptr || current.get() == store) open_.erase(it);
}

}  // namespace eventbase::storage
