// The query filter: each operator of the table in protocol/filter.hpp against a fixed set of
// documents, dotted paths and arrays, the logical operators, JSON equality and number order, and
// the invalid_argument errors and bounds for malformed or hostile filters.
#define CAF_SUITE filter
#include "caf/test/unit_test.hpp"

#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/filter.hpp"

using namespace eventbase;
using namespace eventbase::protocol;
using json = nlohmann::ordered_json;

namespace {

/// The documents every table case runs over, by name.
std::vector<std::pair<std::string, json>> documents() {
  return {
      {"ann", json::parse(R"({"name":"Ann","age":42,"city":"Oslo","tags":["a","b"],
                             "address":{"zip":"0150","geo":{"lat":59.9}},"score":1.5})")},
      {"bob", json::parse(R"({"name":"Bob","age":17,"city":"Bergen","tags":["b"],
                             "address":{"zip":"5003"},"nick":null})")},
      {"cy", json::parse(R"({"name":"Cy","age":90,"tags":[],"score":90,
                            "orders":[{"id":1,"total":10},{"id":2,"total":99}]})")},
      {"dee", json::parse(R"({"name":"Dée","age":"42","city":"Ørsta","tags":["a","c",["x"]]})")},
      {"eve", json::parse(R"({"age":42.0,"address":{"zip":5003},"obj":{"x":1,"y":[1,2]}})")},
      {"arr", json::parse(R"([1,2,3])")},
  };
}

/// The names of the documents `spec` matches, in the order of documents(); fails the test when
/// the filter does not compile or a match fails.
std::string matching(std::string spec) {
  auto f = filter::compile(json::parse(spec));
  if (!f.ok()) CAF_FAIL("compiling " << spec << ": " << f.error().to_string());
  std::string names;
  for (const auto& [name, doc] : documents()) {
    auto r = f->matches(doc);
    if (!r.ok()) CAF_FAIL("matching " << spec << ": " << r.error().to_string());
    if (*r) names += (names.empty() ? "" : " ") + name;
  }
  return names;
}

/// The error message compiling `spec` gives, or "compiled" when it compiles.
std::string error_of(std::string spec) {
  auto f = filter::compile(json::parse(spec));
  if (f.ok()) return "compiled";
  if (f.error().code() != errc::invalid_argument) return "wrong code: " + f.error().to_string();
  return f.error().message();
}

bool contains(std::string text, std::string part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

CAF_TEST(empty filter matches every document) {
  CAF_CHECK_EQUAL(matching("{}"), "ann bob cy dee eve arr");
  CAF_CHECK(filter().matches_all());
  auto empty = filter::compile(json::object());
  CAF_REQUIRE(empty.ok());
  CAF_CHECK(empty->matches_all());
  auto some = filter::compile(json::parse(R"({"a":1})"));
  CAF_REQUIRE(some.ok());
  CAF_CHECK(!some->matches_all());
}

CAF_TEST(implicit equality and eq) {
  CAF_CHECK_EQUAL(matching(R"({"name":"Ann"})"), "ann");
  CAF_CHECK_EQUAL(matching(R"({"name":{"$eq":"Ann"}})"), "ann");
  // Numbers by value, never across types: 42 equals 42.0, not "42".
  CAF_CHECK_EQUAL(matching(R"({"age":42})"), "ann eve");
  CAF_CHECK_EQUAL(matching(R"({"age":"42"})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"name":"Ann","age":42})"), "ann");
  CAF_CHECK_EQUAL(matching(R"({"name":"Ann","age":17})"), "");
  // Objects regardless of member order, arrays element by element.
  CAF_CHECK_EQUAL(matching(R"({"obj":{"y":[1,2],"x":1}})"), "eve");
  CAF_CHECK_EQUAL(matching(R"({"obj":{"x":1}})"), "");
  CAF_CHECK_EQUAL(matching(R"({"tags":["a","b"]})"), "ann");
  CAF_CHECK_EQUAL(matching(R"({"tags":["b","a"]})"), "");
  CAF_CHECK_EQUAL(matching(R"({"tags":[]})"), "cy");
  // An array field matches when any element does; a nested array is an element too.
  CAF_CHECK_EQUAL(matching(R"({"tags":"b"})"), "ann bob");
  CAF_CHECK_EQUAL(matching(R"({"tags":["x"]})"), "dee");
  // null matches null and a missing field.
  CAF_CHECK_EQUAL(matching(R"({"nick":null})"), "ann bob cy dee eve arr");
  CAF_CHECK_EQUAL(matching(R"({"city":null})"), "cy eve arr");
}

CAF_TEST(ne matches what eq does not ) {
  CAF_CHECK_EQUAL(matching(R"({"age":{"$ne":42}})"), "bob cy dee arr");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$ne":"a"}})"), "bob cy eve arr");
  CAF_CHECK_EQUAL(matching(R"({"city":{"$ne":null}})"), "ann bob dee");
}

