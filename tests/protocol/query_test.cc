// Query execution without indexes: options parsing and its errors, the sort order, stable
// multi-field sorts, limit and offset with and without a sort, projection, count, and a run that
// stops early once its limit is reached.
#define CAF_SUITE query
#include "caf/test/unit_test.hpp"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/query.hpp"
#include "protocol/record.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using json = nlohmann::ordered_json;

namespace {

std::string record_of(const json& data, uint64_t seq) {
  std::string msgpack;
  append_msgpack(data, msgpack);
  return encode_record(meta{1000, 2000, 1}, seq, msgpack);
}

/// The documents, in key order as a scan yields them.
std::vector<std::pair<std::string, json>> documents() {
  return {
      {"k1", json::parse(R"({"name":"Ann","age":42,"city":"Oslo","a":{"b":1,"c":2}})")},
      {"k2", json::parse(R"({"name":"Bob","age":17,"city":"Bergen"})")},
      {"k3", json::parse(R"({"name":"Cy","age":42,"city":"Bergen"})")},
      {"k4", json::parse(R"({"name":"Dee","city":"Oslo"})")},
      {"k5", json::parse(R"({"name":"Eve","age":"x","city":"Oslo","a":{"c":3}})")},
  };
}

/// Runs `filter` with `options` over documents(); "key:data" per result, space-separated.
std::string run(std::string filter_text, std::string options_text) {
  auto f = filter::compile(json::parse(filter_text));
  if (!f.ok()) CAF_FAIL(f.error().to_string());
  auto o = parse_query_options(json::parse(options_text));
  if (!o.ok()) CAF_FAIL(o.error().to_string());
  query_run q(*f, *o);
  uint64_t seq = 0;
  for (const auto& [key, doc] : documents()) {
    auto more = q.add(key, record_of(doc, ++seq));
    if (!more.ok()) CAF_FAIL(more.error().to_string());
    if (!*more) break;
  }
  auto r = q.finish();
  if (!r.ok()) CAF_FAIL(r.error().to_string());
  std::string out;
  for (size_t i = 0; i < r->keys.size(); ++i) {
    auto view = decode_record(r->records[i]);
    if (!view.ok()) CAF_FAIL(view.error().to_string());
    auto doc = decode_document(view->data_msgpack);
    out += (out.empty() ? "" : " ") + r->keys[i];
    if (json::parse(options_text).contains("project")) out += ":" + doc->dump();
  }
  return out;
}

/// The answer of an add that must succeed, by value (check macros bind references).
bool wants_more(result<bool> r) {
  if (!r.ok()) CAF_FAIL(r.error().to_string());
  return *r;
}

uint64_t count(std::string filter_text) {
  auto f = filter::compile(json::parse(filter_text));
  if (!f.ok()) CAF_FAIL(f.error().to_string());
  query_run q(*f, query_options{}, true);
  uint64_t seq = 0;
  for (const auto& [key, doc] : documents()) {
    auto more = q.add(key, record_of(doc, ++seq));
    if (!more.ok() || !*more) CAF_FAIL("count stopped");
  }
  return q.matched();
}

std::string option_error(std::string options_text) {
  auto o = parse_query_options(json::parse(options_text));
  return o.ok() ? "parsed" : o.error().message();
}

}  // namespace

CAF_TEST(filter alone returns matches in key order) {
  CAF_CHECK_EQUAL(run("{}", "{}"), "k1 k2 k3 k4 k5");
  CAF_CHECK_EQUAL(run(R"({"city":"Oslo"})", "{}"), "k1 k4 k5");
  CAF_CHECK_EQUAL(run(R"({"age":{"$gte":40}})", "null"), "k1 k3");
}

