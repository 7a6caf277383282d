// Secondary indexes of a stream (see stream_store.hpp and doc/storage-format.md "Indexes"):
// definitions, the background build, entries kept by apply_batch, and consistent views for
// queries.
#include <algorithm>
#include <mutex>

#include <rocksdb/db.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/write_batch.h>
#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/filter.hpp"
#include "protocol/record.hpp"
#include "protocol/utf8.hpp"
#include "storage/apply_batch_impl.hpp"
#include "storage/database.hpp"
#include "storage/encoding.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::storage {
namespace {

using json = nlohmann::ordered_json;

status storage_error(const std::string& what, const rocksdb::Status& st) {
  return status(errc::storage, what + ": " + st.ToString());
}

status closed_error(const std::string& stream) {
  return status(errc::closed, "stream '" + stream + "' is closed");
}

constexpr char kDefinitionPrefix[] = "index:";  // + stream prefix + field, in the default family
constexpr size_t kDefinitionHeader = 4 + 1 + 1 + 8;  // id, state, multikey, progress
// A build step writes at most this many documents' entries (or bytes) in one batch.
constexpr size_t kBuildBatchDocuments = 1000;
constexpr size_t kBuildBatchBytes = size_t{4} << 20;
constexpr int kEntriesPerClockCheck = 256;

std::string encode_u32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 3; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return out;
}

uint32_t decode_u32(std::string_view b) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[i]);
  return v;
}

std::string definition_key(const std::string& stream_prefix, const std::string& field) {
  return kDefinitionPrefix + stream_prefix + field;
}

std::string encode_definition(const index_definition& def) {
  std::string out = encode_u32(def.id);
  out.push_back(static_cast<char>(def.state));
  out.push_back(def.multikey ? 1 : 0);
  out += encode_u64(def.progress);
  out += def.cursor;
  return out;
}

/// The document of `record` (null when it cannot be decoded: it then has no fields).
json document_of(std::string_view record) {
  auto view = protocol::decode_record(record);
  if (!view.ok()) return json();
  auto doc = protocol::decode_document(view->data_msgpack);
  return doc.ok() ? std::move(*doc) : json();
}

status check_field(const std::string& field, std::vector<std::string>& path) {
  auto bad = [&](const std::string& why) {
    return status(errc::invalid_argument, "index field '" + field.substr(0, 100) + "' " + why);
  };
  if (field.size() > kMaxIndexFieldBytes)
    return bad("is longer than " + std::to_string(kMaxIndexFieldBytes) + " bytes");
  if (protocol::first_invalid_utf8(field) != field.size()) return bad("is not UTF-8");
  if (auto st = protocol::split_field_path(field, path); !st.ok())
    return status(errc::invalid_argument, st.message());
  for (const auto& step : path)
    if (step[0] == '$') return bad("has a step starting with '$'");
  return status::OK();
}

}  // namespace

const char* to_string(index_state state) {
  return state == index_state::ready ? "ready" : "building";
}

std::string stream_store::index_prefix(uint32_t id) const {
  return prefix_ + encode_u32(id);
}

void stream_store::put_definition(void* write_batch, const index_definition& def) const {
  static_cast<rocksdb::WriteBatch*>(write_batch)
      ->Put(meta_, definition_key(prefix_, def.field), encode_definition(def));
}

std::shared_ptr<const stream_store::index_list> stream_store::current_indexes() const {
  std::shared_lock<std::shared_mutex> guard(indexes_mutex_);
  return indexes_;
}

status stream_store::load_indexes() {
  auto list = std::make_shared<index_list>();
  std::string begin = definition_key(prefix_, "");
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  for (it->Seek(begin); it->Valid() && it->key().starts_with(begin); it->Next()) {
    std::string_view value = it->value().ToStringView();
    index_definition def;
    def.field = it->key().ToString().substr(begin.size());
    if (value.size() < kDefinitionHeader || !protocol::split_field_path(def.field, def.path).ok())
      return status(errc::corrupt, "stored definition of index '" + def.field + "' of stream '" +
                                       name_ + "' is malformed");
    def.id = decode_u32(value);
    def.state = value[4] == static_cast<char>(index_state::ready) ? index_state::ready
                                                                  : index_state::building;
    def.multikey = value[5] != 0;
    def.progress = decode_u64(value.substr(6, 8)).value_or(0);
    def.cursor = std::string(value.substr(kDefinitionHeader));
    list->push_back(std::move(def));
  }
  if (!it->status().ok()) return storage_error("cannot read index definitions", it->status());
  std::sort(list->begin(), list->end(),
            [](const index_definition& a, const index_definition& b) { return a.id < b.id; });
  std::unique_lock<std::shared_mutex> guard(indexes_mutex_);
  indexes_ = std::move(list);
  return status::OK();
}

