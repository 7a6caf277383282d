// Secondary index storage: entries kept in step with documents under puts, updates, deletes and
// batches that change one key twice; the sliced background build with writes in between; clear
// and replay; drop; reopen (definitions, multikey flag, an interrupted build); dropping the
// stream; a database written before indexes existed; bad fields and the per-stream bound. Every
// check compares the stored entries with entries recomputed from the stored documents.
#define CAF_SUITE indexes
#include "caf/test/unit_test.hpp"

#include <set>

#include <rocksdb/db.h>
#include <nlohmann/json.hpp>

#include "protocol/event.hpp"
#include "protocol/filter.hpp"
#include "protocol/index_key.hpp"
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
using json = nlohmann::ordered_json;

namespace {

using entry_set = std::set<std::pair<std::string, std::string>>;  // (encoded value, key)

const index_definition& definition(const stream_store& store, const std::string& field) {
  static std::vector<index_definition> keep;
  keep = store.indexes();
  for (const auto& d : keep)
    if (d.field == field) return d;
  CAF_FAIL("no index on " << field);
}

entry_set stored_entries(const stream_store& store, const std::string& field) {
  auto view = store.read_indexes().value();
  uint32_t id = 0;
  for (const auto& d : view->indexes())
    if (d.field == field) id = d.id;
  entry_set out;
  auto cursor = view->entries(id, "", "", false);
  auto done = cursor->next(
      [&](std::string_view value, std::string_view key) {
        out.emplace(std::string(value), std::string(key));
        return true;
      },
      std::chrono::steady_clock::time_point::max());
  CAF_CHECK(done.value());
  return out;
}

entry_set expected_entries(const stream_store& store, const std::string& field) {
  std::vector<std::string> path;
  CAF_REQUIRE(split_field_path(field, path).ok());
  auto scan = store.scan_keys(key_pattern()).value();
  std::vector<std::string> keys, records;
  CAF_REQUIRE(scan->next(keys, &records, std::chrono::steady_clock::time_point::max()).value());
  entry_set out;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto doc = decode_document(decode_record(records[i]).value().data_msgpack).value();
    std::vector<std::string> values;
    index_entries(doc, path, values);
    for (auto& v : values) out.emplace(v, keys[i]);
  }
  return out;
}

void check_in_step(const stream_store& store) {
  for (const auto& def : store.indexes())
    CAF_CHECK(stored_entries(store, def.field) == expected_entries(store, def.field));
}

void apply(stream_store& store, uint64_t seq, const std::string& key, const json& data) {
  apply_batch batch(store);
  CAF_REQUIRE(batch.put(put_event(key, data), seq, 1000).ok());
  CAF_REQUIRE(batch.commit(seq).ok());
}

void build_all(stream_store& store, const std::string& field) {
  for (int i = 0; i < 100000; ++i)
    if (store.build_index(field, std::chrono::steady_clock::time_point::max()).value()) return;
  CAF_FAIL("build did not finish");
}