CAF_TEST(limit and offset without sort) {
  CAF_CHECK_EQUAL(run("{}", R"({"limit":2})"), "k1 k2");
  CAF_CHECK_EQUAL(run("{}", R"({"limit":2,"offset":1})"), "k2 k3");
  CAF_CHECK_EQUAL(run("{}", R"({"offset":4})"), "k5");
  CAF_CHECK_EQUAL(run("{}", R"({"offset":9})"), "");
  CAF_CHECK_EQUAL(run("{}", R"({"limit":0})"), "k1 k2 k3 k4 k5");
  CAF_CHECK_EQUAL(run(R"({"city":"Oslo"})", R"({"limit":1,"offset":1})"), "k4");
}

CAF_TEST(a run without sort stops at its limit) {
  query_run q(filter(), *parse_query_options(json::parse(R"({"limit":2})")));
  CAF_CHECK(wants_more(q.add("a", record_of(1, 1))));
  CAF_CHECK(!wants_more(q.add("b", record_of(2, 2))));
  CAF_CHECK_EQUAL(q.examined(), 2u);
  size_t results = q.finish()->keys.size();
  CAF_CHECK_EQUAL(results, 2u);
}

CAF_TEST(sort is stable over several fields) {
  // missing (k4) < numbers < strings ("x", k5); ties in key order.
  CAF_CHECK_EQUAL(run("{}", R"({"sort":{"age":1}})"), "k4 k2 k1 k3 k5");
  CAF_CHECK_EQUAL(run("{}", R"({"sort":{"age":-1}})"), "k5 k1 k3 k2 k4");
  CAF_CHECK_EQUAL(run("{}", R"({"sort":{"city":1,"name":-1}})"), "k3 k2 k5 k4 k1");
  CAF_CHECK_EQUAL(run("{}", R"({"sort":{"a.c":-1}})"), "k5 k1 k2 k3 k4");
  CAF_CHECK_EQUAL(run("{}", R"({"sort":{"age":1},"limit":2,"offset":1})"), "k2 k1");
  CAF_CHECK_EQUAL(run("{}", R"({"sort":{"age":-1},"limit":1})"), "k5");
  CAF_CHECK_EQUAL(run(R"({"city":"Bergen"})", R"({"sort":{"name":-1},"limit":5})"), "k3 k2");
}

CAF_TEST(sort order across types) {
  auto order = [](std::string a, std::string b) {
    json x = json::parse(a), y = json::parse(b);
    return compare_for_sort(&x, &y);
  };
  CAF_CHECK_EQUAL(compare_for_sort(nullptr, nullptr), 0);
  json null_value;
  CAF_CHECK_EQUAL(compare_for_sort(nullptr, &null_value), 0);
  CAF_CHECK_EQUAL(order("null", "-5"), -1);
  CAF_CHECK_EQUAL(order("1e300", "\"\""), -1);
  CAF_CHECK_EQUAL(order("\"b\"", "\"a\""), 1);
  CAF_CHECK_EQUAL(order("\"é\"", "\"z\""), 1);
  CAF_CHECK_EQUAL(order("\"z\"", "{}"), -1);
  CAF_CHECK_EQUAL(order(R"({"a":1})", R"({"a":2})"), -1);
  CAF_CHECK_EQUAL(order(R"({"a":1})", R"({"a":1,"b":0})"), -1);
  CAF_CHECK_EQUAL(order("{}", "[]"), -1);
  CAF_CHECK_EQUAL(order("[1,2]", "[1,3]"), -1);
  CAF_CHECK_EQUAL(order("[1]", "false"), -1);
  CAF_CHECK_EQUAL(order("true", "false"), 1);
  CAF_CHECK_EQUAL(order("2", "2.0"), 0);
}

CAF_TEST(project keeps the named fields in document order) {
  CAF_CHECK_EQUAL(run(R"({"name":"Ann"})", R"({"project":{"city":1,"name":true}})"),
                  R"(k1:{"name":"Ann","city":"Oslo"})");
  CAF_CHECK_EQUAL(run(R"({"name":"Ann"})", R"({"project":{"a.c":1}})"), R"(k1:{"a":{"c":2}})");
  CAF_CHECK_EQUAL(run(R"({"name":"Bob"})", R"({"project":{"a.c":1,"nope":1}})"), "k2:{}");
  CAF_CHECK_EQUAL(
      run(R"({"city":"Oslo"})", R"({"project":{"age":1},"sort":{"name":-1},"limit":2})"),
      R"(k5:{"age":"x"} k4:{})");
}