std::vector<index_definition> stream_store::indexes() const {
  return *current_indexes();
}

result<bool> stream_store::create_index(const std::string& field) {
  std::vector<std::string> path;
  if (auto st = check_field(field, path); !st.ok()) return st;
  std::shared_lock<std::shared_mutex> life(lifecycle_);
  if (closed_) return closed_error(name_);
  std::unique_lock<std::shared_mutex> guard(indexes_mutex_);
  uint32_t next_id = 1;
  for (const auto& def : *indexes_) {
    if (def.field == field) return false;
    next_id = std::max(next_id, def.id + 1);
  }
  if (indexes_->size() >= kMaxIndexesPerStream)
    return status(errc::invalid_argument, "stream '" + name_ + "' has " +
                                              std::to_string(kMaxIndexesPerStream) +
                                              " indexes, the most it may have");
  index_definition def;
  def.field = field;
  def.path = std::move(path);
  def.id = next_id;
  rocksdb::WriteBatch batch;
  put_definition(&batch, def);
  auto st = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!st.ok()) return storage_error("cannot create index '" + field + "'", st);
  auto list = std::make_shared<index_list>(*indexes_);
  list->push_back(std::move(def));
  indexes_ = std::move(list);
  return true;
}

status stream_store::drop_index(const std::string& field) {
  std::shared_lock<std::shared_mutex> life(lifecycle_);
  if (closed_) return closed_error(name_);
  std::unique_lock<std::shared_mutex> guard(indexes_mutex_);
  auto found = std::find_if(indexes_->begin(), indexes_->end(),
                            [&](const index_definition& d) { return d.field == field; });
  if (found == indexes_->end())
    return status(errc::not_found, "stream '" + name_ + "' has no index on '" + field + "'");
  rocksdb::WriteBatch batch;
  batch.Delete(meta_, definition_key(prefix_, field));
  batch.DeleteRange(entries_, index_prefix(found->id), index_prefix(found->id + 1));
  auto st = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!st.ok()) return storage_error("cannot drop index '" + field + "'", st);
  auto list = std::make_shared<index_list>();
  for (const auto& def : *indexes_)
    if (def.field != field) list->push_back(def);
  indexes_ = std::move(list);
  return status::OK();
}

