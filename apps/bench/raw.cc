#include "bench/raw.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>

#include <unistd.h>

#include <nats/nats.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "protocol/record.hpp"

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

// -- raw_pipeline -------------------------------------------------------------------------------

struct raw_pipeline::impl {
  natsConnection* conn = nullptr;
  jsCtx* js = nullptr;
  natsSubscription* deliveries = nullptr;
  rocksdb::DB* db = nullptr;
  std::string stream;
  std::string consumer;
  std::string inbox;         // pull request n replies to "<inbox>.<n>"
  std::string next_subject;  // $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
  std::string pull_body;

  // Completion: bit 1 acknowledged, bit 2 applied; a token with both is complete.
  std::mutex mutex;
  std::condition_variable changed;
  std::unordered_map<uint64_t, uint8_t> progress;
  uint64_t completed = 0;
  std::string failure;  // the first failure, if any
  uint64_t next_token = 1;

  // The consumer side, touched on cnats' delivery thread (and by open's first top_up, before
  // any delivery can come).
  struct pull {
    uint64_t id;
    int64_t remaining;
  };
  std::deque<pull> pulls;
  uint64_t next_pull = 1;
  rocksdb::WriteBatch batch;
  std::vector<uint64_t> batch_tokens;
  uint64_t batch_seq = 0;
  static constexpr int64_t kBatch = 1024;  // as Eventbase pulls (stream_options::pull_batch)

  // The delivery subscription has ended for good (its completion callback ran).
  std::mutex done_mutex;
  std::condition_variable done_changed;
  bool deliveries_done = false;

  void mark(uint64_t token, uint8_t bit) {
    bool complete = false;
    {
      std::lock_guard<std::mutex> guard(mutex);
      auto& flags = progress[token];
      flags |= bit;
      if (flags == 3) {
        progress.erase(token);
        ++completed;
        complete = true;
      }
    }
    if (complete) changed.notify_one();
  }

  void fail(const std::string& why) {
    {
      std::lock_guard<std::mutex> guard(mutex);
      if (failure.empty()) failure = why;
    }
    changed.notify_one();
  }

  // Keeps two pull requests outstanding, as Eventbase's consumer does.
  void top_up() {
    while (pulls.size() < 2) {
      uint64_t id = next_pull++;
      std::string reply = inbox + "." + std::to_string(id);
      natsStatus s =
          natsConnection_PublishRequest(conn, next_subject.c_str(), reply.c_str(), pull_body.data(),
                                        static_cast<int>(pull_body.size()));
      if (s != NATS_OK) return fail(std::string("pull request: ") + natsStatus_GetText(s));
      pulls.push_back(pull{id, kBatch});
    }
  }

  void commit() {
    if (batch_tokens.empty()) return;
    std::string seq = std::to_string(batch_seq);
    batch.Put("applied-sequence", seq);
    auto st = db->Write(rocksdb::WriteOptions(), &batch);  // Eventbase's apply: WAL, no sync
    batch.Clear();
    if (!st.ok()) fail("RocksDB write: " + st.ToString());
    for (auto token : batch_tokens) mark(token, 2);
    batch_tokens.clear();
  }

