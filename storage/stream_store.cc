#include "storage/stream_store.hpp"

#include <algorithm>
#include <limits>
#include <mutex>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "protocol/record.hpp"
#include "storage/apply_batch_impl.hpp"
#include "storage/database.hpp"
#include "storage/encoding.hpp"

namespace eventbase::storage {
namespace {

rocksdb::Slice slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

status closed_error(const std::string& stream) {
  return status(errc::closed, "stream '" + stream + "' is closed");
}

status storage_error(const std::string& what, const rocksdb::Status& st) {
  return status(errc::storage, what + ": " + st.ToString());
}

// Keys examined between two looks at the clock in a sliced scan.
constexpr int kKeysPerClockCheck = 64;

}  // namespace

// -- stream_store -------------------------------------------------------------------------------

stream_store::stream_store(std::shared_ptr<database> owner, std::string name, rocksdb::DB* db,
                           rocksdb::ColumnFamilyHandle* family, rocksdb::ColumnFamilyHandle* meta,
                           rocksdb::ColumnFamilyHandle* index_entries, uint64_t id,
                           uint64_t applied)
    : owner_(std::move(owner)),
      name_(std::move(name)),
      db_(db),
      family_(family),
      meta_(meta),
      entries_(index_entries),
      prefix_(stream_prefix(id)),
      end_(stream_prefix(id + 1)),
      applied_(applied),
      indexes_(std::make_shared<index_list>()) {}

std::string stream_store::stored_key(std::string_view key) const {
  std::string out;
  out.reserve(prefix_.size() + key.size());
  out.append(prefix_);
  out.append(key);
  return out;
}

std::string stream_store::tombstone_key(std::string_view key) const {
  std::string out = index_prefix(0);
  out.append(key);
  return out;
}

namespace {

// Reserved index ids of the expiry entries (user indexes count up from 1, tombstones are 0).
constexpr uint32_t kExpiryByKey = 0xFFFFFFFE;   // P<id><key> -> expires (8 bytes)
constexpr uint32_t kExpiryByTime = 0xFFFFFFFF;  // P<id><expires (8 bytes)><key> -> revision

}  // namespace

std::string stream_store::expiry_key(int64_t expires_ms, std::string_view key) const {
  std::string out = index_prefix(kExpiryByTime) + encode_u64(static_cast<uint64_t>(expires_ms));
  out.append(key);
  return out;
}

std::string stream_store::expiry_of_key(std::string_view key) const {
  std::string out = index_prefix(kExpiryByKey);
  out.append(key);
  return out;
}

result<bool> stream_store::has_entries(const std::string& first, const std::string& end) const {
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, entries_));
  it->Seek(first);
  if (!it->status().ok()) return storage_error("cannot read the index entries", it->status());
  return it->Valid();
}

status stream_store::load_expiry_flag() {
  auto any = has_entries(index_prefix(kExpiryByKey), end_);
  if (!any.ok()) return any.error();
  has_expiries_.store(*any, std::memory_order_release);
  return status::OK();
}

result<std::vector<due_expiry>> stream_store::scan_expiries(int64_t from_ms, int64_t until_ms,
                                                            size_t max) const {
  std::vector<due_expiry> out;
  if (!may_have_expiries()) return out;
  std::shared_lock<std::shared_mutex> guard(lifecycle_);
  if (closed_) return closed_error(name_);
  std::string first = index_prefix(kExpiryByTime);
  rocksdb::Slice upper(end_);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, entries_));
  for (it->Seek(expiry_key(from_ms, "")); it->Valid() && out.size() < max; it->Next()) {
    if (!it->key().starts_with(first)) break;
    std::string_view entry(it->key().data() + first.size(), it->key().size() - first.size());
    auto expires = decode_u64(entry.substr(0, std::min<size_t>(8, entry.size())));
    auto revision = decode_u64(it->value().ToStringView());
    if (!expires || !revision)
      return status(errc::corrupt, "an expiry of a key of '" + name_ + "' is malformed");
    if (static_cast<int64_t>(*expires) > until_ms) break;
    out.push_back(
        due_expiry{std::string(entry.substr(8)), *revision, static_cast<int64_t>(*expires)});
  }
  if (!it->status().ok()) return storage_error("cannot read expiries", it->status());
  return out;
}

