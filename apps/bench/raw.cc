#include "bench/raw.hpp"

#include <atomic>

#include <nats/nats.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>

namespace eventbase::bench {
namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

status nats_error(const std::string& what, natsStatus s, jsErrCode code = jsErrCode(0)) {
  return status(errc::unavailable, what + ": " + natsStatus_GetText(s) +
                                       (code ? " (" + std::to_string(code) + ")" : ""));
}

}  // namespace

// -- raw_jetstream --------------------------------------------------------------------------

struct raw_jetstream::impl {
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
};

result<std::unique_ptr<raw_jetstream>> raw_jetstream::connect(const std::string& url) {
  std::unique_ptr<raw_jetstream> out(new raw_jetstream());
  out->impl_ = std::make_unique<impl>();
  natsStatus s = natsConnection_ConnectTo(&out->impl_->conn, url.c_str());
  if (s != NATS_OK) return nats_error("cannot connect to " + url, s);
  jsOptions opts;
  jsOptions_Init(&opts);
  s = natsConnection_JetStream(&out->impl_->js, out->impl_->conn, &opts);
  if (s != NATS_OK) return nats_error("no JetStream context", s);
  return out;
}

raw_jetstream::~raw_jetstream() {
  if (impl_->js) jsCtx_Destroy(impl_->js);
  if (impl_->conn) natsConnection_Destroy(impl_->conn);
}

status raw_jetstream::create_stream(const std::string& name) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  std::string subject = name + ".*";
  const char* subjects[] = {subject.c_str()};
  cfg.Name = name.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.MaxMsgsPerSubject = 1;
  jsStreamInfo* info = nullptr;
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_AddStream(&info, impl_->js, &cfg, nullptr, &code);
  if (info) jsStreamInfo_Destroy(info);
  if (s != NATS_OK) return nats_error("cannot create stream " + name, s, code);
  return status::OK();
}

status raw_jetstream::delete_stream(const std::string& name) {
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_DeleteStream(impl_->js, name.c_str(), nullptr, &code);
  if (s != NATS_OK) return nats_error("cannot delete stream " + name, s, code);
  return status::OK();
}

result<std::vector<double>> raw_jetstream::publish_sync(const std::vector<std::string>& subjects,
                                                        const std::string& payload) {
  std::vector<double> latencies;
  latencies.reserve(subjects.size());
  for (auto& subject : subjects) {
    jsPubAck* ack = nullptr;
    jsErrCode code = jsErrCode(0);
    auto start = clock_type::now();
    natsStatus s = js_Publish(&ack, impl_->js, subject.c_str(), payload.data(),
                              static_cast<int>(payload.size()), nullptr, &code);
    latencies.push_back(seconds_since(start) * 1e6);
    if (ack) jsPubAck_Destroy(ack);
    if (s != NATS_OK) return nats_error("js_Publish failed", s, code);
  }
  return latencies;
}

result<double> raw_jetstream::publish_async(
    const std::vector<std::string>& subjects, const std::vector<std::string>& payloads,
    size_t window, const std::vector<std::pair<std::string, std::string>>& headers) {
  // A context of its own: the window is a property of the context.
  jsOptions opts;
  jsOptions_Init(&opts);
  opts.PublishAsync.MaxPending = static_cast<int64_t>(window);
  opts.PublishAsync.StallWait = 60000;
  std::atomic<uint64_t> errors{0};
  opts.PublishAsync.ErrHandler = [](jsCtx*, jsPubAckErr*, void* closure) {
    static_cast<std::atomic<uint64_t>*>(closure)->fetch_add(1);
  };
  opts.PublishAsync.ErrHandlerClosure = &errors;
  jsCtx* js = nullptr;
  natsStatus s = natsConnection_JetStream(&js, impl_->conn, &opts);
  if (s != NATS_OK) return nats_error("no JetStream context", s);
  auto start = clock_type::now();
  for (size_t i = 0; i < subjects.size() && s == NATS_OK; ++i) {
    const std::string& payload = payloads[i % payloads.size()];
    if (headers.empty()) {
      s = js_PublishAsync(js, subjects[i].c_str(), payload.data(), static_cast<int>(payload.size()),
                          nullptr);
      continue;
    }
    natsMsg* msg = nullptr;
    s = natsMsg_Create(&msg, subjects[i].c_str(), nullptr, payload.data(),
                       static_cast<int>(payload.size()));
    for (auto it = headers.begin(); s == NATS_OK && it != headers.end(); ++it)
      s = natsMsgHeader_Set(msg, it->first.c_str(), it->second.c_str());
    if (s == NATS_OK) s = js_PublishMsgAsync(js, &msg, nullptr);  // takes the message
    natsMsg_Destroy(msg);                                         // null once taken
  }
  if (s == NATS_OK) {
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 120000;
    s = js_PublishAsyncComplete(js, &wait);
  }
  double elapsed = seconds_since(start);
  jsCtx_Destroy(js);
  if (s != NATS_OK) return nats_error("js_PublishAsync failed", s);
  if (errors.load() > 0)
    return status(errc::unavailable,
                  std::to_string(errors.load()) + " asynchronous publishes failed");
  return elapsed;
}