CAF_TEST(ranges compare numbers with numbers and strings with strings) {
  CAF_CHECK_EQUAL(matching(R"({"age":{"$gt":42}})"), "cy");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$gte":42}})"), "ann cy eve");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$lt":42}})"), "bob");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$lte":42}})"), "ann bob eve");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$gte":17,"$lt":90}})"), "ann bob eve");
  CAF_CHECK_EQUAL(matching(R"({"score":{"$gt":1.4,"$lt":1.6}})"), "ann");
  // Strings by code point: "Ø" (U+00D8) sorts after every ASCII letter.
  CAF_CHECK_EQUAL(matching(R"({"city":{"$gt":"Oslo"}})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"city":{"$lt":"Oslo"}})"), "bob");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$gte":"0"}})"), "dee");
  // Array elements: any element in range.
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$gt":"b"}})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"orders.total":{"$gt":50}})"), "cy");
}

CAF_TEST(in nin and all) {
  CAF_CHECK_EQUAL(matching(R"({"age":{"$in":[17,90]}})"), "bob cy");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$in":[]}})"), "");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$in":["c","x"]}})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"city":{"$in":[null,"Oslo"]}})"), "ann cy eve arr");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$nin":[17,90]}})"), "ann dee eve arr");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$nin":["a"]}})"), "bob cy eve arr");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$all":["a","b"]}})"), "ann");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$all":["b"]}})"), "ann bob");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$all":["a",["x"]]}})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$all":[]}})"), "");
  CAF_CHECK_EQUAL(matching(R"({"name":{"$all":["Ann"]}})"), "ann");
}

CAF_TEST(exists) {
  CAF_CHECK_EQUAL(matching(R"({"city":{"$exists":true}})"), "ann bob dee");
  CAF_CHECK_EQUAL(matching(R"({"nick":{"$exists":true}})"), "bob");
  CAF_CHECK_EQUAL(matching(R"({"city":{"$exists":false}})"), "cy eve arr");
  CAF_CHECK_EQUAL(matching(R"({"address.geo.lat":{"$exists":true}})"), "ann");
}

CAF_TEST(not negates an operator object) {
  CAF_CHECK_EQUAL(matching(R"({"age":{"$not":{"$gte":42}}})"), "bob dee arr");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$not":{"$gte":17,"$lt":50}}})"), "cy dee arr");
  CAF_CHECK_EQUAL(matching(R"({"name":{"$not":{"$regex":"^[AB]"}}})"), "cy dee eve arr");
}

CAF_TEST(regex and starts with) {
  CAF_CHECK_EQUAL(matching(R"({"name":{"$regex":"^[AB]"}})"), "ann bob");
  CAF_CHECK_EQUAL(matching(R"({"name":{"$regex":"e"}})"), "dee");      // "Dée" has one plain 'e'
  CAF_CHECK_EQUAL(matching(R"({"name":{"$regex":"^D.e$"}})"), "dee");  // by code point
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$regex":"^c$"}})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"age":{"$regex":"4"}})"), "dee");  // strings only
  CAF_CHECK_EQUAL(matching(R"({"city":{"$sw":"O"}})"), "ann");
  CAF_CHECK_EQUAL(matching(R"({"city":{"$sw":"Ø"}})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"city":{"$sw":""}})"), "ann bob dee");
  CAF_CHECK_EQUAL(matching(R"({"tags":{"$sw":"c"}})"), "dee");
  CAF_CHECK_EQUAL(matching(R"({"address.zip":{"$sw":"50"}})"), "bob");
}