result<std::vector<due_expiry>> stream_store::expiries_due(int64_t now_ms, size_t max) const {
  return scan_expiries(0, now_ms, max);
}

result<std::optional<int64_t>> stream_store::next_expiry(int64_t after_ms) const {
  if (after_ms == std::numeric_limits<int64_t>::max()) return std::optional<int64_t>();
  auto next = scan_expiries(after_ms + 1, std::numeric_limits<int64_t>::max(), 1);
  if (!next.ok()) return next.error();
  if (next->empty()) return std::optional<int64_t>();
  return std::optional<int64_t>(next->front().expires_ms);
}

status stream_store::load_tombstone_flag() {
  auto any = has_entries(index_prefix(0), index_prefix(1));
  if (!any.ok()) return any.error();
  has_tombstones_.store(*any, std::memory_order_release);
  return status::OK();
}

result<std::optional<uint64_t>> stream_store::tombstone(std::string_view key) const {
  if (!may_have_tombstones()) return std::optional<uint64_t>();
  std::shared_lock<std::shared_mutex> guard(lifecycle_);
  if (closed_) return closed_error(name_);
  rocksdb::PinnableSlice value;
  auto st = db_->Get(rocksdb::ReadOptions(), entries_, tombstone_key(key), &value);
  if (st.IsNotFound()) return std::optional<uint64_t>();
  if (!st.ok()) return storage_error("cannot read tombstone", st);
  auto seq = decode_tombstone(value.ToStringView());
  if (!seq) return status(errc::corrupt, "tombstone of a key of '" + name_ + "' is malformed");
  return std::optional<uint64_t>(seq->first);
}

result<std::vector<key_change>> stream_store::changes_since(uint64_t after,
                                                            const protocol::glob& glob,
                                                            size_t max) const {
  std::shared_lock<std::shared_mutex> guard(lifecycle_);
  if (closed_) return closed_error(name_);
  std::vector<key_change> out;
  auto too_many = [&] {
    return status(errc::too_large, "more than " + std::to_string(max) + " keys of '" + name_ +
                                       "' changed after revision " + std::to_string(after));
  };
  {
    rocksdb::Slice upper(end_);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, family_));
    for (it->Seek(prefix_); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      if (key.size() <= prefix_.size()) continue;  // the applied sequence
      key.remove_prefix(prefix_.size());
      auto view = protocol::decode_record(it->value().ToStringView());
      if (!view.ok()) return view.error();
      if (view->sequence <= after || !glob.matches(key)) continue;
      if (out.size() == max) return too_many();
      out.push_back(key_change{std::string(key), view->sequence, it->value().ToString(), 0});
    }
    if (!it->status().ok()) return storage_error("cannot scan records", it->status());
  }
  if (may_have_tombstones()) {
    std::string first = index_prefix(0), end = index_prefix(1);
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, entries_));
    for (it->Seek(first); it->Valid(); it->Next()) {
      std::string_view key(it->key().data() + first.size(), it->key().size() - first.size());
      auto tomb = decode_tombstone(it->value().ToStringView());
      if (!tomb) return status(errc::corrupt, "tombstone of a key of '" + name_ + "' is malformed");
      if (tomb->first <= after || !glob.matches(key)) continue;
      if (out.size() == max) return too_many();
      out.push_back(key_change{std::string(key), tomb->first, {}, tomb->second});
    }
    if (!it->status().ok()) return storage_error("cannot scan tombstones", it->status());
  }
  std::sort(out.begin(), out.end(),
            [](const key_change& a, const key_change& b) { return a.revision < b.revision; });
  return out;
}

result<uint64_t> stream_store::revision(std::string_view key) const {
  auto record = get(key);
  if (!record.ok()) return record.error();
  if (*record) {
    auto view = protocol::decode_record(**record);
    if (!view.ok()) return view.error();
    return view->sequence;
  }
  auto deleted = tombstone(key);
  if (!deleted.ok()) return deleted.error();
  return deleted->value_or(0);
}

stream_store::~stream_store() {
  close();
}

