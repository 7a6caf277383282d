// Index value encoding and the planner: byte order of encodings equals compare_for_sort on random
// values (numbers near every precision edge, strings with NUL bytes, nested values), sizes are
// self-delimiting, index entries of documents, and which plan each indexable operator gets.
#define CAF_SUITE index_key
#include "caf/test/unit_test.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/filter.hpp"
#include "protocol/index_key.hpp"
#include "protocol/query.hpp"
#include "protocol/query_plan.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using json = nlohmann::ordered_json;

namespace {

int sign(int c) {
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

json random_number(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> pick(0, 9);
  const double two53 = 9007199254740992.0;
  switch (pick(rng)) {
    case 0:
      return static_cast<int64_t>(rng() % 21) - 10;
    case 1:
      return static_cast<int64_t>(rng());  // any int64
    case 2:
      return static_cast<uint64_t>(rng() | (uint64_t{1} << 63));  // above int64
    case 3:
      return static_cast<int64_t>(two53) + static_cast<int64_t>(rng() % 5) - 2;
    case 4:
      return two53 + static_cast<double>(static_cast<int64_t>(rng() % 5) - 2) * 2;
    case 5:
      return static_cast<double>(static_cast<int64_t>(rng() % 21) - 10) / 4;
    case 6:
      return std::ldexp(static_cast<double>(rng() % 1000) - 500,
                        static_cast<int>(rng() % 200) - 100);
    case 7:
      return (rng() % 2 ? 1 : -1) * std::numeric_limits<double>::denorm_min() *
             static_cast<double>(rng() % 8);
    case 8:
      return 18446744073709551615.0 * (rng() % 2 ? 1 : -1);  // 2^64 as a double
    default:
      return std::numeric_limits<int64_t>::min() + static_cast<int64_t>(rng() % 3);
  }
}

json random_string(std::mt19937_64& rng) {
  static const std::vector<std::string> pieces{
      "", "a", "b", std::string(1, '\0'), "\xc3\xa9", "\xf0\x9f\x98\x80", "ab", "\x7f", "z"};
  std::string s;
  for (size_t n = rng() % 4; n > 0; --n) s += pieces[rng() % pieces.size()];
  return s;
}

json random_value(std::mt19937_64& rng, int depth) {
  switch (rng() % (depth > 0 ? 7 : 5)) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
    case 3:
      return random_number(rng);
    case 4:
      return random_string(rng);
    case 5: {
      json o = json::object();
      for (size_t n = rng() % 3; n > 0; --n)
        o[random_string(rng).get<std::string>()] = random_value(rng, depth - 1);
      return o;
    }
    default: {
      json a = json::array();
      for (size_t n = rng() % 3; n > 0; --n) a.push_back(random_value(rng, depth - 1));
      return a;
    }
  }
}

}  // namespace

CAF_TEST(encoding order is compare_for_sort order) {
  std::mt19937_64 rng(42);
  std::vector<json> values;
  for (int i = 0; i < 3000; ++i) values.push_back(random_value(rng, 3));
  int mismatches = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    std::string a = index_value(values[i]);
    CAF_CHECK_EQUAL(index_value_size(a), a.size());
    for (size_t j = i; j < values.size() && j < i + 200; ++j) {
      std::string b = index_value(values[j]);
      int expected = compare_for_sort(&values[i], &values[j]);
      int got = sign(a.compare(b));
      if (expected != got && ++mismatches < 10)
        CAF_FAIL(values[i].dump() << " vs " << values[j].dump() << ": order " << expected
                                  << ", encodings " << got);
      // Self-delimiting: the value followed by any key still orders by value first.
      if (expected != 0) CAF_CHECK_EQUAL(sign((a + "zz").compare(b + "\x01")), expected);
    }
  }
  CAF_CHECK_EQUAL(mismatches, 0);
}

CAF_TEST(numbers encode by exact value) {
  CAF_CHECK_EQUAL(index_value(json(1)), index_value(json(1.0)));
  CAF_CHECK_EQUAL(index_value(json(uint64_t{5})), index_value(json(int64_t{5})));
  CAF_CHECK_EQUAL(index_value(json(-0.0)), index_value(json(0)));
  // 2^53 + 1 has no double; the integer sorts above the double 2^53.
  CAF_CHECK_LESS(index_value(json(9007199254740992.0)),
                 index_value(json(int64_t{9007199254740993})));
  CAF_CHECK_LESS(index_value(json(int64_t{-3})), index_value(json(-2.5)));
  CAF_CHECK_EQUAL(index_value(json(nullptr)), std::string(1, kIndexNull));
  std::string missing;
  append_index_value(nullptr, missing);
  CAF_CHECK_EQUAL(missing, index_value(json(nullptr)));
}

CAF_TEST(string prefixes) {
  std::string p = index_string_prefix("ab");
  CAF_CHECK_EQUAL(index_value(json("abc")).rfind(p, 0), 0u);
  CAF_CHECK_EQUAL(index_value(json("ab")).rfind(p, 0), 0u);
  CAF_CHECK_NOT_EQUAL(index_value(json("a")).rfind(p, 0), 0u);
  CAF_CHECK_LESS(index_value(json("abzzz")), prefix_successor(p));
  CAF_CHECK_EQUAL(prefix_successor("a\xff"), "b");
  CAF_CHECK_EQUAL(prefix_successor("\xff"), "");
}

