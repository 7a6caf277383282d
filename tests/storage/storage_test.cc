#define CAF_SUITE storage
#include "caf/test/unit_test.hpp"

#include <dirent.h>

#include <thread>

#include <rocksdb/db.h>
#include <nlohmann/json.hpp>

#include "protocol/event.hpp"
#include "protocol/record.hpp"
#include "storage/database.hpp"
#include "storage/events.hpp"
#include "storage/stream_store.hpp"
#include "support/temp_dir.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using namespace eventbase::storage;
using eventbase::test::meta_of;
using eventbase::test::put_event;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

json document(const std::string& record) {
  return decode_document(decode_record(record).value().data_msgpack).value();
}

std::vector<std::string> keys(stream_store& store, const std::string& pattern) {
  return store.keys(key_pattern::compile(pattern).value()).value();
}

struct fixture {
  eventbase::test::temp_dir dir;
};

size_t open_descriptors() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

std::string u64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
  return out;
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(storage_tests, fixture)

CAF_TEST(a new stream is empty at sequence zero) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("orders").value();
  CAF_CHECK_EQUAL(store->applied_sequence(), 0u);
  CAF_CHECK(!store->get("missing").value().has_value());
  CAF_CHECK(keys(*store, "").empty());
}

CAF_TEST(applies puts and deletes with metadata atomically) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  apply_batch batch(*store);
  auto r1 = batch.put(put_event("k", json{{"v", 1}}), 1, 1000);
  CAF_REQUIRE(r1.ok());
  auto r2 = batch.put(put_event("k", json{{"v", 2}}), 2, 2000);  // JS-style: continues r1
  CAF_REQUIRE(r2.ok());
  // Nothing is visible before the commit.
  CAF_CHECK(!store->get("k").value().has_value());
  CAF_CHECK_EQUAL(store->applied_sequence(), 0u);
  CAF_REQUIRE(batch.commit(2).ok());
  CAF_CHECK_EQUAL(store->applied_sequence(), 2u);
  auto stored = store->get("k").value();
  CAF_REQUIRE(stored.has_value());
  CAF_CHECK_EQUAL(document(*stored), json({{"v", 2}}));
  CAF_CHECK_EQUAL(meta_of(*stored), (meta{1000, 2000, 2}));
  CAF_CHECK_EQUAL(decode_record(*stored).value().sequence, 2u);
  std::optional<std::string> previous;
  CAF_REQUIRE(batch.erase("k", 3, &previous).ok());
  CAF_REQUIRE(previous.has_value());
  CAF_CHECK_EQUAL(document(*previous), json({{"v", 2}}));
  CAF_REQUIRE(batch.commit(3).ok());
  CAF_CHECK(!store->get("k").value().has_value());
  CAF_CHECK_EQUAL(store->applied_sequence(), 3u);
}

CAF_TEST(carried metadata wins over local state) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  apply_batch batch(*store);
  // A replica that saw only the last of five puts (compaction removed the others).
  auto rec = batch.put(put_event("k", 5, carried_meta{5, int64_t{100}, std::nullopt}), 9, 900);
  CAF_REQUIRE(rec.ok());
  CAF_CHECK_EQUAL(meta_of(*rec), (meta{100, 900, 5}));
}

CAF_TEST(reopen resumes sequence and data and lists streams) {
  {
    auto db = database::open(dir.path()).value();
    for (std::string name : {"a", "b"}) {
      auto store = db->open_stream(name).value();
      apply_batch batch(*store);
      CAF_REQUIRE(batch.put(put_event("key-" + name, name), 7, 1).ok());
      CAF_REQUIRE(batch.commit(7).ok());
      store->close();
    }
  }
  auto db = database::open(dir.path()).value();
  auto names = db->stream_names();
  CAF_CHECK_EQUAL(names, (std::vector<std::string>{"a", "b"}));
  auto b = db->open_stream("b").value();
  CAF_CHECK_EQUAL(b->applied_sequence(), 7u);
  CAF_CHECK_EQUAL(document(b->get("key-b").value().value()), json("b"));
  CAF_CHECK(!b->get("key-a").value().has_value());  // streams do not share keys
}