result<std::optional<std::string>> stream_store::get(std::string_view key) const {
  std::shared_lock<std::shared_mutex> guard(lifecycle_);
  if (closed_) return closed_error(name_);
  rocksdb::PinnableSlice value;
  auto st = db_->Get(rocksdb::ReadOptions(), family_, stored_key(key), &value);
  if (st.IsNotFound()) return std::optional<std::string>();
  if (!st.ok()) return storage_error("cannot read key", st);
  return std::optional<std::string>(value.ToString());
}

result<std::vector<std::string>> stream_store::keys(const protocol::key_pattern& pattern) const {
  auto scan = scan_keys(pattern);
  if (!scan.ok()) return scan.error();
  std::vector<std::string> out;
  auto done = (*scan)->next(out, std::chrono::steady_clock::time_point::max());
  if (!done.ok()) return done.error();
  return out;
}

result<std::unique_ptr<key_scan>> stream_store::scan_keys(protocol::key_pattern pattern) const {
  std::shared_lock<std::shared_mutex> guard(lifecycle_);
  if (closed_) return closed_error(name_);
  return std::unique_ptr<key_scan>(new key_scan(*this, std::move(pattern)));
}

status stream_store::clear() {
  std::unique_lock<std::shared_mutex> guard(lifecycle_);
  if (closed_) return closed_error(name_);
  rocksdb::WriteBatch batch;
  batch.DeleteRange(family_, prefix_, end_);   // the documents and the stored sequence
  batch.DeleteRange(entries_, prefix_, end_);  // their index entries (definitions stay)
  auto st = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!st.ok()) return storage_error("cannot clear stream '" + name_ + "'", st);
  applied_.store(0, std::memory_order_release);
  has_tombstones_.store(false, std::memory_order_release);
  has_expiries_.store(false, std::memory_order_release);
  return status::OK();
}

status stream_store::sync() {
  std::shared_lock<std::shared_mutex> guard(lifecycle_);
  if (closed_) return closed_error(name_);
  auto st = db_->FlushWAL(/*sync=*/true);
  if (!st.ok()) return storage_error("cannot sync write-ahead log", st);
  return status::OK();
}

void stream_store::mark_closed() {
  std::unique_lock<std::shared_mutex> guard(lifecycle_);
  closed_ = true;
}

void stream_store::close() {
  {
    std::unique_lock<std::shared_mutex> guard(lifecycle_);
    if (closed_) return;
    closed_ = true;
  }
  owner_->release(this);
}

status stream_store::drop() {
  close();
  return owner_->drop_stream(name_);
}

bool stream_store::closed() const {
  std::shared_lock<std::shared_mutex> guard(lifecycle_);
  return closed_;
}

// -- key_scan -----------------------------------------------------------------------------------

struct key_scan::impl {
  rocksdb::Slice upper;  // points into the store's end_
  std::unique_ptr<rocksdb::Iterator> it;
};

key_scan::key_scan(const stream_store& store, protocol::key_pattern pattern)
    : store_(store), pattern_(std::move(pattern)), impl_(std::make_unique<impl>()) {
  seek_ = store_.prefix_ + pattern_.literal_prefix();
  impl_->upper = rocksdb::Slice(store_.end_);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &impl_->upper;
  impl_->it.reset(store_.db_->NewIterator(options, store_.family_));
}

key_scan::~key_scan() = default;

result<bool> key_scan::next(std::vector<std::string>& out,
                            std::chrono::steady_clock::time_point until) {
  return next(out, nullptr, until);
}

result<bool> key_scan::next(std::vector<std::string>& out, std::vector<std::string>* records,
                            std::chrono::steady_clock::time_point until) {
  std::shared_lock<std::shared_mutex> guard(store_.lifecycle_);
  if (store_.closed_) return closed_error(store_.name_);
  auto& it = *impl_->it;
  if (done_) return true;
  if (!started_) {
    it.Seek(seek_);
    started_ = true;
  }
  const size_t skip = store_.prefix_.size();
  rocksdb::Slice literal(seek_);
  for (int examined = 0; it.Valid(); it.Next()) {
    rocksdb::Slice key = it.key();
    if (!key.starts_with(literal)) break;  // past the keys with the literal prefix
    if (key.size() > skip) {               // the stream's own key (its sequence) is not a document
      std::string_view view(key.data() + skip, key.size() - skip);
      bool matched = pattern_.matches_all();
      if (!matched) {
        auto found = pattern_.matches(view);
        if (!found.ok()) return found.error();  // "regex too complex": the scan fails
        matched = *found;
      }
      if (matched) {
        out.emplace_back(view);
        if (records != nullptr) records->emplace_back(it.value().data(), it.value().size());
      }
    }
    if (++examined % kKeysPerClockCheck == 0 && std::chrono::steady_clock::now() >= until) {
      it.Next();
      break;
    }
  }
  if (!it.status().ok()) return storage_error("cannot scan keys", it.status());
  done_ = !it.Valid() || !it.key().starts_with(literal);
  return done_;
}