CAF_TEST(projected records keep their metadata) {
  query_run q(filter(), *parse_query_options(json::parse(R"({"project":{"x":1}})")));
  CAF_REQUIRE(wants_more(q.add("a", record_of(json::parse(R"({"x":1,"y":2})"), 7))));
  auto r = q.finish();
  CAF_REQUIRE(r.ok());
  CAF_REQUIRE_EQUAL(r->records.size(), 1u);
  auto view = decode_record(r->records[0]);
  CAF_REQUIRE(view.ok());
  CAF_CHECK_EQUAL(view->sequence, 7u);
  CAF_CHECK(view->m == (meta{1000, 2000, 1}));
}

CAF_TEST(count counts every match) {
  CAF_CHECK_EQUAL(count("{}"), 5u);
  CAF_CHECK_EQUAL(count(R"({"city":"Oslo"})"), 3u);
  CAF_CHECK_EQUAL(count(R"({"age":{"$exists":false}})"), 1u);
  CAF_CHECK_EQUAL(count(R"({"name":"Zed"})"), 0u);
}

CAF_TEST(corrupt records fail the run) {
  auto f = filter::compile(json::parse(R"({"a":1})"));
  query_run q(*f, query_options{});
  auto r = q.add("k", "not a record");
  CAF_CHECK(!r.ok() && r.error().code() == errc::corrupt);
}

CAF_TEST(bad options name the offending member) {
  auto has = [](std::string text, std::string part) {
    return text.find(part) != std::string::npos;
  };
  CAF_CHECK(has(option_error("[]"), "options must be an object"));
  CAF_CHECK(has(option_error(R"({"limt":1})"), "unknown option 'limt'"));
  CAF_CHECK(has(option_error(R"({"limit":-1})"), "limit must be a non-negative integer"));
  CAF_CHECK(has(option_error(R"({"limit":1.5})"), "limit must be a non-negative integer"));
  CAF_CHECK(has(option_error(R"({"offset":"2"})"), "offset must be a non-negative integer"));
  CAF_CHECK(has(option_error(R"({"sort":[1]})"), "sort must be an object"));
  CAF_CHECK(has(option_error(R"({"sort":{"age":2}})"), "sort of 'age' must be 1 or -1"));
  CAF_CHECK(has(option_error(R"({"sort":{"a..b":1}})"), "empty step in field path"));
  CAF_CHECK(has(option_error(R"({"project":{"age":0}})"), "project of 'age' must be 1 or true"));
  CAF_CHECK(has(option_error(R"({"project":true})"), "project must be an object"));
  CAF_CHECK_EQUAL(option_error(R"({"sort":{"a":1},"limit":3,"offset":1,"project":{"a":1}})"),
                  "parsed");
}