CAF_TEST(many streams keep their own data across reopen) {
  // More streams than one batch of column families.
  {
    auto db = database::open(dir.path()).value();
    for (int i = 0; i < 40; ++i) {
      auto store = db->open_stream("s" + std::to_string(i)).value();
      apply_batch batch(*store);
      CAF_REQUIRE(batch.put(put_event("k", i), 1, 1).ok());
      CAF_REQUIRE(batch.commit(static_cast<uint64_t>(i + 1)).ok());
    }
    CAF_REQUIRE(db->drop_stream("s7").ok());
  }
  auto db = database::open(dir.path()).value();
  CAF_CHECK_EQUAL(db->stream_names().size(), 39u);
  for (int i = 0; i < 40; ++i) {
    auto store = db->open_stream("s" + std::to_string(i)).value();
    if (i == 7) {
      CAF_CHECK_EQUAL(store->applied_sequence(), 0u);  // dropped: a new, empty stream
      CAF_CHECK(!store->get("k").value().has_value());
    } else {
      CAF_CHECK_EQUAL(store->applied_sequence(), static_cast<uint64_t>(i + 1));
      CAF_CHECK_EQUAL(document(store->get("k").value().value()), json(i));
    }
  }
}

CAF_TEST(one open store per stream and one database per path) {
  auto db = database::open(dir.path()).value();
  auto again = database::open(dir.path()).value();
  CAF_CHECK_EQUAL(db.get(), again.get());
  auto store = db->open_stream("s").value();
  auto second = db->open_stream("s");
  CAF_REQUIRE(!second.ok());
  CAF_CHECK_EQUAL(second.error().code(), errc::invalid_argument);
  store->close();
  CAF_CHECK(db->open_stream("s").ok());
}

CAF_TEST(closed stores fail clearly) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  store->close();
  CAF_CHECK_EQUAL(store->get("k").error().code(), errc::closed);
  CAF_CHECK_EQUAL(store->keys(key_pattern::compile("").value()).error().code(), errc::closed);
  apply_batch batch(*store);
  CAF_CHECK_EQUAL(batch.commit(1).code(), errc::closed);
}

CAF_TEST(drop removes the local data) {
  auto db = database::open(dir.path()).value();
  {
    auto store = db->open_stream("s").value();
    apply_batch batch(*store);
    CAF_REQUIRE(batch.put(put_event("k", 1), 1, 1).ok());
    CAF_REQUIRE(batch.commit(1).ok());
    CAF_REQUIRE(store->drop().ok());
    CAF_CHECK_EQUAL(store->get("k").error().code(), errc::closed);
  }
  CAF_CHECK(db->stream_names().empty());
  auto fresh = db->open_stream("s").value();
  CAF_CHECK_EQUAL(fresh->applied_sequence(), 0u);
  CAF_CHECK(!fresh->get("k").value().has_value());
}

CAF_TEST(keys filter by regex and seek to literal prefixes) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  apply_batch batch(*store);
  for (std::string key : {"user:1", "user:2", "user:10", "order:1", "other", "\xF0\x9F\x8E\x89",
                          "a.b*c>d e/f+g=h!@#$%^&()"})
    CAF_REQUIRE(
        batch.put(put_event(key, 1, carried_meta{1, std::nullopt, std::nullopt}), 1, 1).ok());
  CAF_REQUIRE(batch.commit(1).ok());
  CAF_CHECK_EQUAL(keys(*store, "^user:"),
                  (std::vector<std::string>{"user:1", "user:10", "user:2"}));
  CAF_CHECK_EQUAL(keys(*store, "^user:\\d$"), (std::vector<std::string>{"user:1", "user:2"}));
  CAF_CHECK_EQUAL(keys(*store, ":1"), (std::vector<std::string>{"order:1", "user:1", "user:10"}));
  CAF_CHECK_EQUAL(keys(*store, "").size(), 7u);
  CAF_CHECK_EQUAL(keys(*store, "\\*c>"), (std::vector<std::string>{"a.b*c>d e/f+g=h!@#$%^&()"}));
  CAF_CHECK_EQUAL(keys(*store, "^zzz"), (std::vector<std::string>{}));
}

