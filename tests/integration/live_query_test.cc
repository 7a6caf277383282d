// Live queries and query cursors through the C++ API (eventbase.hpp stream::subscribe(filter),
// open_cursor, query_each, consistent query and count) against a real nats-server.
#define CAF_SUITE live_queries
#include "caf/test/unit_test.hpp"

#include <random>

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;

namespace {

struct fixture {
  temp_dir dir;
  stream db = stream::open(make_config(unique_name("live"), dir)).value();

  ~fixture() { db.close(); }

  /// Every result of a cursor for (filter, options), page by page.
  std::vector<json> paged(const json& filter, const json& options, uint64_t page_size) {
    std::vector<json> out;
    auto cursor = db.open_cursor(filter, options, page_size);
    if (!cursor.ok()) return {cursor.error().to_string()};
    while (!cursor->done()) {
      auto page = cursor->next();
      if (!page.ok()) return {page.error().to_string()};
      if (page->size() > page_size) return {"a page of " + std::to_string(page->size())};
      for (auto& doc : *page) out.push_back(doc.to_json());
    }
    return out;
  }

  std::vector<json> whole(const json& filter, const json& options) {
    std::vector<json> out;
    auto found = db.query(filter, options);
    if (!found.ok()) return {found.error().to_string()};
    for (auto& doc : *found) out.push_back(doc.to_json());
    return out;
  }
};

// "key" for a change that has data, "key deleted" for one without.
std::string describe(const callback_args& c) {
  return c.key + (c.data.is_null() ? " deleted" : "");
}

}  // namespace

CAF_TEST_FIXTURE_SCOPE(live_query_tests, fixture)

CAF_TEST(a live query sees documents enter change leave and go) {
  CAF_REQUIRE(db.put("old", {{"age", 60}}).ok());
  CAF_REQUIRE(db.put("young", {{"age", 6}}).ok());
  collector<callback_args> changes;
  json filter = {{"age", {{"$gte", 30}}}};
  auto sub = db.subscribe(filter, [&](const std::string& key, const json& data,
                                      const std::optional<meta>& m, const json& event) {
                 changes.add(callback_args{key, data, m, event});
               }).value();
  CAF_REQUIRE(db.put("x", {{"age", 10}}).ok());  // outside before and after
  CAF_REQUIRE(db.put("y", {{"age", 40}}).ok());  // enters
  CAF_REQUIRE(db.put("y", {{"age", 41}}).ok());  // changes inside
  CAF_REQUIRE(db.put("y", {{"age", 20}}).ok());  // leaves
  CAF_REQUIRE(db.put("y", {{"age", 21}}).ok());  // outside
  CAF_REQUIRE(db.erase("young").ok());           // deleted outside
  CAF_REQUIRE(db.erase("old").ok());             // deleted from the set
  CAF_REQUIRE(db.put("last", {{"age", 99}}).ok());
  auto got = changes.wait_for(5);
  CAF_REQUIRE_EQUAL(got.size(), 5u);
  std::vector<std::string> seen;
  for (auto& c : got) seen.push_back(describe(c));
  CAF_CHECK_EQUAL(seen, (std::vector<std::string>{"y", "y", "y", "old deleted", "last"}));
  // The documents before and after tell entering from leaving.
  CAF_CHECK(got[0].event["oldData"].is_null());
  CAF_CHECK_EQUAL(got[0].data, json({{"age", 40}}));
  CAF_CHECK_EQUAL(got[2].event["oldData"], json({{"age", 41}}));
  CAF_CHECK_EQUAL(got[2].data, json({{"age", 20}}));
  CAF_CHECK_EQUAL(got[3].event["oldData"], json({{"age", 60}}));
  CAF_CHECK(sub.active());
  sub.unsubscribe();
}

CAF_TEST(a live query with a bad filter is refused at subscribe) {
  json filter = {{"age", {{"$between", json::array({1, 2})}}}};
  auto sub = db.subscribe(filter, [](auto&, auto&, auto&, auto&) {});
  CAF_REQUIRE(!sub.ok());
  CAF_CHECK_EQUAL(sub.error().code(), errc::invalid_argument);
  CAF_CHECK(sub.error().message().find("$between") != std::string::npos);
  // The glob form still takes strings.
  auto glob = db.subscribe("a*", [](auto&, auto&, auto&, auto&) {});
  CAF_CHECK(glob.ok());
}

