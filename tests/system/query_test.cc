// Queries through the client exactly as README "Queries" names them, against eventbase-server
// and a real nats-server: `eventbase insert`, `eventbase query` with --sort, --limit, --offset
// and --project and --explain, `eventbase count`, `eventbase index create|drop|list`, and the
// errors of bad filters, options and index commands. Expected results
// are computed here from the documents the test wrote.
#define CAF_SUITE queries
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"
#include "support/nats_fixture.hpp"
#include "support/temp_dir.hpp"
#include "system/processes.hpp"

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

namespace {

constexpr int kDocuments = 200;

std::string key_of(int i) {
  std::string n = std::to_string(i);
  return "d" + std::string(3 - n.size(), '0') + n;
}

json document_of(int i) {
  static const char* cities[] = {"Oslo", "Bergen", "Ørsta"};
  json tags = i % 2 ? json::array({"a"}) : json::array({"a", "b"});
  return {{"name", "n" + std::to_string(i)},
          {"age", (i * 7) % 100},
          {"city", cities[i % 3]},
          {"tags", tags}};
}

/// The keys of the documents `keep` accepts, in key order.
std::vector<std::string> expected(const std::function<bool(const json&)>& keep) {
  std::vector<std::string> out;
  for (int i = 0; i < kDocuments; ++i)
    if (keep(document_of(i))) out.push_back(key_of(i));
  return out;
}

/// The "key" of each line a successful query printed; a failure message when it failed.
std::vector<std::string> keys_printed(const subprocess::completed& r) {
  if (r.exit_code != 0) return {"failed: " + describe(r)};
  std::vector<std::string> out;
  for (const auto& line : r.out) out.push_back(json::parse(line).at("key").get<std::string>());
  return out;
}

struct query_fixture {
  temp_dir dir;
  std::unique_ptr<server_process> server;
  std::string stream = unique_name("query");

  query_fixture() {
    server = must_start(dir.sub("db"), {"--nats=" + nats_server().url()});
    std::string input;
    for (int i = 0; i < kDocuments; ++i)
      input += json({{"key", key_of(i)}, {"data", document_of(i)}}).dump() + "\n";
    auto imported = run_client(server->address(), {"import", stream}, input);
    CAF_REQUIRE_EQUAL(single_json_line(imported), json({{"imported", kDocuments}}));
  }

