// Queries through secondary indexes (replica_reader over a real RocksDB replica): each indexable
// operator gets its plan and explain says so; covered counts read no documents; descending
// sorts over groups of equal values larger than the executor buffers; and a differential test: many
// random filters and options over random documents (with updates and deletes) answer exactly the
// same with and without indexes.
#define CAF_SUITE index_query
#include "caf/test/unit_test.hpp"

#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "actors/replica_reader.hpp"
#include "actors/stats_publisher.hpp"
#include "protocol/event.hpp"
#include "protocol/record.hpp"
#include "storage/database.hpp"
#include "storage/stream_store.hpp"
#include "support/temp_dir.hpp"

using namespace eventbase;
using namespace eventbase::actors;
using json = nlohmann::ordered_json;

namespace {

protocol::decoded_event put_event(const std::string& key, const json& data) {
  protocol::decoded_event ev;
  ev.type = protocol::event_type::put;
  ev.key = key;
  protocol::append_msgpack(data, ev.data_msgpack);
  return ev;
}

void build(storage::stream_store& store) {
  for (const auto& def : store.indexes())
    while (!store.build_index(def.field, std::chrono::steady_clock::time_point::max()).value()) {
    }
}

/// Two replicas of the same documents, one with indexes.
struct rig {
  test::temp_dir dir;
  std::shared_ptr<storage::database> db = storage::database::open(dir.path()).value();
  std::shared_ptr<storage::stream_store> plain = db->open_stream("plain").value();
  std::shared_ptr<storage::stream_store> indexed = db->open_stream("indexed").value();
  stats_publisher stats{nullptr, ""};
  replica_reader plain_reader{plain, stats};
  replica_reader indexed_reader{indexed, stats};
  uint64_t seq = 0;

  void put(const std::string& key, const json& doc) {
    ++seq;
    for (auto* store : {plain.get(), indexed.get()}) {
      storage::apply_batch batch(*store);
      CAF_REQUIRE(batch.put(put_event(key, doc), seq, 1000).ok());
      CAF_REQUIRE(batch.commit(seq).ok());
    }
  }
  void erase(const std::string& key) {
    ++seq;
    for (auto* store : {plain.get(), indexed.get()}) {
      storage::apply_batch batch(*store);
      CAF_REQUIRE(batch.erase(key, seq).ok());
      CAF_REQUIRE(batch.commit(seq).ok());
    }
  }
  json explain(const std::string& filter, const std::string& options = "") {
    return json::parse(indexed_reader.explain(filter, options).value());
  }
  json explain_count(const std::string& filter) {
    auto q = indexed_reader.start_query(filter, "", true).value();
    while (
        !replica_reader::continue_query(*q, std::chrono::steady_clock::time_point::max()).value()) {
    }
    return json::parse(q->explain(q->run.matched()));
  }
};

}  // namespace