CAF_TEST(entries of documents) {
  auto entries = [](const char* doc, const char* field, bool& multikey) {
    std::vector<std::string> path;
    CAF_REQUIRE(split_field_path(field, path).ok());
    std::vector<std::string> out;
    multikey = index_entries(json::parse(doc), path, out);
    return out;
  };
  bool multikey = false;
  auto e = entries(R"({"age":42})", "age", multikey);
  CAF_CHECK(!multikey);
  CAF_CHECK(e == std::vector<std::string>{index_value(json(42))});
  e = entries(R"({"name":"x"})", "age", multikey);
  CAF_CHECK(!multikey);
  CAF_CHECK(e == std::vector<std::string>{index_value(json(nullptr))});
  e = entries(R"({"tags":["b","a","b"]})", "tags", multikey);
  CAF_CHECK(multikey);
  CAF_CHECK(e == (std::vector<std::string>{index_value(json("a")), index_value(json("b"))}));
  e = entries(R"({"tags":[]})", "tags", multikey);
  CAF_CHECK(multikey);
  CAF_CHECK(e.empty());
  e = entries(R"({"a":[{"b":1},{"c":2},{"b":[3]}]})", "a.b", multikey);
  CAF_CHECK(multikey);
  CAF_CHECK(e == (std::vector<std::string>{index_value(json(1)), index_value(json(3))}));
  e = entries(R"([1,2])", "a", multikey);
  CAF_CHECK(!multikey);
  CAF_CHECK(e == std::vector<std::string>{index_value(json(nullptr))});
  e = entries(R"({"a":{"b":{"c":1}}})", "a.b", multikey);
  CAF_CHECK(!multikey);
  CAF_CHECK(e == std::vector<std::string>{index_value(json::parse(R"({"c":1})"))});
}

namespace {

query_plan plan(const char* filter_text, const char* options_text, bool multikey = false) {
  std::vector<index_choice> indexes{{"age", {"age"}, multikey}, {"name", {"name"}, false}};
  auto options = parse_query_options(json::parse(options_text));
  CAF_REQUIRE(options.ok());
  return plan_query(json::parse(filter_text), *options, indexes);
}

}  // namespace

CAF_TEST(planner) {
  auto p = plan(R"({"age":42})", "{}");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("equality"));
  CAF_CHECK_EQUAL(p.index, 0u);
  CAF_CHECK(p.covered);
  p = plan(R"({"age":{"$eq":42},"city":"Oslo"})", "{}");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("equality"));
  CAF_CHECK(!p.covered);
  p = plan(R"({"age":{"$in":[3,1,1.0]}})", "{}");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("in"));
  CAF_CHECK_EQUAL(p.ranges.size(), 2u);
  CAF_CHECK(p.covered);
  CAF_CHECK(!plan(R"({"age":{"$in":[3,1]}})", "{}", true).covered);
  p = plan(R"({"age":{"$gte":10,"$lt":20}})", "{}");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("range"));
  CAF_REQUIRE_EQUAL(p.ranges.size(), 1u);
  CAF_CHECK_EQUAL(p.ranges[0].begin, index_value(json(10)));
  CAF_CHECK_EQUAL(p.ranges[0].end, index_value(json(20)));
  CAF_CHECK(p.covered);
  p = plan(R"({"age":{"$gte":10,"$lt":20}})", "{}", true);
  CAF_CHECK_EQUAL(p.ranges[0].end, std::string(1, kIndexString));
  CAF_CHECK(!p.covered);
  p = plan(R"({"age":{"$gt":30,"$lt":20}})", "{}");
  CAF_CHECK(p.ranges.empty());
  p = plan(R"({"$and":[{"name":{"$sw":"Jo"}},{"age":{"$gt":1}}]})", "{}");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("range"));
  p = plan(R"({"name":{"$sw":"Jo"}})", "{}");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("prefix"));
  CAF_CHECK(p.covered);
  p = plan(R"({"name":{"$sw":"Jo"},"age":{"$in":[1]}})", "{}");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("in"));
  CAF_CHECK_EQUAL(p.index, 0u);
  // Not indexable.
  for (const char* f :
       {R"({"age":{"$ne":1}})", R"({"age":{"$nin":[1]}})", R"({"age":{"$exists":false}})",
        R"({"age":{"$not":{"$eq":1}}})", R"({"$or":[{"age":1},{"age":2}]})", R"({"age":[1,2]})",
        R"({"age":{"$in":[[1]]}})", R"({"city":"Oslo"})"})
    CAF_CHECK_EQUAL(to_string(plan(f, "{}").kind), std::string("scan"));
  // Sort with a limit on an indexed field; not without a limit nor on a multikey index.
  p = plan("{}", R"({"sort":{"age":-1},"limit":10})");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("sort"));
  CAF_CHECK_EQUAL(p.order, -1);
  CAF_CHECK_EQUAL(to_string(plan("{}", R"({"sort":{"age":1}})").kind), std::string("scan"));
  CAF_CHECK_EQUAL(to_string(plan("{}", R"({"sort":{"age":1},"limit":1})", true).kind),
                  std::string("scan"));
  p = plan(R"({"age":{"$gt":5}})", R"({"sort":{"age":1},"limit":3})");
  CAF_CHECK_EQUAL(to_string(p.kind), std::string("range"));
  CAF_CHECK_EQUAL(p.order, 1);
}