// -- apply_batch --------------------------------------------------------------------------------

apply_batch::apply_batch(stream_store& store)
    : store_(store), impl_(std::make_unique<impl>()), indexes_(store.current_indexes()) {}

apply_batch::~apply_batch() = default;

result<std::optional<std::string>> apply_batch::current(const std::string& key) {
  if (auto it = overlay_.find(key); it != overlay_.end()) return it->second;
  return store_.get(key);
}

result<std::optional<uint64_t>> apply_batch::current_tombstone(const std::string& key) {
  if (auto it = tombstones_.find(key); it != tombstones_.end()) return it->second;
  return store_.tombstone(key);
}

status apply_batch::set_expiry(const std::string& key, std::optional<int64_t> expires_ms,
                               uint64_t revision) {
  std::optional<int64_t> old;
  if (auto it = expiries_.find(key); it != expiries_.end()) {
    old = it->second;
  } else if (store_.may_have_expiries()) {
    rocksdb::PinnableSlice value;
    auto st =
        store_.db_->Get(rocksdb::ReadOptions(), store_.entries_, store_.expiry_of_key(key), &value);
    if (!st.ok() && !st.IsNotFound()) return storage_error("cannot read expiry", st);
    if (st.ok()) {
      auto at = decode_u64(value.ToStringView());
      if (!at)
        return status(errc::corrupt, "expiry of a key of '" + store_.name_ + "' is malformed");
      old = static_cast<int64_t>(*at);
    }
  }
  if (!old && !expires_ms) return status::OK();
  if (old) {
    impl_->batch.Delete(store_.entries_, store_.expiry_key(*old, key));
    impl_->batch.Delete(store_.entries_, store_.expiry_of_key(key));
  }
  if (expires_ms) {
    impl_->batch.Put(store_.entries_, store_.expiry_key(*expires_ms, key),
                     slice(encode_u64(revision)));
    impl_->batch.Put(store_.entries_, store_.expiry_of_key(key),
                     slice(encode_u64(static_cast<uint64_t>(*expires_ms))));
  }
  expiries_[key] = expires_ms;
  return status::OK();
}

result<bool> apply_batch::expire(const std::string& key, uint64_t seq, uint64_t expired_revision,
                                 std::optional<std::string>* previous, int64_t time_ms) {
  auto cur = current(key);
  if (!cur.ok()) return cur.error();
  if (!*cur) return false;
  auto view = protocol::decode_record(**cur);
  if (!view.ok() || view->sequence != expired_revision) return false;
  if (auto st = erase(key, seq, previous, time_ms); !st.ok()) return st;
  return true;
}