CAF_TEST(each indexable operator uses its index) {
  rig r;
  for (int i = 0; i < 200; ++i) {
    json doc = {{"name", "n" + std::to_string(i % 50)}, {"age", i % 100}};
    if (i % 10 == 0) doc["tags"] = json::array({"t" + std::to_string(i % 3), "all"});
    r.put("k" + std::to_string(1000 + i), doc);
  }
  for (const char* f : {"age", "name", "tags"}) CAF_CHECK(r.indexed->create_index(f).value());
  // Building: not used yet.
  auto building = r.explain(R"({"age":42})");
  CAF_CHECK_EQUAL(building["plan"]["type"], json("scan"));
  build(*r.indexed);
  auto plan_of = [&](const std::string& filter, const std::string& options = "") {
    auto e = r.explain(filter, options);
    return e["plan"]["index"].dump() + " " + e["plan"]["type"].get<std::string>() + " " +
           e["plan"]["sort"].dump();
  };
  CAF_CHECK_EQUAL(plan_of(R"({"age":42})"), R"("age" equality null)");
  CAF_CHECK_EQUAL(plan_of(R"({"age":{"$eq":42}})"), R"("age" equality null)");
  CAF_CHECK_EQUAL(plan_of(R"({"age":{"$in":[1,2]}})"), R"("age" in null)");
  CAF_CHECK_EQUAL(plan_of(R"({"age":{"$gte":90,"$lt":95}})"), R"("age" range null)");
  CAF_CHECK_EQUAL(plan_of(R"({"name":{"$sw":"n4"}})"), R"("name" prefix null)");
  CAF_CHECK_EQUAL(plan_of(R"({"tags":"all"})"), R"("tags" equality null)");
  CAF_CHECK_EQUAL(plan_of("{}", R"({"sort":{"age":-1},"limit":10})"), R"("age" sort "index")");
  CAF_CHECK_EQUAL(plan_of("{}", R"({"sort":{"age":-1}})"), R"(null scan null)");
  CAF_CHECK_EQUAL(plan_of(R"({"age":{"$gt":5}})", R"({"sort":{"name":1}})"),
                  R"("age" range "memory")");
  CAF_CHECK_EQUAL(plan_of(R"({"age":{"$ne":5}})"), R"(null scan null)");
  CAF_CHECK_EQUAL(plan_of("{}", R"({"sort":{"tags":1},"limit":1})"), R"(null scan null)");
  // Examined: only the candidates; the equality reads its 2 documents.
  auto e = r.explain(R"({"age":42})");
  CAF_CHECK_EQUAL(e["examined"], json(2));
  CAF_CHECK_EQUAL(e["returned"], json(2));
  e = r.explain("{}", R"({"sort":{"age":-1},"limit":3})");
  CAF_CHECK_EQUAL(e["returned"], json(3));
  CAF_CHECK_LESS(e["examined"].get<int>(), 20);
  // Counts an index covers read no documents.
  e = r.explain_count(R"({"age":{"$gte":90}})");
  CAF_CHECK_EQUAL(e["plan"]["covered"], json(true));
  CAF_CHECK_EQUAL(e["examined"], json(0));
  CAF_CHECK_EQUAL(e["returned"], json(20));
  CAF_CHECK_EQUAL(r.indexed_reader.count(R"({"age":{"$gte":90}})").value(), 20u);
  // (CAF_CHECK_EQUAL takes references: no temporaries.)
  auto covered = [&](const std::string& filter) {
    return r.explain_count(filter)["plan"]["covered"].get<bool>();
  };
  CAF_CHECK(covered(R"({"tags":"all"})"));  // multikey, one value: one entry per document
  CAF_CHECK(!covered(R"({"tags":{"$in":["t0","all"]}})"));  // a document may hold both
  CAF_CHECK_EQUAL(r.indexed_reader.count(R"({"tags":{"$in":["t0","all"]}})").value(), 20u);
  CAF_CHECK(!covered(R"({"age":{"$gte":90},"name":"n1"})"));
  // No sort: key order, whatever the plan.
  auto results = r.indexed_reader.query(R"({"age":{"$in":[3,1]}})", "").value();
  CAF_CHECK_EQUAL(results.keys, (std::vector<std::string>{"k1001", "k1003", "k1101", "k1103"}));
}