CAF_TEST(take hands over results as they are found with offset limit and project) {
  auto f = filter::compile(json::parse(R"({"city":{"$in":["Oslo","Bergen"]}})")).value();
  auto o = parse_query_options(json::parse(R"({"offset":1,"limit":3,"project":{"name":1}})"));
  query_run q(f, o.value());
  CAF_CHECK(q.incremental());
  std::vector<std::string> taken;
  uint64_t seq = 0;
  for (const auto& [key, doc] : documents()) {
    bool more = wants_more(q.add(key, record_of(doc, ++seq)));
    auto page = q.take(1, 1 << 20);  // one at a time, as found
    CAF_REQUIRE(page.ok());
    CAF_CHECK_LESS_OR_EQUAL(page->keys.size(), 1u);
    for (size_t i = 0; i < page->keys.size(); ++i) {
      auto view = decode_record(page->records[i]).value();
      taken.push_back(page->keys[i] + ":" + decode_document(view.data_msgpack).value().dump());
    }
    if (!more) break;
  }
  CAF_CHECK_EQUAL(q.ready(), 0u);
  CAF_CHECK_EQUAL(taken, (std::vector<std::string>{R"(k2:{"name":"Bob"})", R"(k3:{"name":"Cy"})",
                                                   R"(k4:{"name":"Dee"})"}));
  // The byte bound ends a page early, after one result at least.
  query_run all(filter(), query_options{});
  for (const auto& [key, doc] : documents()) wants_more(all.add(key, record_of(doc, 1)));
  CAF_CHECK_EQUAL(all.ready(), 5u);
  CAF_CHECK_EQUAL(all.take(10, 1).value().keys.size(), 1u);
  CAF_CHECK_EQUAL(all.take(2, 1 << 20).value().keys, (std::vector<std::string>{"k2", "k3"}));
  CAF_CHECK_EQUAL(all.ready(), 2u);
  // Sorted runs cannot hand over before the end.
  query_run sorted(filter(), parse_query_options(json::parse(R"({"sort":{"age":1}})")).value());
  CAF_CHECK(!sorted.incremental());
  CAF_CHECK(!sorted.take(1, 1).ok());
}

// held_bytes is what a server bounds a peer's query by: the keys and records kept, as they are
// kept, trimmed, handed over and finished.
CAF_TEST(held bytes follow what the run keeps) {
  std::vector<std::pair<std::string, std::string>> all;  // key, record
  uint64_t seq = 0, total = 0;
  for (const auto& [key, doc] : documents()) {
    all.emplace_back(key, record_of(doc, ++seq));
    total += key.size() + all.back().second.size();
  }
  auto size_of = [&](size_t i) { return all[i].first.size() + all[i].second.size(); };
  // Everything, unsorted: all held until finish() hands it over.
  query_run everything(filter(), query_options{});
  uint64_t expected = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    wants_more(everything.add(all[i].first, all[i].second));
    expected += size_of(i);
    CAF_CHECK_EQUAL(everything.held_bytes(), expected);
  }
  CAF_CHECK_EQUAL(everything.held_bytes(), total);
  CAF_CHECK_EQUAL(everything.finish().value().keys.size(), all.size());
  CAF_CHECK_EQUAL(everything.held_bytes(), 0u);
  // Counting holds nothing; neither do non-matches.
  query_run counting(filter(), query_options{}, true);
  auto oslo = filter::compile(json::parse(R"({"city":"Oslo"})")).value();
  query_run some(oslo, query_options{});
  for (auto& [key, record] : all) {
    wants_more(counting.add(key, record));
    wants_more(some.add(key, record));
  }
  CAF_CHECK_EQUAL(counting.held_bytes(), 0u);
  CAF_CHECK_EQUAL(some.held_bytes(), size_of(0) + size_of(3) + size_of(4));  // k1 k4 k5
  // take() gives back what it hands over, and what the offset skips.
  query_run paged(filter(), parse_query_options(json::parse(R"({"offset":1})")).value());
  for (auto& [key, record] : all) wants_more(paged.add(key, record));
  CAF_CHECK_EQUAL(paged.take(2, 1 << 20).value().keys.size(), 2u);  // k2 k3; k1 skipped
  CAF_CHECK_EQUAL(paged.held_bytes(), size_of(3) + size_of(4));
  // A sort with a limit keeps at most twice the answer: the rest is trimmed and given back.
  query_run top(filter(),
                parse_query_options(json::parse(R"({"sort":{"name":-1},"limit":1})")).value());
  for (auto& [key, record] : all) wants_more(top.add(key, record));
  CAF_CHECK_LESS(top.held_bytes(), total);
  CAF_CHECK_GREATER(top.held_bytes(), 0u);
  CAF_CHECK_EQUAL(top.finish().value().keys, std::vector<std::string>{"k5"});
  CAF_CHECK_EQUAL(top.held_bytes(), 0u);
}
