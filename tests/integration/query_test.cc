// Queries through the C++ API (eventbase.hpp stream::insert, query, count) against a real
// nats-server: results follow puts, updates and deletes, options apply, bad filters are
// invalid_argument, and insert's keys are fresh UUID v4s; indexes (create, list, explain, drop)
// and that they survive closing and reopening the stream.
#define CAF_SUITE query_api
#include "caf/test/unit_test.hpp"

#include <regex>
#include <set>

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;

namespace {

struct fixture {
  temp_dir dir;
  stream db = stream::open(make_config(unique_name("query"), dir)).value();

  ~fixture() { db.close(); }

  /// The keys `filter` matches with `options`, in order; a failure message when it fails.
  std::vector<std::string> keys_of(const std::string& filter, const std::string& options = "{}") {
    auto found = db.query(json::parse(filter), json::parse(options));
    if (!found.ok()) return {found.error().to_string()};
    std::vector<std::string> out;
    for (const auto& doc : *found) out.push_back(doc.key);
    return out;
  }

  uint64_t count_of(const std::string& filter) { return db.count(json::parse(filter)).value(); }
};

using keys = std::vector<std::string>;

}  // namespace

CAF_TEST_FIXTURE_SCOPE(query_api_tests, fixture)

CAF_TEST(queries follow puts updates and deletes) {
  CAF_REQUIRE(db.put("a", {{"age", 42}, {"city", "Oslo"}}).ok());
  CAF_REQUIRE(db.put("b", {{"age", 17}, {"city", "Bergen"}}).ok());
  CAF_REQUIRE(db.put("c", {{"age", 90}, {"city", "Oslo"}}).ok());
  CAF_CHECK_EQUAL(keys_of(R"({"city":"Oslo"})"), (keys{"a", "c"}));
  CAF_CHECK_EQUAL(count_of(R"({"city":"Oslo"})"), 2u);
  CAF_REQUIRE(db.put("b", {{"age", 18}, {"city", "Oslo"}}).ok());
  CAF_CHECK_EQUAL(keys_of(R"({"city":"Oslo"})"), (keys{"a", "b", "c"}));
  CAF_REQUIRE(db.erase("a").ok());
  CAF_CHECK_EQUAL(keys_of(R"({"city":"Oslo"})"), (keys{"b", "c"}));
  CAF_CHECK_EQUAL(count_of("{}"), 2u);
  CAF_CHECK_EQUAL(keys_of("{}", R"({"sort":{"age":-1},"limit":1})"), (keys{"c"}));
  auto projected = db.query(json::parse(R"({"age":18})"), json::parse(R"({"project":{"city":1}})"));
  CAF_REQUIRE(projected.ok());
  CAF_REQUIRE_EQUAL(projected->size(), 1u);
  CAF_CHECK_EQUAL(
      projected->at(0).to_json().dump().find(R"({"key":"b","data":{"city":"Oslo"},"meta":{)"), 0u);
  CAF_CHECK_EQUAL(projected->at(0).meta.changes, 2u);
}

CAF_TEST(insert uses fresh uuid v4 keys) {
  static const std::regex uuid_v4(
      "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto inserted = db.insert({{"n", i}});
    CAF_REQUIRE(inserted.ok());
    CAF_CHECK(std::regex_match(inserted->key, uuid_v4));
    CAF_CHECK_EQUAL(inserted->data, (json{{"n", i}}));
    ids.insert(inserted->key);
  }
  CAF_CHECK_EQUAL(ids.size(), 20u);
  CAF_CHECK_EQUAL(count_of(R"({"n":{"$gte":10}})"), 10u);
}

CAF_TEST(bad filters and options are invalid arguments) {
  auto bad = db.query(json::parse(R"({"n":{"$bogus":1}})"));
  CAF_REQUIRE(!bad.ok());
  CAF_CHECK_EQUAL(bad.error().code(), errc::invalid_argument);
  auto options = db.query(json::object(), json::parse(R"({"limit":"x"})"));
  CAF_REQUIRE(!options.ok());
  CAF_CHECK_EQUAL(options.error().code(), errc::invalid_argument);
  auto count = db.count(json::array());
  CAF_REQUIRE(!count.ok());
  CAF_CHECK_EQUAL(count.error().code(), errc::invalid_argument);
}

CAF_TEST(indexes through the api survive a reopen) {
  for (int i = 0; i < 300; ++i)
    CAF_REQUIRE(
        db.put("k" + std::to_string(1000 + i), {{"age", i % 30}, {"tags", {"t", i % 4}}}).ok());
  auto age = db.create_index("age");
  CAF_REQUIRE(age.ok());
  CAF_CHECK_EQUAL(age->state, "ready");
  CAF_CHECK_EQUAL(age->progress, 300u);
  CAF_CHECK(!age->multikey);
  auto tags = db.create_index("tags", /*wait=*/false);
  CAF_REQUIRE(tags.ok());
  CAF_REQUIRE(db.put("k2000", {{"age", 7}, {"tags", {"new"}}}).ok());  // while it builds
  auto built = db.create_index("tags");                                // waits for the build
  CAF_REQUIRE(built.ok());
  CAF_CHECK_EQUAL(built->state, "ready");
  auto bad = db.create_index("a..b");
  CAF_REQUIRE(!bad.ok());
  CAF_CHECK_EQUAL(bad.error().code(), errc::invalid_argument);
  auto plan = db.explain(json::parse(R"({"age":7})")).value();
  CAF_CHECK_EQUAL(plan["plan"]["index"], json("age"));
  CAF_CHECK_EQUAL(plan["returned"], json(11));
  CAF_CHECK_EQUAL(keys_of(R"({"tags":"new"})"), (keys{"k2000"}));
  CAF_CHECK_EQUAL(count_of(R"({"age":{"$lt":3}})"), 30u);
  auto config = make_config(db.name(), dir);
  CAF_REQUIRE(db.close().ok());
  db = stream::open(config).value();
  auto listed = db.list_indexes().value();
  CAF_REQUIRE_EQUAL(listed.size(), 2u);
  CAF_CHECK_EQUAL(listed[0].field, "age");
  CAF_CHECK_EQUAL(listed[1].field, "tags");
  CAF_CHECK_EQUAL(listed[1].state, "ready");
  CAF_CHECK(listed[1].multikey);
  auto again = db.explain(json::parse(R"({"tags":"new"})")).value();
  CAF_CHECK_EQUAL(again["plan"]["index"], json("tags"));
  CAF_CHECK_EQUAL(again["returned"], json(1));
  CAF_REQUIRE(db.erase("k2000").ok());
  CAF_CHECK(keys_of(R"({"tags":"new"})").empty());
  CAF_CHECK(db.drop_index("tags").ok());
  auto missing = db.drop_index("tags");
  CAF_CHECK_EQUAL(missing.code(), errc::not_found);
  auto left = db.list_indexes();
  CAF_REQUIRE(left.ok());
  CAF_CHECK_EQUAL(left->size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