CAF_TEST(descending sorts over large groups of equal values) {
  rig r;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 700; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "%04d", static_cast<int>(rng() % 10000));
    r.put(key, {{"grp", i % 3}, {"val", i % 7}});
  }
  CAF_CHECK(r.indexed->create_index("grp").value());
  build(*r.indexed);
  for (const char* filter :
       {"{}", R"({"val":3})", R"({"grp":{"$gte":0}})", R"({"grp":{"$in":[0,2]}})"})
    for (const char* options :
         {R"({"sort":{"grp":-1},"limit":1})", R"({"sort":{"grp":-1},"limit":70})",
          R"({"sort":{"grp":-1},"limit":300,"offset":5})", R"({"sort":{"grp":-1}})",
          R"({"sort":{"grp":-1,"val":1},"limit":10})",
          R"({"sort":{"grp":-1,"val":-1},"limit":250})", R"({"sort":{"grp":1},"limit":100})"}) {
      auto expected = r.plain_reader.query(filter, options).value();
      auto got = r.indexed_reader.query(filter, options).value();
      if (expected.keys != got.keys)
        CAF_FAIL(filter << " " << options << ": " << expected.keys.size() << " results without "
                        << "the index, " << got.keys.size() << " with it, plan "
                        << r.explain(filter, options).dump());
      CAF_CHECK(expected.records == got.records);
    }
  // The first result of a descending sort reads the top group's entries, not every entry.
  auto plan = r.explain("{}", R"({"sort":{"grp":-1},"limit":1})");
  CAF_CHECK_EQUAL(plan["plan"]["sort"], json("index"));
  CAF_CHECK_LESS(plan["plan"]["keys_examined"].get<int>(), 150);
}

namespace {

json random_scalar(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return nullptr;
    case 1:
      return static_cast<int64_t>(rng() % 20);
    case 2:
      return static_cast<double>(rng() % 40) / 2;
    case 3:
      return "s" + std::to_string(rng() % 10);
    case 4:
      return rng() % 2 == 0;
    case 5:
      return uint64_t{18446744073709551615u} - rng() % 2;
    case 6:
      return static_cast<int64_t>(rng() % 5) - 5;
    default:
      return "S" + std::to_string(rng() % 3);
  }
}

json random_document(std::mt19937_64& rng) {
  json doc = json::object();
  if (rng() % 6 != 0) doc["age"] = random_scalar(rng);
  if (rng() % 6 != 0)
    doc["name"] = std::string(1, static_cast<char>('a' + rng() % 3)) +
                  std::string(1, static_cast<char>('a' + rng() % 3));
  switch (rng() % 4) {
    case 0:
      break;
    case 1:
      doc["tags"] = random_scalar(rng);
      break;
    default: {
      json tags = json::array();
      for (size_t n = rng() % 4; n > 0; --n) tags.push_back(random_scalar(rng));
      doc["tags"] = tags;
    }
  }
  if (rng() % 2 == 0) doc["nested"] = {{"v", random_scalar(rng)}};
  if (rng() % 8 == 0) doc["nested"] = json::array({{{"v", random_scalar(rng)}}, {{"w", 1}}});
  if (rng() % 4 == 0) doc["obj"] = {{"x", rng() % 3}};
  if (rng() % 30 == 0) return random_scalar(rng);  // not an object at all
  return doc;
}

json operand(std::mt19937_64& rng, bool range_only) {
  if (range_only) {
    json v = random_scalar(rng);
    while (!v.is_number() && !v.is_string()) v = random_scalar(rng);
    return v;
  }
  return random_scalar(rng);
}

json random_condition(std::mt19937_64& rng) {
  static const std::vector<std::string> fields{"age", "name", "tags", "nested.v", "obj", "none"};
  const std::string& field = fields[rng() % fields.size()];
  json cond;
  switch (rng() % 12) {
    case 0:
      cond = operand(rng, false);
      break;
    case 1:
      cond = {{"$eq", operand(rng, false)}};
      break;
    case 2: {
      json list = json::array();
      for (size_t n = rng() % 4; n > 0; --n) list.push_back(operand(rng, false));
      cond = {{"$in", list}};
      break;
    }
    case 3:
      cond = {{"$gt", operand(rng, true)}};
      break;
    case 4:
      cond = {{"$gte", operand(rng, true)}, {"$lt", operand(rng, true)}};
      break;
    case 5:
      cond = {{"$lte", operand(rng, true)}, {"$gt", operand(rng, true)}};
      break;
    case 6:
      cond = {{"$sw", rng() % 2 ? "a" : (rng() % 2 ? "s" : "")}};
      break;
    case 7:
      cond = {{"$ne", operand(rng, false)}};
      break;
    case 8:
      cond = {{"$exists", rng() % 2 == 0}};
      break;
    case 9:
      cond = {{"$nin", json::array({operand(rng, false)})}};
      break;
    case 10:
      cond = json{{"x", rng() % 3}};
      break;
    default:
      cond = json::array({operand(rng, false)});
      break;
  }
  return json{{field, cond}};
}

