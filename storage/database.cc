#include "storage/database.hpp"

#include <filesystem>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include "storage/stream_store.hpp"

namespace eventbase::storage {
namespace {

constexpr char kFamilyPrefix[] = "stream:";

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

}  // namespace

std::string column_family_name(const std::string& stream) {
  return kFamilyPrefix + stream;
}

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
  for (auto* handle : handles) {
    const std::string& name = handle->GetName();
    if (name.rfind(kFamilyPrefix, 0) == 0)
      self->families_.emplace(name.substr(sizeof(kFamilyPrefix) - 1), handle);
    else
      self->db_->DestroyColumnFamilyHandle(handle);  // "default": unused
  }
  registry()[canonical] = self;
  return self;
}

database::~database() {
  for (auto& [name, handle] : families_) db_->DestroyColumnFamilyHandle(handle);
  families_.clear();
  if (db_) db_->Close();
  std::lock_guard<std::mutex> guard(registry_mutex);
  auto it = registry().find(path_);
  if (it != registry().end() && it->second.expired()) registry().erase(it);
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
    auto st = db_->CreateColumnFamily(family_options(options_, cache_), column_family_name(stream),
                                      &family);
    if (!st.ok()) return storage_error("cannot create storage for stream '" + stream + "'", st);
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
  auto st = db_->DropColumnFamily(it->second);
  if (!st.ok()) return storage_error("cannot drop storage of stream '" + stream + "'", st);
  db_->DestroyColumnFamilyHandle(it->second);
  families_.erase(it);
  return status::ok();
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