result<double> raw_jetstream::consume(const std::string& stream, size_t count) {
  jsSubOptions sub_opts;
  jsSubOptions_Init(&sub_opts);
  sub_opts.Stream = stream.c_str();
  sub_opts.Config.AckPolicy = js_AckNone;
  sub_opts.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* sub = nullptr;
  jsErrCode code = jsErrCode(0);
  std::string filter = stream + ".*";
  std::string durable = "bench-raw-consumer";
  natsStatus s =
      js_PullSubscribe(&sub, impl_->js, filter.c_str(), durable.c_str(), nullptr, &sub_opts, &code);
  if (s != NATS_OK) return nats_error("cannot create the pull consumer", s, code);
  size_t received = 0;
  auto start = clock_type::now();
  while (received < count && s == NATS_OK) {
    natsMsgList list{};
    s = natsSubscription_Fetch(&list, sub, 1024, 10000, &code);
    received += static_cast<size_t>(list.Count);
    natsMsgList_Destroy(&list);
  }
  double elapsed = seconds_since(start);
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  if (received < count) return nats_error("the raw consumer stopped early", s, code);
  return elapsed;
}

// -- raw_replica --------------------------------------------------------------------------------

struct raw_replica::impl {
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* family = nullptr;
  std::string prefix;  // of the stream's keys
  std::string end;     // the first key after them
};

result<std::unique_ptr<raw_replica>> raw_replica::open(const std::string& path,
                                                       const std::string& stream) {
  std::unique_ptr<raw_replica> out(new raw_replica());
  out->impl_ = std::make_unique<impl>();
  std::vector<std::string> names;
  rocksdb::Options options;
  auto st = rocksdb::DB::ListColumnFamilies(options, path, &names);
  if (!st.ok()) return status(errc::storage, st.ToString());
  // The same table settings as Eventbase's database (block cache size, LZ4), so that only the
  // code around RocksDB differs.
  rocksdb::ColumnFamilyOptions cf;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(size_t{32} << 20);
  table.cache_index_and_filter_blocks = true;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf.compression = rocksdb::kLZ4Compression;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto& name : names) descriptors.emplace_back(name, cf);
  st = rocksdb::DB::OpenForReadOnly(options, path, descriptors, &out->impl_->handles,
                                    &out->impl_->db);
  if (!st.ok()) return status(errc::storage, st.ToString());
  // The stream's key prefix, as recorded by Eventbase in the default column family
  // (storage/database.hpp): its keys are <prefix><key>, in the "data" column family.
  std::string id;
  for (auto* h : out->impl_->handles)
    if (h->GetName() == rocksdb::kDefaultColumnFamilyName)
      out->impl_->db->Get(rocksdb::ReadOptions(), h, "stream:" + stream, &id);
  for (auto* h : out->impl_->handles)
    if (h->GetName() == "data") out->impl_->family = h;
  if (out->impl_->family == nullptr || id.size() != 8)
    return status(errc::not_found, "stream " + stream + " has no data at " + path);
  out->impl_->prefix = id;
  out->impl_->end = id;
  for (size_t i = 8; i-- > 0;)  // the first key after the stream's range
    if (++reinterpret_cast<unsigned char&>(out->impl_->end[i]) != 0) break;
  return out;
}

raw_replica::~raw_replica() {
  for (auto* h : impl_->handles) impl_->db->DestroyColumnFamilyHandle(h);
  delete impl_->db;
}

result<double> raw_replica::gets_per_second(const std::vector<std::string>& keys, size_t rounds) {
  rocksdb::PinnableSlice value;
  std::vector<std::string> stored;
  for (auto& key : keys) stored.push_back(impl_->prefix + key);
  auto start = clock_type::now();
  for (size_t r = 0; r < rounds; ++r) {
    for (auto& key : stored) {
      value.Reset();
      auto st = impl_->db->Get(rocksdb::ReadOptions(), impl_->family, key, &value);
      if (!st.ok()) return status(errc::storage, "raw Get of " + key + ": " + st.ToString());
    }
  }
  return static_cast<double>(keys.size() * rounds) / seconds_since(start);
}

result<std::pair<size_t, double>> raw_replica::full_scan() {
  std::vector<std::string> keys;
  auto start = clock_type::now();
  // Like Eventbase's scan: the stream's keys only, in a vector of strings.
  rocksdb::Slice upper(impl_->end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(options, impl_->family));
  size_t skip = impl_->prefix.size();
  for (it->Seek(impl_->prefix); it->Valid(); it->Next())
    if (it->key().size() > skip)
      keys.emplace_back(it->key().data() + skip, it->key().size() - skip);
  double elapsed = seconds_since(start);
  if (!it->status().ok()) return status(errc::storage, it->status().ToString());
  return std::make_pair(keys.size(), elapsed);
}

}  // namespace eventbase::bench