json random_filter(std::mt19937_64& rng) {
  json f = json::object();
  for (size_t n = rng() % 3; n > 0; --n) f.update(random_condition(rng));
  if (rng() % 5 == 0) f["$and"] = json::array({random_condition(rng), random_condition(rng)});
  if (rng() % 8 == 0) f["$or"] = json::array({random_condition(rng), random_condition(rng)});
  return f;
}

json random_options(std::mt19937_64& rng) {
  json o = json::object();
  static const std::vector<std::string> sort_fields{"age", "name", "nested.v", "tags"};
  if (rng() % 2 == 0) {
    json sort = json::object();
    sort[sort_fields[rng() % sort_fields.size()]] = rng() % 2 ? 1 : -1;
    if (rng() % 3 == 0) sort[sort_fields[rng() % sort_fields.size()]] = rng() % 2 ? 1 : -1;
    o["sort"] = sort;
  }
  if (rng() % 3 != 0) o["limit"] = rng() % 12;
  if (rng() % 3 == 0) o["offset"] = rng() % 5;
  if (rng() % 6 == 0) o["project"] = {{"name", 1}};
  return o;
}

}  // namespace

CAF_TEST(random queries answer the same with and without indexes) {
  rig r;
  std::mt19937_64 rng(7);
  for (const char* f : {"age", "name", "tags", "nested.v", "obj"})
    CAF_CHECK(r.indexed->create_index(f).value());
  // Half the documents before the build, half after; then updates and deletes.
  auto key = [](uint64_t i) { return "d" + std::to_string(i * 7919 % 1000); };
  for (uint64_t i = 0; i < 300; ++i) r.put(key(i), random_document(rng));
  build(*r.indexed);
  for (uint64_t i = 300; i < 600; ++i) r.put(key(i), random_document(rng));
  for (uint64_t i = 0; i < 150; ++i) r.put(key(rng() % 600), random_document(rng));
  for (uint64_t i = 0; i < 60; ++i) r.erase(key(rng() % 600));
  std::map<std::string, int> plans;
  int mismatches = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string filter = random_filter(rng).dump();
    std::string options = random_options(rng).dump();
    auto expected = r.plain_reader.query(filter, options);
    auto got = r.indexed_reader.query(filter, options);
    CAF_REQUIRE_EQUAL(expected.ok(), got.ok());
    if (!expected.ok()) continue;
    auto e = r.explain(filter, options);
    ++plans[e["plan"]["type"].get<std::string>() + "/" + e["plan"]["sort"].dump()];
    if ((expected->keys != got->keys || expected->records != got->records) && ++mismatches < 5)
      CAF_FAIL("query " << filter << " " << options << " plan " << e.dump() << ": "
                        << expected->keys.size() << " results without indexes, " << got->keys.size()
                        << " with");
    CAF_CHECK_EQUAL(e["returned"].get<size_t>(), got->keys.size());
    auto n = r.indexed_reader.count(filter);
    auto m = r.plain_reader.count(filter);
    if (n.value() != m.value() && ++mismatches < 5)
      CAF_FAIL("count " << filter << ": " << m.value() << " without indexes, " << n.value()
                        << " with");
  }
  CAF_CHECK_EQUAL(mismatches, 0);
  for (const auto& [plan, n] : plans) CAF_MESSAGE(plan << ": " << n);
  for (const char* kind : {"equality/null", "in/null", "range/null", "prefix/null",
                           "sort/\"index\"", "scan/null", "range/\"index\"", "equality/\"memory\""})
    CAF_CHECK_GREATER(plans[kind], 0);
}