  static uint64_t token_of(natsMsg* msg) {
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || id == nullptr) return 0;
    const char* dot = std::strrchr(id, '.');
    uint64_t token = 0;
    if (dot != nullptr) std::from_chars(dot + 1, id + std::strlen(id), token);
    return token;
  }

  static void on_delivery(natsConnection*, natsSubscription* sub, natsMsg* msg, void* closure) {
    auto* p = static_cast<impl*>(closure);
    const char* status = nullptr;
    if (natsMsgHeader_Get(msg, "Status", &status) == NATS_OK && status != nullptr) {
      int code = std::atoi(status);
      if (code == 404 || code == 408 || code == 409) {  // the pull ended: replace it
        const char* subject = natsMsg_GetSubject(msg);
        const char* dot = std::strrchr(subject, '.');
        uint64_t id = 0;
        if (dot != nullptr) std::from_chars(dot + 1, subject + std::strlen(subject), id);
        auto& pulls = p->pulls;
        pulls.erase(
            std::remove_if(pulls.begin(), pulls.end(), [id](const pull& x) { return x.id == id; }),
            pulls.end());
        p->top_up();
      } else if (code != 100) {
        p->fail("pull request failed: " + std::string(status));
      }
    } else {
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        p->batch_seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
      }
      p->batch.Put(
          rocksdb::Slice(natsMsg_GetSubject(msg)),
          rocksdb::Slice(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))));
      p->batch_tokens.push_back(token_of(msg));
      if (!p->pulls.empty() && --p->pulls.front().remaining <= 0) {
        p->pulls.pop_front();
        p->top_up();
      }
    }
    natsMsg_Destroy(msg);
    // Apply what has come once nothing more is queued: a batch when events come together.
    int queued = 0;
    natsSubscription_GetPending(sub, &queued, nullptr);
    if (queued == 0 || static_cast<int64_t>(p->batch_tokens.size()) >= kBatch) p->commit();
  }

  static void on_deliveries_done(void* closure) {
    auto* p = static_cast<impl*>(closure);
    std::lock_guard<std::mutex> guard(p->done_mutex);
    p->deliveries_done = true;
    p->done_changed.notify_all();
  }

  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* p = static_cast<impl*>(closure);
    uint64_t token = token_of(msg);
    if (pa != nullptr)
      p->mark(token, 1);
    else
      p->fail(std::string("publish not acknowledged: ") +
              (pae != nullptr && pae->ErrText != nullptr ? pae->ErrText : "?"));
    natsMsg_Destroy(msg);
  }

  natsStatus publish(const std::string& subject, const std::string& payload, const headers& hdrs,
                     uint64_t token) {
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    std::string id = "raw." + std::to_string(token);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id.c_str());
    for (auto it = hdrs.begin(); s == NATS_OK && it != hdrs.end(); ++it)
      s = natsMsgHeader_Set(msg, it->first.c_str(), it->second.c_str());
    if (s == NATS_OK) s = js_PublishMsgAsync(js, &msg, nullptr);  // takes the message
    natsMsg_Destroy(msg);                                         // null once taken
    return s;
  }

  uint64_t completed_now() {
    std::lock_guard<std::mutex> guard(mutex);
    return completed;
  }

  // Waits until `count` tokens are complete; false (with the failure) on a failure or after
  // 60 s without progress.
  status wait_completed(uint64_t count) {
    std::unique_lock<std::mutex> guard(mutex);
    bool ok = changed.wait_for(guard, std::chrono::seconds(60),
                               [&] { return completed >= count || !failure.empty(); });
    if (!failure.empty()) return status(errc::unavailable, failure);
    if (!ok) return status(errc::timeout, "the raw pipeline stalled");
    return status::OK();
  }
};