CAF_TEST(dotted paths) {
  CAF_CHECK_EQUAL(matching(R"({"address.zip":"5003"})"), "bob");
  CAF_CHECK_EQUAL(matching(R"({"address.zip":5003})"), "eve");
  CAF_CHECK_EQUAL(matching(R"({"address.geo.lat":59.9})"), "ann");
  CAF_CHECK_EQUAL(matching(R"({"address.geo":{"lat":59.9}})"), "ann");
  // Into arrays: each object element, and a numeric step indexes.
  CAF_CHECK_EQUAL(matching(R"({"orders.id":2})"), "cy");
  CAF_CHECK_EQUAL(matching(R"({"orders.1.total":99})"), "cy");
  CAF_CHECK_EQUAL(matching(R"({"orders.0.total":99})"), "");
  CAF_CHECK_EQUAL(matching(R"({"tags.0":"a"})"), "ann dee");
  CAF_CHECK_EQUAL(matching(R"({"name.first":{"$exists":true}})"), "");
  // A document that is not an object has no fields.
  CAF_CHECK_EQUAL(matching(R"({"0":1})"), "");
}

CAF_TEST(logical operators) {
  CAF_CHECK_EQUAL(matching(R"({"$and":[{"age":42},{"city":"Oslo"}]})"), "ann");
  CAF_CHECK_EQUAL(matching(R"({"$or":[{"age":17},{"city":"Oslo"}]})"), "ann bob");
  CAF_CHECK_EQUAL(matching(R"({"$nor":[{"age":17},{"city":"Oslo"}]})"), "cy dee eve arr");
  CAF_CHECK_EQUAL(matching(R"({"age":42,"$or":[{"city":"Oslo"},{"city":{"$exists":false}}]})"),
                  "ann eve");
  CAF_CHECK_EQUAL(
      matching(R"({"$or":[{"$and":[{"age":{"$gt":10}},{"age":{"$lt":20}}]},{"name":"Cy"}]})"),
      "bob cy");
}

CAF_TEST(json equality and number order) {
  CAF_CHECK(json_equal(json::parse("1"), json::parse("1.0")));
  CAF_CHECK(!json_equal(json::parse("1"), json::parse("\"1\"")));
  CAF_CHECK(!json_equal(json::parse("0"), json::parse("false")));
  CAF_CHECK(!json_equal(json::parse("null"), json::parse("false")));
  CAF_CHECK(json_equal(json::parse(R"({"a":1,"b":[{"c":2}]})"),
                       json::parse(R"({"b":[{"c":2.0}],"a":1})")));
  CAF_CHECK(!json_equal(json::parse(R"({"a":1})"), json::parse(R"({"b":1})")));
  CAF_CHECK(!json_equal(json::parse("[1,2]"), json::parse("[2,1]")));
  CAF_CHECK_EQUAL(compare_numbers(json::parse("-1"), json::parse("18446744073709551615")), -1);
  CAF_CHECK_EQUAL(compare_numbers(json::parse("18446744073709551615"), json::parse("-1")), 1);
  CAF_CHECK_EQUAL(
      compare_numbers(json::parse("9007199254740993"), json::parse("9007199254740992.0")), 1);
  CAF_CHECK_EQUAL(compare_numbers(json::parse("-5"), json::parse("-7")), 1);
  CAF_CHECK_EQUAL(compare_numbers(json::parse("2.5"), json::parse("2.5")), 0);
}