struct fixture {
  eventbase::test::temp_dir dir;
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(index_tests, fixture)

CAF_TEST(entries follow puts updates deletes and batches) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  CAF_CHECK(store->create_index("age").value());
  CAF_CHECK(store->create_index("tags").value());
  CAF_CHECK(!store->create_index("age").value());  // exists: left as it is
  build_all(*store, "age");
  build_all(*store, "tags");
  CAF_CHECK(definition(*store, "age").state == index_state::ready);
  apply(*store, 1, "a", json{{"age", 30}});
  apply(*store, 2, "b", json{{"age", 40}, {"tags", {"x"}}});
  apply(*store, 3, "c", json{{"name", "no age"}});
  check_in_step(*store);
  CAF_CHECK_EQUAL(stored_entries(*store, "age").count({index_value(json(30)), "a"}), 1u);
  CAF_CHECK_EQUAL(stored_entries(*store, "age").count({index_value(json(nullptr)), "c"}), 1u);
  apply(*store, 4, "a", json{{"age", 31}});  // update: the old entry goes
  CAF_CHECK_EQUAL(stored_entries(*store, "age").count({index_value(json(30)), "a"}), 0u);
  {
    apply_batch batch(*store);  // one key changed twice, another put then deleted
    CAF_REQUIRE(batch.put(put_event("b", json{{"age", 50}, {"tags", {"y", "z"}}}), 5, 1).ok());
    CAF_REQUIRE(batch.put(put_event("b", json{{"age", 60}}), 6, 1).ok());
    CAF_REQUIRE(batch.put(put_event("d", json{{"age", 70}}), 7, 1).ok());
    CAF_REQUIRE(batch.erase("d", 8).ok());
    CAF_REQUIRE(batch.erase("c", 8).ok());
    CAF_REQUIRE(batch.commit(8).ok());
  }
  check_in_step(*store);
  CAF_CHECK(stored_entries(*store, "age") ==
            (entry_set{{index_value(json(31)), "a"}, {index_value(json(60)), "b"}}));
  CAF_CHECK(stored_entries(*store, "tags") ==
            (entry_set{{index_value(json(nullptr)), "a"}, {index_value(json(nullptr)), "b"}}));
  CAF_CHECK(definition(*store, "tags").multikey);  // "b" held an array for a moment
  CAF_CHECK(!definition(*store, "age").multikey);
  // Index entries never show among the documents.
  CAF_CHECK_EQUAL(store->keys(key_pattern()).value().size(), 2u);
}

CAF_TEST(a build runs in bounded steps over the current documents) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  {
    apply_batch batch(*store);
    for (int i = 0; i < 2500; ++i) {
      char key[16];
      std::snprintf(key, sizeof key, "k%05d", i);
      CAF_REQUIRE(
          batch.put(put_event(key, json{{"n", i % 7}}), static_cast<uint64_t>(i + 1), 1).ok());
    }
    CAF_REQUIRE(batch.commit(2500).ok());
  }
  CAF_CHECK(store->create_index("n").value());
  // A deadline already past: one bounded batch per call.
  auto past = std::chrono::steady_clock::now();
  CAF_CHECK(!store->build_index("n", past).value());
  CAF_CHECK(definition(*store, "n").state == index_state::building);
  CAF_CHECK_EQUAL(definition(*store, "n").progress, 1000u);
  // Changes between steps, before and after the cursor.
  apply(*store, 2501, "k00001", json{{"n", 100}});
  apply(*store, 2502, "k02000", json{{"n", 200}});
  {
    apply_batch batch(*store);
    CAF_REQUIRE(batch.erase("k00002", 2503).ok());
    CAF_REQUIRE(batch.erase("k02001", 2503).ok());
    CAF_REQUIRE(batch.commit(2503).ok());
  }
  // Queries see only ready indexes; the view says so.
  CAF_CHECK(store->read_indexes().value()->indexes()[0].state == index_state::building);
  int calls = 1;  // 2498 documents left, 1000 per call: 2 more calls
  while (!store->build_index("n", past).value()) ++calls;
  CAF_CHECK_EQUAL(calls, 2);
  CAF_CHECK(definition(*store, "n").state == index_state::ready);
  check_in_step(*store);
}

CAF_TEST(clear keeps definitions and replay refills entries) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  CAF_CHECK(store->create_index("age").value());
  build_all(*store, "age");
  apply(*store, 1, "a", json{{"age", 1}});
  apply(*store, 2, "b", json{{"age", 2}});
  CAF_REQUIRE(store->clear().ok());
  CAF_CHECK(stored_entries(*store, "age").empty());
  CAF_CHECK(definition(*store, "age").state == index_state::ready);
  apply(*store, 1, "a", json{{"age", 5}});
  check_in_step(*store);
  CAF_CHECK_EQUAL(stored_entries(*store, "age").size(), 1u);
}