result<bool> stream_store::build_index(const std::string& field,
                                       std::chrono::steady_clock::time_point until) {
  std::shared_lock<std::shared_mutex> life(lifecycle_);
  if (closed_) return closed_error(name_);
  auto list = current_indexes();
  auto found = std::find_if(list->begin(), list->end(),
                            [&](const index_definition& d) { return d.field == field; });
  if (found == list->end())
    return status(errc::not_found, "stream '" + name_ + "' has no index on '" + field + "'");
  if (found->state == index_state::ready) return true;
  index_definition def = *found;
  // The current documents (no snapshot): changes since the last step are in the index already.
  rocksdb::Slice upper(end_);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, family_));
  it->Seek(stored_key(def.cursor));
  std::string entry_prefix = index_prefix(def.id);
  std::vector<std::string> values;
  std::string key;
  bool done = false;
  while (true) {
    rocksdb::WriteBatch batch;
    size_t documents = 0;
    bool multikey = false;
    for (;
         it->Valid() && documents < kBuildBatchDocuments && batch.GetDataSize() < kBuildBatchBytes;
         it->Next()) {
      rocksdb::Slice stored = it->key();
      if (stored.size() <= prefix_.size()) continue;  // the stream's sequence
      std::string_view doc_key(stored.data() + prefix_.size(), stored.size() - prefix_.size());
      values.clear();
      multikey |=
          protocol::index_entries(document_of(it->value().ToStringView()), def.path, values);
      for (const auto& v : values) {
        key.assign(entry_prefix).append(v).append(doc_key);
        batch.Put(entries_, key, rocksdb::Slice());
      }
      ++documents;
    }
    if (!it->status().ok())
      return storage_error("cannot build index '" + field + "'", it->status());
    done = !it->Valid();
    def.progress += documents;
    def.multikey |= multikey;
    if (done) {
      def.state = index_state::ready;
      def.cursor.clear();
    } else {
      def.cursor.assign(it->key().data() + prefix_.size(), it->key().size() - prefix_.size());
    }
    {
      std::unique_lock<std::shared_mutex> guard(indexes_mutex_);
      auto now = std::find_if(indexes_->begin(), indexes_->end(),
                              [&](const index_definition& d) { return d.id == def.id; });
      if (now == indexes_->end())
        return status(errc::not_found, "index '" + field + "' was dropped");
      def.multikey |= now->multikey;  // a commit may have flagged it meanwhile
      put_definition(&batch, def);
      auto st = db_->Write(rocksdb::WriteOptions(), &batch);
      if (!st.ok()) return storage_error("cannot build index '" + field + "'", st);
      auto updated = std::make_shared<index_list>(*indexes_);
      for (auto& d : *updated)
        if (d.id == def.id) d = def;
      indexes_ = std::move(updated);
    }
    if (done) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

result<std::unique_ptr<index_view>> stream_store::read_indexes() const {
  std::shared_lock<std::shared_mutex> life(lifecycle_);
  if (closed_) return closed_error(name_);
  std::shared_lock<std::shared_mutex> guard(indexes_mutex_);
  return std::unique_ptr<index_view>(new index_view(*this, indexes_, db_->GetSnapshot()));
}

// -- index_view ---------------------------------------------------------------------------------

index_view::index_view(const stream_store& store,
                       std::shared_ptr<const std::vector<index_definition>> defs,
                       const rocksdb::Snapshot* snapshot)
    : store_(store), indexes_(std::move(defs)), snapshot_(snapshot) {}

index_view::~index_view() {
  store_.db_->ReleaseSnapshot(snapshot_);
}

struct index_view::cursor::impl {
  std::string lower, upper;  // full keys
  rocksdb::Slice upper_slice;
  std::unique_ptr<rocksdb::Iterator> it;
  bool reverse = false;
  bool started = false;
  size_t skip = 0;  // the stream prefix and the index id

  // Positions the iterator on the range's first entry (its last when reverse), once.
  void start() {
    if (started) return;
    if (reverse) {
      it->SeekForPrev(upper);
      if (it->Valid() && it->key().compare(upper) >= 0) it->Prev();
    } else {
      it->Seek(lower);
    }
    started = true;
  }
};

index_view::cursor::~cursor() = default;

std::unique_ptr<index_view::cursor> index_view::entries(uint32_t id, const std::string& begin,
                                                        const std::string& end,
                                                        bool reverse) const {
  std::unique_ptr<cursor> c(new cursor());
  c->view_ = this;
  c->impl_ = std::make_unique<cursor::impl>();
  auto& i = *c->impl_;
  std::string prefix = store_.index_prefix(id);
  i.skip = prefix.size();
  i.lower = prefix + begin;
  i.upper = end.empty() ? store_.index_prefix(id + 1) : prefix + end;
  i.upper_slice = rocksdb::Slice(i.upper);
  i.reverse = reverse;
  rocksdb::ReadOptions options;
  options.snapshot = snapshot_;
  options.iterate_upper_bound = &i.upper_slice;
  i.it.reset(store_.db_->NewIterator(options, store_.entries_));
  return c;
}

result<bool> index_view::cursor::next(
    const std::function<bool(std::string_view, std::string_view)>& visit,
    std::chrono::steady_clock::time_point until) {
  const auto& store = view_->store_;
  std::shared_lock<std::shared_mutex> guard(store.lifecycle_);
  if (store.closed_) return closed_error(store.name_);
  auto& i = *impl_;
  auto& it = *i.it;
  i.start();
  rocksdb::Slice lower(i.lower);
  for (int n = 1; it.Valid(); ++n) {
    rocksdb::Slice key = it.key();
    if (i.reverse && key.compare(lower) < 0) return true;
    std::string_view rest(key.data() + i.skip, key.size() - i.skip);
    size_t value_size = protocol::index_value_size(rest);
    if (value_size == 0)
      return status(errc::corrupt, "malformed index entry in stream '" + store.name_ + "'");
    bool more = visit(rest.substr(0, value_size), rest.substr(value_size));
    if (i.reverse)
      it.Prev();
    else
      it.Next();
    if (!more) break;
    if (n % kEntriesPerClockCheck == 0 && std::chrono::steady_clock::now() >= until) break;
  }
  if (!it.status().ok()) return storage_error("cannot read index", it.status());
  if (!it.Valid()) return true;
  if (i.reverse && it.key().compare(lower) < 0) return true;
  return false;
}

result<bool> index_view::cursor::count(uint64_t& n, std::chrono::steady_clock::time_point until) {
  if (impl_->reverse) {  // not needed fast: counts read forward
    return next(
        [&n](std::string_view, std::string_view) {
          ++n;
          return true;
        },
        until);
  }
  const auto& store = view_->store_;
  std::shared_lock<std::shared_mutex> guard(store.lifecycle_);
  if (store.closed_) return closed_error(store.name_);
  auto& i = *impl_;
  auto& it = *i.it;
  i.start();  // forward: reverse counts went to next() above
  // RocksDB's per-thread operation counters cost a tenth of a step this short; nobody reads them.
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  // The upper bound is the iterator's: every valid entry counts.
  for (uint64_t local = 1; it.Valid(); it.Next(), ++local) {
    ++n;
    if (local % kEntriesPerClockCheck == 0 && std::chrono::steady_clock::now() >= until) {
      it.Next();
      break;
    }
  }
  if (!it.status().ok()) return storage_error("cannot read index", it.status());
  return !it.Valid();
}

status index_view::get(const std::vector<std::string>& keys,
                       std::vector<std::optional<std::string>>& records, bool in_key_order) const {
  std::shared_lock<std::shared_mutex> guard(store_.lifecycle_);
  if (store_.closed_) return closed_error(store_.name_);
  records.clear();
  records.resize(keys.size());
  std::vector<std::string> stored;
  stored.reserve(keys.size());
  for (const auto& k : keys) stored.push_back(store_.stored_key(k));
  std::vector<rocksdb::Slice> slices(stored.begin(), stored.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  rocksdb::ReadOptions options;
  options.snapshot = snapshot_;
  store_.db_->MultiGet(options, store_.family_, slices.size(), slices.data(), values.data(),
                       statuses.data(), in_key_order);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return storage_error("cannot read documents", statuses[i]);
    records[i] = values[i].ToString();
  }
  return status::OK();
}

// -- apply_batch: index entries -----------------------------------------------------------------

status apply_batch::update_indexes(const std::string& key,
                                   const std::optional<std::string>& previous,
                                   const std::string* record) {
  if (indexes_->empty()) return status::OK();
  json before = previous ? document_of(*previous) : json();
  json after = record != nullptr ? document_of(*record) : json();
  std::vector<std::string> old_values, new_values;
  std::string entry;
  for (const auto& def : *indexes_) {
    old_values.clear();
    new_values.clear();
    if (previous) protocol::index_entries(before, def.path, old_values);
    bool multikey = false;
    if (record != nullptr) multikey = protocol::index_entries(after, def.path, new_values);
    std::string prefix = store_.index_prefix(def.id);
    // Both sorted: delete what goes, put what comes (an unchanged value needs nothing).
    auto o = old_values.begin(), n = new_values.begin();
    while (o != old_values.end() || n != new_values.end()) {
      if (n == new_values.end() || (o != old_values.end() && *o < *n)) {
        entry.assign(prefix).append(*o++).append(key);
        impl_->batch.Delete(store_.entries_, entry);
      } else if (o == old_values.end() || *n < *o) {
        entry.assign(prefix).append(*n++).append(key);
        impl_->batch.Put(store_.entries_, entry, rocksdb::Slice());
      } else {
        ++o;
        ++n;
      }
    }
    if (multikey && !def.multikey &&
        std::find(now_multikey_.begin(), now_multikey_.end(), def.id) == now_multikey_.end())
      now_multikey_.push_back(def.id);
  }
  return status::OK();
}

}  // namespace eventbase::storage