CAF_TEST(keys fails as a whole when a match hits the regex limits) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  apply_batch batch(*store);
  for (std::string key : {std::string("a"), std::string(30, 'a') + "b", std::string("z")})
    CAF_REQUIRE(batch.put(put_event(key, 1), 1, 1).ok());
  CAF_REQUIRE(batch.commit(1).ok());
  auto r = store->keys(key_pattern::compile("(a+)+$").value());
  CAF_REQUIRE(!r.ok());
  CAF_CHECK_EQUAL(r.error().code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(r.error().message().find("regex too complex"), std::string::npos);
  CAF_CHECK_EQUAL(keys(*store, "^a+$"), (std::vector<std::string>{"a"}));
}

CAF_TEST(keys with nul bytes and utf8 survive) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  apply_batch batch(*store);
  std::string key("a\0b", 3);
  CAF_REQUIRE(batch.put(put_event(key, "v"), 1, 1).ok());
  CAF_REQUIRE(batch.commit(1).ok());
  CAF_CHECK(store->get(key).value().has_value());
  CAF_CHECK(!store->get("a").value().has_value());
}

CAF_TEST(opening and closing many streams keeps descriptors bounded) {
  auto db = database::open(dir.path()).value();
  for (int i = 0; i < 20; ++i) db->open_stream("warm" + std::to_string(i)).value()->close();
  size_t before = open_descriptors();
  for (int i = 0; i < 500; ++i) {
    auto store = db->open_stream("s" + std::to_string(i)).value();
    apply_batch batch(*store);
    CAF_REQUIRE(batch.put(put_event("k", i), 1, 1).ok());
    CAF_REQUIRE(batch.commit(1).ok());
    store->close();
  }
  // A column family per stream cost a descriptor each, for the life of the database.
  CAF_CHECK_LESS(open_descriptors(), before + 16);
  CAF_CHECK_EQUAL(db->stream_names().size(), 520u);
}

CAF_TEST(a scan runs in slices over one snapshot) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  auto neighbour = db->open_stream("t").value();
  {
    apply_batch batch(*store);
    for (int i = 0; i < 1000; ++i)
      CAF_REQUIRE(batch.put(put_event("k" + std::to_string(1000 + i), i), 1, 1).ok());
    CAF_REQUIRE(batch.commit(1).ok());
    apply_batch other(*neighbour);
    CAF_REQUIRE(other.put(put_event("k1500x", 1), 1, 1).ok());
    CAF_REQUIRE(other.commit(1).ok());
  }
  auto scan = store->scan_keys(key_pattern::compile("^k1").value()).value();
  std::vector<std::string> found;
  // A deadline in the past: each call examines one clock check's worth of keys and stops.
  auto past = std::chrono::steady_clock::now();
  CAF_CHECK_EQUAL(scan->next(found, past).value(), false);
  CAF_CHECK_LESS(found.size(), 1000u);
  {
    apply_batch batch(*store);  // written after the scan began: not seen by it
    CAF_REQUIRE(batch.put(put_event("k1999z", 1), 2, 2).ok());
    CAF_REQUIRE(batch.commit(2).ok());
  }
  int calls = 1;
  while (!scan->next(found, past).value()) ++calls;
  CAF_CHECK_GREATER(calls, 5);
  CAF_CHECK_EQUAL(found.size(), 1000u);
  CAF_CHECK(std::is_sorted(found.begin(), found.end()));
  CAF_CHECK_EQUAL(keys(*store, "^k1999").size(), 2u);  // a new scan sees it
  store->close();
  CAF_CHECK_EQUAL(scan->next(found, past).error().code(), errc::closed);
}