result<std::string> apply_batch::put(const protocol::decoded_event& ev, uint64_t seq,
                                     int64_t time_ms, std::optional<std::string>* previous,
                                     bool* raced_delete) {
  // Events with carried metadata do not depend on the previous record: skip the read unless
  // the caller wants the previous record, indexes need it, or the key may have a tombstone.
  bool tombstones = store_.may_have_tombstones() || !tombstones_.empty();
  std::optional<std::string> prev;
  if (ev.meta.changes == 0 || previous != nullptr || !indexes_->empty() || tombstones) {
    auto cur = current(ev.key);
    if (!cur.ok()) return cur.error();
    prev = std::move(*cur);
  }
  // A deleted key: the PUT lives it again (its tombstone goes), and when the writer computed
  // its metadata before that delete, the key starts anew.
  bool deleted_after_base = false;
  if (tombstones && !prev) {
    auto deleted = current_tombstone(ev.key);
    if (!deleted.ok()) return deleted.error();
    if (*deleted) {
      deleted_after_base = ev.meta.base_revision && **deleted > *ev.meta.base_revision;
      impl_->batch.Delete(store_.entries_, store_.tombstone_key(ev.key));
      tombstones_[ev.key] = std::nullopt;
    }
  }
  if (raced_delete != nullptr) *raced_delete = deleted_after_base;
  // A previous record that cannot be decoded counts as absent: the event still applies.
  std::optional<protocol::meta> previous_meta;
  if (prev) {
    if (auto view = protocol::decode_record(*prev); view.ok()) previous_meta = view->m;
  }
  protocol::meta m = protocol::meta_after_put(previous_meta ? &*previous_meta : nullptr, ev.meta,
                                              time_ms, deleted_after_base);
  std::string record = protocol::encode_record(m, seq, ev.data_msgpack);
  impl_->batch.Put(store_.family_, store_.stored_key(ev.key), slice(record));
  if (ev.ttl_seconds > 0 || store_.may_have_expiries() || !expiries_.empty()) {
    std::optional<int64_t> expires;
    if (ev.ttl_seconds > 0) expires = time_ms + static_cast<int64_t>(ev.ttl_seconds) * 1000;
    if (auto st = set_expiry(ev.key, expires, seq); !st.ok()) return st;
  }
  if (auto st = update_indexes(ev.key, prev, &record); !st.ok()) return st;
  overlay_[ev.key] = record;
  ++changes_;
  if (previous != nullptr) *previous = std::move(prev);
  return record;
}

status apply_batch::erase(const std::string& key, uint64_t seq,
                          std::optional<std::string>* previous, int64_t time_ms) {
  if (previous != nullptr || !indexes_->empty()) {
    auto cur = current(key);
    if (!cur.ok()) return cur.error();
    if (auto st = update_indexes(key, *cur, nullptr); !st.ok()) return st;
    if (previous != nullptr) *previous = std::move(*cur);
  }
  impl_->batch.Delete(store_.family_, store_.stored_key(key));
  if (store_.may_have_expiries() || !expiries_.empty()) {
    if (auto st = set_expiry(key, std::nullopt, 0); !st.ok()) return st;
  }
  impl_->batch.Put(store_.entries_, store_.tombstone_key(key),
                   slice(encode_u64(seq) + encode_u64(static_cast<uint64_t>(time_ms))));
  overlay_[key] = std::nullopt;
  tombstones_[key] = seq;
  ++changes_;
  return status::OK();
}

status apply_batch::commit(uint64_t through_seq) {
  std::shared_lock<std::shared_mutex> guard(store_.lifecycle_);
  if (store_.closed_) return closed_error(store_.name_);
  impl_->batch.Put(store_.family_, store_.prefix_, encode_u64(through_seq));
  rocksdb::Status st;
  if (now_multikey_.empty()) {
    st = store_.db_->Write(rocksdb::WriteOptions(), &impl_->batch);
  } else {
    // The indexes this batch makes multikey say so in the same write, and readers see the flag
    // with the entries that caused it.
    std::unique_lock<std::shared_mutex> indexes(store_.indexes_mutex_);
    auto updated = std::make_shared<stream_store::index_list>(*store_.indexes_);
    for (auto& def : *updated) {
      if (std::find(now_multikey_.begin(), now_multikey_.end(), def.id) == now_multikey_.end())
        continue;
      def.multikey = true;
      store_.put_definition(&impl_->batch, def);
    }
    st = store_.db_->Write(rocksdb::WriteOptions(), &impl_->batch);
    if (st.ok()) store_.indexes_ = std::move(updated);
    now_multikey_.clear();
  }
  impl_->batch.Clear();
  overlay_.clear();
  bool wrote_tombstones = false;
  for (auto& [key, seq] : tombstones_) wrote_tombstones |= seq.has_value();
  tombstones_.clear();
  bool wrote_expiries = false;
  for (auto& [key, at] : expiries_) wrote_expiries |= at.has_value();
  expiries_.clear();
  changes_ = 0;
  indexes_ = store_.current_indexes();
  if (!st.ok()) return storage_error("cannot write events to stream '" + store_.name_ + "'", st);
  if (wrote_tombstones) store_.has_tombstones_.store(true, std::memory_order_release);
  if (wrote_expiries) store_.has_expiries_.store(true, std::memory_order_release);
  store_.applied_.store(through_seq, std::memory_order_release);
  return status::OK();
}

}  // namespace eventbase::storage