CAF_TEST(malformed filters name the offending part) {
  CAF_CHECK(contains(error_of("[]"), "a filter must be an object"));
  CAF_CHECK(contains(error_of("42"), "a filter must be an object"));
  CAF_CHECK(contains(error_of(R"({"age":{"$foo":1}})"), "unknown operator '$foo' at 'age'"));
  CAF_CHECK(contains(error_of(R"({"$foo":[{}]})"), "unknown top-level operator '$foo'"));
  CAF_CHECK(contains(error_of(R"({"$or":{}})"), "$or needs a non-empty array"));
  CAF_CHECK(contains(error_of(R"({"$and":[]})"), "$and needs a non-empty array"));
  CAF_CHECK(contains(error_of(R"({"$nor":[1]})"), "a filter must be an object, not number"));
  CAF_CHECK(contains(error_of(R"({"age":{"$gt":true}})"),
                     "$gt at 'age' needs a number or a string, not boolean"));
  CAF_CHECK(contains(error_of(R"({"age":{"$lte":[1]}})"), "$lte at 'age' needs a number"));
  CAF_CHECK(contains(error_of(R"({"tags":{"$in":"a"}})"), "$in at 'tags' needs an array"));
  CAF_CHECK(contains(error_of(R"({"tags":{"$nin":1}})"), "$nin at 'tags' needs an array"));
  CAF_CHECK(contains(error_of(R"({"tags":{"$all":{}}})"), "$all at 'tags' needs an array"));
  CAF_CHECK(contains(error_of(R"({"a":{"$exists":1}})"), "$exists at 'a' needs true or false"));
  CAF_CHECK(contains(error_of(R"({"a":{"$not":1}})"), "$not at 'a' needs an operator object"));
  CAF_CHECK(contains(error_of(R"({"a":{"$not":{"x":1}}})"), "$not at 'a' needs an operator"));
  CAF_CHECK(contains(error_of(R"({"a":{"$regex":1}})"), "$regex at 'a' needs a string"));
  CAF_CHECK(contains(error_of(R"({"a":{"$regex":"a("}})"), "$regex at 'a': invalid regex"));
  CAF_CHECK(contains(error_of(R"({"a":{"$sw":null}})"), "$sw at 'a' needs a string, not null"));
  CAF_CHECK(contains(error_of(R"({"a":{"$gt":1,"b":2}})"), "field 'b' mixed with operators"));
  CAF_CHECK(contains(error_of(R"({"a..b":1})"), "empty step in field path 'a..b'"));
  CAF_CHECK(contains(error_of(R"({"":1})"), "empty step in field path ''"));
  CAF_CHECK(contains(error_of(R"({"a":{"$not":{"$bad":1}}})"), "unknown operator '$bad' at 'a'"));
  CAF_CHECK(contains(error_of(R"({"$or":[{"a":{"$in":1}}]})"), "$in at 'a' needs an array"));
  // Every message starts with "filter: ".
  CAF_CHECK(contains(error_of(R"({"a":{"$foo":1}})").substr(0, 8), "filter: "));
}

CAF_TEST(hostile filters are bounded) {
  // Nesting: 64 levels compile, 65 do not.
  auto nested = [](size_t levels) {
    json f = json::object();
    for (size_t i = 1; i < levels; i += 2) f = json{{"$or", json::array({f})}};
    return f;
  };
  CAF_CHECK(filter::compile(nested(63)).ok());
  auto deep = filter::compile(nested(65));
  CAF_REQUIRE(!deep.ok());
  CAF_CHECK(contains(deep.error().message(), "nests deeper than 64 levels"));
  // Clauses.
  json many = json::object();
  for (size_t i = 0; i <= kMaxFilterClauses; ++i) many["f" + std::to_string(i)] = 1;
  auto wide = filter::compile(many);
  CAF_REQUIRE(!wide.ok());
  CAF_CHECK(contains(wide.error().message(), "more than 1024 clauses"));
  // Values.
  json in_list = json::array();
  for (size_t i = 0; i < kMaxFilterValues; ++i) in_list.push_back(i);
  auto big = filter::compile(json{{"a", {{"$in", in_list}}}});
  CAF_REQUIRE(!big.ok());
  CAF_CHECK(contains(big.error().message(), "more than 100000 values"));
  in_list.erase(in_list.begin(), in_list.begin() + 10);
  CAF_CHECK(filter::compile(json{{"a", {{"$in", in_list}}}}).ok());
  // A catastrophic regex stops at key_pattern's match limit with an error, not an answer.
  auto slow = filter::compile(json::parse(R"({"a":{"$regex":"^(a+)+$"}})"));
  CAF_REQUIRE(slow.ok());
  auto r = slow->matches(json{{"a", std::string(40, 'a') + "!"}});
  CAF_REQUIRE(!r.ok());
  CAF_CHECK(contains(r.error().message(), "regex too complex"));
  // The spec comes back as given.
  CAF_CHECK_EQUAL(slow->spec().dump(), R"({"a":{"$regex":"^(a+)+$"}})");
}

// $in, $nin and $all look values up in a sorted list, not one by one: the answers equal those of
// the definition (some / every listed value json_equal to a value of the field or one of its
// elements) over random lists and documents mixing types, 1 and 1.0, nulls and nested values.
CAF_TEST(list operators agree with their definition) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto value = [&](auto& self, int depth) -> json {
    switch (pick(depth > 0 ? 9 : 7)) {
      case 0:
        return nullptr;
      case 1:
        return pick(2) == 0;
      case 2:
        return pick(5);
      case 3:
        return pick(5) + 0.0;
      case 4:
        return pick(5) + 0.5;
      case 5:
        return std::string(1, static_cast<char>('a' + pick(4)));
      case 6:
        return -pick(3);
      case 7:
        return json::array({self(self, depth - 1), self(self, depth - 1)});
      default:
        return json{{"k", self(self, depth - 1)}};
    }
  };
  auto naive = [](const json& field, bool missing, const json& listed) {
    if (missing) return listed.is_null();
    if (json_equal(field, listed)) return true;
    if (field.is_array())
      for (const auto& e : field)
        if (json_equal(e, listed)) return true;
    return false;
  };
  int in_true = 0, all_true = 0;
  for (int round = 0; round < 3000; ++round) {
    json list = json::array();
    for (int i = pick(6); i > 0; --i) list.push_back(value(value, 1));
    bool missing = pick(6) == 0;
    json field = value(value, 2);
    if (pick(3) == 0) field = json::array({value(value, 1), value(value, 1), value(value, 0)});
    json doc = missing ? json::object() : json{{"f", field}};
    bool any = false, every = !list.empty();
    for (const auto& listed : list) {
      any = any || naive(field, missing, listed);
      every = every && naive(field, missing, listed);
    }
    for (const char* op : {"$in", "$nin", "$all"}) {
      json spec = {{"f", {{op, list}}}};
      auto f = filter::compile(spec);
      CAF_REQUIRE(f.ok());
      auto got = f->matches(doc);
      CAF_REQUIRE(got.ok());
      bool expected = std::string(op) == "$in" ? any : std::string(op) == "$nin" ? !any : every;
      if (*got != expected)
        CAF_FAIL(op << " " << list.dump() << " over " << doc.dump() << ": got " << *got);
    }
    in_true += any;
    all_true += every;
  }
  // Both answers occur often enough for the comparison to mean something.
  CAF_CHECK_GREATER(in_true, 300);
  CAF_CHECK_GREATER(all_true, 30);
}

// A list of 90,000 values (near the bound of 100,000) against a field of 20,000 elements: sorted
// lookups answer at once where comparing every pair (1.8 x 10^9 comparisons) would hold a worker
// for seconds.
CAF_TEST(long lists against long arrays) {
  json list = json::array(), tags = json::array();
  for (int i = 0; i < 90000; ++i) list.push_back("v" + std::to_string(2 * i));
  for (int i = 0; i < 20000; ++i) tags.push_back("v" + std::to_string(2 * i + 1));  // all odd
  json doc = {{"tags", tags}};
  auto in = filter::compile(json{{"tags", {{"$in", list}}}});
  auto all = filter::compile(json{{"tags", {{"$all", list}}}});
  CAF_REQUIRE(in.ok() && all.ok());
  CAF_CHECK_EQUAL(in->matches(doc).value(), false);
  doc["tags"].push_back("v179998");  // the last listed value
  CAF_CHECK_EQUAL(in->matches(doc).value(), true);
  CAF_CHECK_EQUAL(all->matches(doc).value(), false);
  doc["tags"] = list;
  CAF_CHECK_EQUAL(all->matches(doc).value(), true);
}