CAF_TEST(drop removes definition and entries) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  CAF_CHECK(store->create_index("age").value());
  CAF_CHECK(store->create_index("x").value());
  build_all(*store, "age");
  apply(*store, 1, "a", json{{"age", 1}});
  uint32_t id = definition(*store, "age").id;
  CAF_REQUIRE(store->drop_index("age").ok());
  CAF_CHECK_EQUAL(store->drop_index("age").code(), errc::not_found);
  CAF_CHECK_EQUAL(store->indexes().size(), 1u);
  auto view = store->read_indexes().value();
  size_t left = 0;
  auto cursor = view->entries(id, "", "", false);
  CAF_CHECK(cursor
                ->next(
                    [&](std::string_view, std::string_view) {
                      ++left;
                      return true;
                    },
                    std::chrono::steady_clock::time_point::max())
                .value());
  CAF_CHECK_EQUAL(left, 0u);
  // A new index gets a new id: entries of the old one could never be mistaken for it.
  CAF_CHECK(store->create_index("age").value());
  CAF_CHECK_NOT_EQUAL(definition(*store, "age").id, id);
  build_all(*store, "age");
  check_in_step(*store);
}

CAF_TEST(definitions survive a restart and an interrupted build resumes) {
  {
    auto db = database::open(dir.path()).value();
    auto store = db->open_stream("s").value();
    apply_batch batch(*store);
    for (int i = 0; i < 1500; ++i)
      CAF_REQUIRE(batch
                      .put(put_event("k" + std::to_string(i), json{{"v", {i}}}),
                           static_cast<uint64_t>(i + 1), 1)
                      .ok());
    CAF_REQUIRE(batch.commit(1500).ok());
    CAF_CHECK(store->create_index("v").value());
    CAF_CHECK(store->create_index("w").value());
    CAF_CHECK(!store->build_index("v", std::chrono::steady_clock::now()).value());
  }
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  auto defs = store->indexes();
  CAF_REQUIRE_EQUAL(defs.size(), 2u);
  CAF_CHECK_EQUAL(defs[0].field, "v");
  CAF_CHECK(defs[0].state == index_state::building);
  CAF_CHECK(defs[0].multikey);
  CAF_CHECK_EQUAL(defs[0].progress, 1000u);
  CAF_CHECK(!defs[0].cursor.empty());
  build_all(*store, "v");
  build_all(*store, "w");
  CAF_CHECK_EQUAL(definition(*store, "v").progress, 1500u);
  check_in_step(*store);
}

CAF_TEST(dropping the stream removes its indexes) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  CAF_CHECK(store->create_index("age").value());
  build_all(*store, "age");
  apply(*store, 1, "a", json{{"age", 1}});
  CAF_REQUIRE(store->drop().ok());
  store.reset();
  auto again = db->open_stream("s").value();
  CAF_CHECK(again->indexes().empty());
}

CAF_TEST(a database without the index family opens) {
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families{
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"data", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    CAF_REQUIRE(rocksdb::DB::Open(options, dir.path(), families, &handles, &raw).ok());
    for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  apply(*store, 1, "a", json{{"age", 1}});
  CAF_CHECK(store->create_index("age").value());
  build_all(*store, "age");
  check_in_step(*store);
}

CAF_TEST(bad fields and too many indexes are refused) {
  auto db = database::open(dir.path()).value();
  auto store = db->open_stream("s").value();
  for (const char* bad : {"", "a..b", ".a", "a.", "$and", "a.$b", "\xff"})
    CAF_CHECK_EQUAL(store->create_index(bad).error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(store->create_index(std::string(2000, 'a')).error().code(),
                  errc::invalid_argument);
  for (size_t i = 0; i < kMaxIndexesPerStream; ++i)
    CAF_CHECK(store->create_index("f" + std::to_string(i)).value());
  CAF_CHECK_EQUAL(store->create_index("one.more").error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(store->build_index("nope", std::chrono::steady_clock::now()).error().code(),
                  errc::not_found);
}

CAF_TEST_FIXTURE_SCOPE_END()