CAF_TEST(cursor pages equal the one shot query over random data) {
  std::mt19937 random(20261127);
  const char* cities[] = {"Oslo", "Bergen", "Rome", "Lima"};
  for (int i = 0; i < 300; ++i) {
    json doc;
    doc["n"] = static_cast<int>(random() % 10);
    doc["city"] = cities[random() % 4];
    if (random() % 3 != 0) doc["tags"] = json::array({random() % 5, random() % 5});
    CAF_REQUIRE(db.put("k" + std::to_string(random() % 100000), doc).ok());
  }
  const std::pair<const char*, const char*> cases[] = {
      {"{}", "{}"},
      {R"({"n":{"$gte":5}})", "{}"},
      {R"({"city":"Oslo"})", R"({"offset":7,"limit":20})"},
      {R"({"tags":3})", R"({"sort":{"n":-1,"city":1}})"},
      {R"({"n":{"$lt":8}})", R"({"sort":{"city":1},"limit":33,"offset":5,"project":{"n":1}})"},
      {R"({"$or":[{"n":1},{"city":"Lima"}]})", R"({"project":{"city":1}})"},
  };
  for (auto& [filter, options] : cases) {
    auto expected = whole(json::parse(filter), json::parse(options));
    CAF_CHECK_GREATER(expected.size(), 0u);
    for (uint64_t page_size : {1, 7, 1000}) {
      CAF_MESSAGE(filter << " " << options << " in pages of " << page_size);
      CAF_CHECK(paged(json::parse(filter), json::parse(options), page_size) == expected);
    }
  }
  // query_each: the same, and it stops when the callback says so.
  std::vector<json> each;
  CAF_CHECK(db.query_each(json::object(), json::object(), [&](const keyed_document& doc) {
                each.push_back(doc.to_json());
                return true;
              }).ok());
  CAF_CHECK(each == whole(json::object(), json::object()));
  size_t calls = 0;
  CAF_CHECK(db.query_each(json::object(), json::object(), [&](const keyed_document&) {
                return ++calls < 10;
              }).ok());
  CAF_CHECK_EQUAL(calls, 10u);
}

CAF_TEST(a stream holds a bounded number of cursors) {
  for (int i = 0; i < 3; ++i) CAF_REQUIRE(db.put("k" + std::to_string(i), i).ok());
  std::vector<query_cursor> open;
  for (int i = 0; i < 64; ++i) open.push_back(db.open_cursor(json::object(), {}, 1).value());
  auto one_more = db.open_cursor(json::object(), {}, 1);
  CAF_REQUIRE(!one_more.ok());
  CAF_CHECK_EQUAL(one_more.error().code(), errc::unavailable);
  open.front().close();
  // close() does not wait for the stream; a cursor read to its end is closed by its last page
  // before next() returns, which frees a place for certain.
  auto& second = open[1];
  while (!second.done()) CAF_REQUIRE(second.next().ok());
  CAF_CHECK(db.open_cursor(json::object(), {}, 1).ok());
}

CAF_TEST(consistent queries and counts) {
  CAF_REQUIRE(db.put("a", {{"n", 1}}).ok());
  CAF_REQUIRE(db.put("b", {{"n", 2}}).ok());
  auto found = db.query({{"n", {{"$gt", 1}}}}, json::object(), read_consistency::consistent);
  CAF_REQUIRE(found.ok());
  CAF_REQUIRE_EQUAL(found->size(), 1u);
  std::string key = found->at(0).key;
  CAF_CHECK_EQUAL(key, "b");
  uint64_t counted = db.count(json::object(), read_consistency::consistent).value();
  CAF_CHECK_EQUAL(counted, 2u);
  auto bad = db.count({{"$nope", 1}}, read_consistency::consistent);
  CAF_CHECK_EQUAL(bad.error().code(), errc::invalid_argument);
  auto cursor = db.open_cursor(json::object(), json::object(), 1, read_consistency::consistent);
  CAF_REQUIRE(cursor.ok());
  auto first = cursor->next().value();
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(first[0].key, "a");
}

CAF_TEST_FIXTURE_SCOPE_END()