result<std::unique_ptr<raw_pipeline>> raw_pipeline::open(const std::string& url,
                                                         const std::string& stream,
                                                         const std::string& db_path) {
  std::unique_ptr<raw_pipeline> out(new raw_pipeline());
  out->impl_ = std::make_unique<impl>();
  impl& p = *out->impl_;
  p.stream = stream;
  // As Eventbase connects: each publish written at once (nats/connection.cc).
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetURL(opts, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsConnection_Connect(&p.conn, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) return nats_error("cannot connect to " + url, s);

  jsOptions js_opts;
  jsOptions_Init(&js_opts);
  js_opts.PublishAsync.MaxPending = 1 << 16;  // the pipeline's own window is the bound
  js_opts.PublishAsync.AckHandler = impl::on_ack;
  js_opts.PublishAsync.AckHandlerClosure = &p;
  s = natsConnection_JetStream(&p.js, p.conn, &js_opts);
  if (s != NATS_OK) return nats_error("no JetStream context", s);

  // The stream as Eventbase creates it (protocol::jetstream::stream_create_request).
  jsStreamConfig scfg;
  jsStreamConfig_Init(&scfg);
  std::string wildcard = stream + ".*";
  const char* subjects[] = {wildcard.c_str()};
  scfg.Name = stream.c_str();
  scfg.Subjects = subjects;
  scfg.SubjectsLen = 1;
  scfg.Storage = js_FileStorage;
  scfg.Retention = js_LimitsPolicy;
  scfg.Discard = js_DiscardOld;
  scfg.Replicas = 1;
  scfg.MaxMsgsPerSubject = 1;
  jsStreamInfo* sinfo = nullptr;
  jsErrCode code = jsErrCode(0);
  s = js_AddStream(&sinfo, p.js, &scfg, nullptr, &code);
  if (sinfo) jsStreamInfo_Destroy(sinfo);
  if (s != NATS_OK) return nats_error("cannot create stream " + stream, s, code);

  // The consumer as Eventbase creates it (protocol::jetstream::consumer_create_request).
  jsConsumerConfig ccfg;
  jsConsumerConfig_Init(&ccfg);
  ccfg.DeliverPolicy = js_DeliverByStartSequence;
  ccfg.OptStartSeq = 1;
  ccfg.AckPolicy = js_AckNone;
  ccfg.ReplayPolicy = js_ReplayInstant;
  ccfg.InactiveThreshold = int64_t{120} * 1000000000;
  ccfg.MemoryStorage = true;
  ccfg.Replicas = 1;
  jsConsumerInfo* cinfo = nullptr;
  s = js_AddConsumer(&cinfo, p.js, stream.c_str(), &ccfg, nullptr, &code);
  if (s == NATS_OK) p.consumer = cinfo->Name;
  if (cinfo) jsConsumerInfo_Destroy(cinfo);
  if (s != NATS_OK) return nats_error("cannot create the consumer of " + stream, s, code);
  p.next_subject = "$JS.API.CONSUMER.MSG.NEXT." + stream + "." + p.consumer;
  // Eventbase's pull request: 1024 messages, max(4 MiB, max payload + 64 KiB), 30 s, 1 s
  // heartbeats (actors/stream_actor.cc, stream_options).
  int64_t max_bytes =
      std::max<int64_t>(int64_t{4} << 20, natsConnection_GetMaxPayload(p.conn) + (64 << 10));
  p.pull_body = "{\"batch\":" + std::to_string(impl::kBatch) +
                ",\"max_bytes\":" + std::to_string(max_bytes) +
                ",\"expires\":30000000000,\"idle_heartbeat\":1000000000}";

  rocksdb::Options db_opts;
  db_opts.create_if_missing = true;
  auto st = rocksdb::DB::Open(db_opts, db_path, &p.db);
  if (!st.ok()) return status(errc::storage, "raw pipeline database: " + st.ToString());

  char inbox[128];
  std::snprintf(inbox, sizeof inbox, "_INBOX.rawpipe%d", static_cast<int>(::getpid()));
  p.inbox = inbox;
  std::string wildcard_inbox = p.inbox + ".>";
  s = natsConnection_Subscribe(&p.deliveries, p.conn, wildcard_inbox.c_str(), impl::on_delivery,
                               &p);
  if (s == NATS_OK)
    s = natsSubscription_SetOnCompleteCB(p.deliveries, impl::on_deliveries_done, &p);
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(p.deliveries, 1 << 20, 1 << 30);
  if (s == NATS_OK) s = natsConnection_Flush(p.conn);  // subscribed before pulling
  if (s != NATS_OK) return nats_error("cannot subscribe to " + wildcard_inbox, s);
  p.top_up();
  if (!p.failure.empty()) return status(errc::unavailable, p.failure);
  return out;
}

raw_pipeline::~raw_pipeline() {
  impl& p = *impl_;
  if (p.deliveries) {
    natsSubscription_Unsubscribe(p.deliveries);
    {
      std::unique_lock<std::mutex> guard(p.done_mutex);
      p.done_changed.wait_for(guard, std::chrono::seconds(5), [&] { return p.deliveries_done; });
    }
    natsSubscription_Destroy(p.deliveries);
  }
  if (p.js) {
    if (!p.consumer.empty())
      js_DeleteConsumer(p.js, p.stream.c_str(), p.consumer.c_str(), nullptr, nullptr);
    js_DeleteStream(p.js, p.stream.c_str(), nullptr, nullptr);
    jsCtx_Destroy(p.js);
  }
  if (p.conn) natsConnection_Destroy(p.conn);
  delete p.db;
}

result<std::vector<double>> raw_pipeline::one_at_a_time(const std::vector<std::string>& subjects,
                                                        const std::string& payload,
                                                        const headers& hdrs) {
  impl& p = *impl_;
  std::vector<double> latencies;
  latencies.reserve(subjects.size());
  uint64_t base = p.completed_now();  // only this thread publishes: nothing is incomplete now
  for (size_t i = 0; i < subjects.size(); ++i) {
    auto start = clock_type::now();
    natsStatus s = p.publish(subjects[i], payload, hdrs, p.next_token++);
    if (s != NATS_OK) return nats_error("js_PublishMsgAsync failed", s);
    if (auto st = p.wait_completed(base + i + 1); !st.ok()) return st;
    latencies.push_back(seconds_since(start) * 1e6);
  }
  return latencies;
}

result<double> raw_pipeline::windowed(const std::vector<std::string>& subjects,
                                      const std::string& payload, const headers& hdrs,
                                      size_t window) {
  impl& p = *impl_;
  uint64_t base = p.completed_now();
  auto start = clock_type::now();
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (i >= window) {
      if (auto st = p.wait_completed(base + i + 1 - window); !st.ok()) return st;
    }
    natsStatus s = p.publish(subjects[i], payload, hdrs, p.next_token++);
    if (s != NATS_OK) return nats_error("js_PublishMsgAsync failed", s);
  }
  if (auto st = p.wait_completed(base + subjects.size()); !st.ok()) return st;
  return seconds_since(start);
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

namespace {

// The JSON document of a stored record.
status decode_into(const rocksdb::Slice& value, raw_replica::json_document& out) {
  auto view = protocol::decode_record(std::string_view(value.data(), value.size()));
  if (!view.ok()) return view.error();
  auto doc = protocol::decode_document(view->data_msgpack);
  if (!doc.ok()) return doc.error();
  out = std::move(*doc);
  return status::OK();
}

}  // namespace

result<double> raw_replica::read_documents(const std::vector<std::string>& keys) {
  std::vector<std::string> stored;
  for (auto& key : keys) stored.push_back(impl_->prefix + key);
  std::vector<json_document> docs(keys.size());
  rocksdb::PinnableSlice value;
  auto start = clock_type::now();
  for (size_t i = 0; i < stored.size(); ++i) {
    value.Reset();
    auto st = impl_->db->Get(rocksdb::ReadOptions(), impl_->family, stored[i], &value);
    if (!st.ok()) return status(errc::storage, "raw Get of " + stored[i] + ": " + st.ToString());
    if (auto decoded = decode_into(value, docs[i]); !decoded.ok()) return decoded;
  }
  return seconds_since(start);
}

result<std::pair<size_t, double>> raw_replica::scan_documents(
    const std::function<bool(const json_document&)>& matches) {
  auto start = clock_type::now();
  rocksdb::Slice upper(impl_->end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(options, impl_->family));
  size_t count = 0;
  json_document doc;
  for (it->Seek(impl_->prefix); it->Valid(); it->Next()) {
    if (it->key().size() <= impl_->prefix.size()) continue;
    if (auto decoded = decode_into(it->value(), doc); !decoded.ok()) return decoded;
    if (matches(doc)) ++count;
  }
  double elapsed = seconds_since(start);
  if (!it->status().ok()) return status(errc::storage, it->status().ToString());
  return std::make_pair(count, elapsed);
}

}  // namespace eventbase::bench