CAF_TEST(a scan can yield the records of its keys) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("records").value();
  {
    apply_batch batch(*store);
    for (int i = 0; i < 300; ++i)
      CAF_REQUIRE(batch.put(put_event("r" + std::to_string(100 + i), i), 1, 1).ok());
    CAF_REQUIRE(batch.commit(1).ok());
  }
  auto scan = store->scan_keys(key_pattern::compile("^r1").value()).value();
  std::vector<std::string> found, records;
  auto past = std::chrono::steady_clock::now();
  while (!scan->next(found, &records, past).value()) {
  }
  CAF_REQUIRE_EQUAL(found.size(), 100u);
  CAF_REQUIRE_EQUAL(records.size(), found.size());
  for (size_t i = 0; i < found.size(); ++i) {
    auto stored = store->get(found[i]).value();
    CAF_REQUIRE(stored.has_value());
    CAF_CHECK_EQUAL(records[i], *stored);
  }
}

CAF_TEST(a database in the per stream column family layout is migrated) {
  // Format 1: a column family "slot:N" per stream, mapped by "stream:<name>" -> "slot:N".
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"slot:0", {}}, {"slot:1", {}}, {"slot:2", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    CAF_REQUIRE(rocksdb::DB::Open(options, dir.path(), families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> old(raw);
    auto record = [](const json& doc, uint64_t seq) {
      std::string data;
      append_msgpack(doc, data);
      return encode_record(meta{1, 2, 1}, seq, data);
    };
    old->Put({}, handles[0], "stream:orders", "slot:0");
    old->Put({}, handles[1], rocksdb::Slice("", 0), u64(42));
    old->Put({}, handles[1], "o1", record(json{{"n", 1}}, 41));
    old->Put({}, handles[1], "o2", record(json{{"n", 2}}, 42));
    old->Put({}, handles[0], "stream:users", "slot:2");
    old->Put({}, handles[3], rocksdb::Slice("", 0), u64(7));
    old->Put({}, handles[3], "u1", record("ada", 7));
    old->Put({}, handles[0], "stream:gone", "slot:9");  // its drop was interrupted
    for (auto* h : handles) old->DestroyColumnFamilyHandle(h);
  }
  {
    auto db = database::open(dir.path()).value();
    CAF_CHECK_EQUAL(db->stream_names(), (std::vector<std::string>{"orders", "users"}));
    auto orders = db->open_stream("orders").value();
    CAF_CHECK_EQUAL(orders->applied_sequence(), 42u);
    CAF_CHECK_EQUAL(document(orders->get("o2").value().value()), json({{"n", 2}}));
    CAF_CHECK_EQUAL(keys(*orders, ""), (std::vector<std::string>{"o1", "o2"}));
    auto users = db->open_stream("users").value();
    CAF_CHECK_EQUAL(users->applied_sequence(), 7u);
    CAF_CHECK_EQUAL(keys(*users, ""), (std::vector<std::string>{"u1"}));
  }
  std::vector<std::string> families;
  CAF_REQUIRE(rocksdb::DB::ListColumnFamilies({}, dir.path(), &families).ok());
  CAF_CHECK_EQUAL(families, (std::vector<std::string>{"default", "data", "index"}));
  auto db = database::open(dir.path()).value();  // and it stays migrated
  CAF_CHECK_EQUAL(db->open_stream("orders").value()->applied_sequence(), 42u);
}

CAF_TEST(a data path locked elsewhere fails at once naming the path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  CAF_REQUIRE(rocksdb::DB::Open(options, dir.path(), &raw).ok());  // not through the registry
  std::unique_ptr<rocksdb::DB> holder(raw);
  auto start = std::chrono::steady_clock::now();
  auto db = database::open(dir.path());
  CAF_REQUIRE(!db.ok());
  CAF_CHECK_EQUAL(db.error().code(), errc::storage);
  CAF_CHECK_NOT_EQUAL(db.error().message().find("in use"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(db.error().message().find(dir.path()), std::string::npos);
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The failure left nothing behind: the next open works once the holder is gone.
  holder.reset();
  CAF_CHECK(database::open(dir.path()).ok());
}

CAF_TEST_FIXTURE_SCOPE_END()