  subprocess::completed client(std::vector<std::string> args) {
    return run_client(server->address(), std::move(args));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(queries_tests, query_fixture)

CAF_TEST(query prints the matching documents in key order) {
  auto r = client({"query", stream, R"({"age":42})"});
  CAF_CHECK_EQUAL(keys_printed(r), expected([](const json& d) { return d["age"] == 42; }));
  CAF_REQUIRE(!r.out.empty());
  auto first = json::parse(r.out[0]);
  CAF_CHECK_EQUAL(member(first, "data"), document_of(6));  // 6 * 7 = 42
  CAF_CHECK_EQUAL(field(first, "/meta/changes"), json(1));
  // The line's members in this order, the data's as written (the import wrote them sorted).
  CAF_CHECK(r.out[0].rfind(R"({"key":"d006","data":{"age":42,")", 0) == 0);  // as imported
  CAF_CHECK(contains(r.out[0], R"("meta":{"dateCreated":")"));

  const std::string old_in_two_cities = R"({"age":{"$gte":90},"city":{"$in":["Oslo","Ørsta"]}})";
  CAF_CHECK_EQUAL(keys_printed(client({"query", stream, old_in_two_cities})),
                  expected([](const json& d) {
                    return d["age"] >= 90 && (d["city"] == "Oslo" || d["city"] == "Ørsta");
                  }));
  CAF_CHECK_EQUAL(
      keys_printed(client({"query", stream, R"({"$or":[{"tags":"b"},{"name":{"$sw":"n19"}}]})"})),
      expected([](const json& d) {
        return d["tags"].size() == 2 || d["name"].get<std::string>().rfind("n19", 0) == 0;
      }));
  CAF_CHECK_EQUAL(keys_printed(client({"query", stream, "{}"})).size(), size_t{kDocuments});
  CAF_CHECK(client({"query", stream, R"({"age":1000})"}).out.empty());
}

CAF_TEST(query sorts limits offsets and projects) {
  // Sorted by age descending, then name ascending (as strings): computed here.
  std::vector<json> all;
  for (int i = 0; i < kDocuments; ++i) all.push_back({{"key", key_of(i)}, {"doc", document_of(i)}});
  std::stable_sort(all.begin(), all.end(), [](const json& x, const json& y) {
    if (x["doc"]["age"] != y["doc"]["age"]) return x["doc"]["age"] > y["doc"]["age"];
    return x["doc"]["name"].get<std::string>() < y["doc"]["name"].get<std::string>();
  });
  std::vector<std::string> want;
  for (size_t i = 5; i < 15; ++i) want.push_back(all[i]["key"]);
  auto r = client(
      {"query", "--sort={\"age\":-1,\"name\":1}", "--limit=10", "--offset=5", stream, R"({})"});
  CAF_CHECK_EQUAL(keys_printed(r), want);

  auto projected = client({"query", "--project={\"name\":1}", "--limit=2", stream, R"({})"});
  CAF_REQUIRE_EQUAL(projected.out.size(), 2u);
  auto second = json::parse(projected.out[1]);
  CAF_CHECK_EQUAL(member(second, "data"), json({{"name", "n1"}}));
  CAF_CHECK_EQUAL(member(second, "key"), json("d001"));
}

CAF_TEST(count prints the number of matches) {
  auto oslo = expected([](const json& d) { return d["city"] == "Oslo"; }).size();
  CAF_CHECK_EQUAL(single_json_line(client({"count", stream, R"({"city":"Oslo"})"})), json(oslo));
  CAF_CHECK_EQUAL(single_json_line(client({"count", stream, "{}"})), json(kDocuments));
  auto young = expected([](const json& d) { return d["age"] < 10; }).size();
  CAF_CHECK_EQUAL(single_json_line(client({"count", stream, R"({"age":{"$lt":10}})"})),
                  json(young));
}

CAF_TEST(insert stores under a random uuid) {
  auto inserted = single_json_line(client({"insert", stream, R"({"name":"new","age":7})"}));
  auto id = member(inserted, "id");
  CAF_REQUIRE(id.is_string());
  static const std::regex uuid_v4(
      "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  CAF_CHECK(std::regex_match(id.get<std::string>(), uuid_v4));
  CAF_CHECK_EQUAL(member(inserted, "data"), json({{"name", "new"}, {"age", 7}}));
  auto got = single_json_line(client({"get", stream, id.get<std::string>()}));
  CAF_CHECK_EQUAL(member(got, "data"), json({{"name", "new"}, {"age", 7}}));
  auto again = single_json_line(client({"insert", stream, R"({"name":"new","age":7})"}));
  CAF_CHECK_NOT_EQUAL(member(again, "id"), id);
  CAF_CHECK_EQUAL(keys_printed(client({"query", stream, R"({"name":"new"})"})).size(), 2u);
}

CAF_TEST(bad filters and options are errors naming the offending part) {
  auto unknown = client({"query", stream, R"({"age":{"$foo":1}})"});
  CAF_CHECK_EQUAL(unknown.exit_code, 1);
  CAF_CHECK(!unknown.err.empty() && contains(unknown.err[0], "invalid_argument") &&
            contains(unknown.err[0], "unknown operator '$foo' at 'age'"));
  auto type = client({"count", stream, R"({"age":{"$in":3}})"});
  CAF_CHECK_EQUAL(type.exit_code, 1);
  CAF_CHECK(!type.err.empty() && contains(type.err[0], "$in at 'age' needs an array"));
  auto not_json = client({"query", stream, "{age:1}"});
  CAF_CHECK_EQUAL(not_json.exit_code, 1);
  auto sort = client({"query", "--sort={\"age\":2}", stream, "{}"});
  CAF_CHECK_EQUAL(sort.exit_code, 1);
  CAF_CHECK(!sort.err.empty() && contains(sort.err[0], "sort of 'age' must be 1 or -1"));
  CAF_CHECK_EQUAL(client({"query", "--limit=-1", stream, "{}"}).exit_code, 2);
  CAF_CHECK_EQUAL(client({"query", "--bogus=1", stream, "{}"}).exit_code, 2);
  CAF_CHECK_EQUAL(client({"count", "--limit=1", stream, "{}"}).exit_code, 2);
}

CAF_TEST(index commands and explain) {
  CAF_CHECK_EQUAL(single_json_line(client({"index", "list", stream})), json::array());
  auto scan = single_json_line(client({"query", "--explain", stream, R"({"age":42})"}));
  CAF_CHECK_EQUAL(field(scan, "/plan/index"), json(nullptr));
  CAF_CHECK_EQUAL(field(scan, "/plan/type"), json("scan"));
  CAF_CHECK_EQUAL(member(scan, "examined"), json(kDocuments));
  auto forty_two = expected([](const json& d) { return d["age"] == 42; });
  CAF_CHECK_EQUAL(member(scan, "returned"), json(forty_two.size()));

  // create waits until the index is ready; creating it again returns it as it is.
  auto age = single_json_line(client({"index", "create", stream, "age"}));
  CAF_CHECK_EQUAL(
      age,
      json({{"field", "age"}, {"state", "ready"}, {"multikey", false}, {"progress", kDocuments}}));
  CAF_CHECK_EQUAL(single_json_line(client({"index", "create", stream, "age"})), age);
  auto tags = single_json_line(client({"index", "create", "--no-wait", stream, "tags"}));
  CAF_CHECK_EQUAL(member(tags, "field"), json("tags"));
  tags = single_json_line(client({"index", "create", stream, "tags"}));
  CAF_CHECK_EQUAL(member(tags, "state"), json("ready"));
  CAF_CHECK_EQUAL(member(tags, "multikey"), json(true));
  auto list = single_json_line(client({"index", "list", stream}));
  CAF_REQUIRE_EQUAL(list.size(), 2u);
  CAF_CHECK_EQUAL(list[0], age);
  CAF_CHECK_EQUAL(list[1], tags);

  // The planner uses them: the same results, fewer documents examined.
  auto indexed = single_json_line(client({"query", "--explain", stream, R"({"age":42})"}));
  CAF_CHECK_EQUAL(field(indexed, "/plan/index"), json("age"));
  CAF_CHECK_EQUAL(field(indexed, "/plan/type"), json("equality"));
  CAF_CHECK_EQUAL(member(indexed, "examined"), json(forty_two.size()));
  CAF_CHECK_EQUAL(member(indexed, "returned"), json(forty_two.size()));
  CAF_CHECK_EQUAL(keys_printed(client({"query", stream, R"({"age":42})"})), forty_two);
  auto old = expected([](const json& d) { return d["age"] >= 90; });
  CAF_CHECK_EQUAL(keys_printed(client({"query", stream, R"({"age":{"$gte":90}})"})), old);
  CAF_CHECK_EQUAL(single_json_line(client({"count", stream, R"({"age":{"$gte":90}})"})),
                  json(old.size()));
  auto with_b = expected([](const json& d) { return d["tags"].size() == 2; });
  CAF_CHECK_EQUAL(keys_printed(client({"query", stream, R"({"tags":"b"})"})), with_b);
  auto sorted = single_json_line(
      client({"query", "--explain", "--sort={\"age\":-1}", "--limit=3", stream, "{}"}));
  CAF_CHECK_EQUAL(field(sorted, "/plan/index"), json("age"));
  CAF_CHECK_EQUAL(field(sorted, "/plan/sort"), json("index"));
  CAF_CHECK_EQUAL(member(sorted, "returned"), json(3));
  // Sorted through the index, ties in key order: computed here.
  std::vector<json> all;
  for (int i = 0; i < kDocuments; ++i) all.push_back({{"key", key_of(i)}, {"doc", document_of(i)}});
  std::stable_sort(all.begin(), all.end(),
                   [](const json& x, const json& y) { return x["doc"]["age"] > y["doc"]["age"]; });
  std::vector<std::string> want;
  for (size_t i = 4; i < 12; ++i) want.push_back(all[i]["key"]);
  CAF_CHECK_EQUAL(keys_printed(client(
                      {"query", "--sort={\"age\":-1}", "--limit=8", "--offset=4", stream, "{}"})),
                  want);

  // Drop, and the errors.
  CAF_CHECK_EQUAL(single_json_line(client({"index", "drop", stream, "age"})),
                  json({{"dropped", "age"}}));
  auto again = client({"index", "drop", stream, "age"});
  CAF_CHECK_EQUAL(again.exit_code, 1);
  CAF_CHECK(!again.err.empty() && contains(again.err[0], "not_found"));
  CAF_CHECK_EQUAL(single_json_line(client({"index", "list", stream})).size(), 1u);
  auto bad = client({"index", "create", stream, "a..b"});
  CAF_CHECK_EQUAL(bad.exit_code, 1);
  CAF_CHECK(!bad.err.empty() && contains(bad.err[0], "invalid_argument"));
  CAF_CHECK_EQUAL(client({"index", "rebuild", stream, "age"}).exit_code, 2);
  CAF_CHECK_EQUAL(client({"index", "list", stream, "age"}).exit_code, 2);
  CAF_CHECK_EQUAL(client({"index", "drop", "--no-wait", stream, "age"}).exit_code, 2);
}

CAF_TEST_FIXTURE_SCOPE_END()
