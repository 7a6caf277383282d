#define CAF_SUITE stream_basics
#include "caf/test/unit_test.hpp"

#include "eventbase/eventbase.hpp"
#include "protocol/timestamp.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

struct fixture {
  temp_dir dir;
  std::string name = unique_name("basics");
  stream db = stream::open(make_config(name, dir)).value();

  ~fixture() { db.close(); }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(stream_basics_tests, fixture)

// A document store returns what was stored: the members of every object in the order they
// were written, through every way of writing and reading (README "Key order").
CAF_TEST(documents keep their key order on every path) {
  const std::string text = R"({"zeta":1,"alpha":{"y":[{"b":1,"a":2}],"x":null},"mid":"m"})";
  auto doc = parse_document(text).value();
  CAF_CHECK_EQUAL(doc.dump(), text);
  CAF_CHECK_EQUAL(db.put("sync", doc).value().data.dump(), text);
  collector<std::string> done;
  db.put_async("async", doc, [&done](result<document> r) {
    done.add(r.ok() ? r->data.dump() : r.error().to_string());
  });
  auto replies = done.wait_for(1);
  CAF_REQUIRE_EQUAL(replies.size(), 1u);
  CAF_CHECK_EQUAL(replies[0], text);
  for (const char* key : {"sync", "async"})
    CAF_CHECK_EQUAL(db.get(key).value().value().data.dump(), text);
  CAF_CHECK_EQUAL(stringify(db.get("sync").value().value().to_json()).find(R"({"data":)" + text),
                  0u);
  // A braced initializer keeps its order too (a plain nlohmann::json would sort it).
  CAF_CHECK_EQUAL(db.put("init", {{"b", 1}, {"a", 2}}).value().data.dump(), R"({"b":1,"a":2})");
  // Another node's replica, built from the stream, through a manager.
  manager_config config;
  config.nats = test_nats();
  config.data_path = dir.sub("manager");
  auto m = manager::create(config).value();
  auto other = m.get_stream(name).value();
  CAF_CHECK_EQUAL(other.get("async").value().value().data.dump(), text);
  m.close_all();
}

CAF_TEST(put then get returns data and metadata) {
  json data = {{"name", "John Doe"}, {"age", 30}};
  auto put = db.put("user1", data);
  CAF_REQUIRE(put.ok());
  CAF_CHECK_EQUAL(put->data, data);
  CAF_CHECK_EQUAL(put->meta.changes, 1u);
  CAF_CHECK_EQUAL(put->meta.date_created, put->meta.date_modified);
  auto got = db.get("user1");
  CAF_REQUIRE(got.ok());
  CAF_REQUIRE(got->has_value());
  CAF_CHECK_EQUAL((*got)->data, data);
  CAF_CHECK_EQUAL((*got)->meta.changes, 1u);
  CAF_CHECK_EQUAL((*got)->meta.date_created, (*got)->meta.date_modified);
  CAF_CHECK(protocol::parse_iso8601_ms((*got)->meta.date_created).has_value());
}

CAF_TEST(update counts changes and moves dateModified) {
  auto first = db.put("k", json{{"version", 1}}).value();
  // Make sure the next event gets a later JetStream time than the first.
  auto first_ms = protocol::parse_iso8601_ms(first.meta.date_modified).value();
  while (protocol::now_ms() <= first_ms) {
  }
  auto second = db.put("k", json{{"version", 2}}).value();
  CAF_CHECK_EQUAL(second.meta.changes, 2u);
  CAF_CHECK_EQUAL(second.meta.date_created, first.meta.date_created);
  CAF_CHECK_GREATER(second.meta.date_modified, first.meta.date_modified);
  auto got = db.get("k").value().value();
  CAF_CHECK_EQUAL(got.data, json({{"version", 2}}));
  CAF_CHECK_EQUAL(got.meta.changes, 2u);
}

CAF_TEST(get of an absent key is empty) {
  auto got = db.get("nonexistent");
  CAF_REQUIRE(got.ok());
  CAF_CHECK(!got->has_value());
}

CAF_TEST(delete removes the key and counts purged messages) {
  db.put("user2", json{{"name", "Jane"}}).value();
  auto purged = db.erase("user2");
  CAF_REQUIRE(purged.ok());
  CAF_CHECK_EQUAL(*purged, 1u);
  CAF_CHECK(!db.get("user2").value().has_value());
  // Deleting an absent key is not an error and purges nothing.
  CAF_CHECK_EQUAL(db.erase("never-there").value(), 0u);
  // A key put again after a delete starts counting anew.
  auto again = db.put("user2", json{{"name", "Jane"}}).value();
  CAF_CHECK_EQUAL(again.meta.changes, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(stream_input_tests, fixture)

CAF_TEST(keys with special and non ascii characters) {
  std::vector<std::string> keys = {". * > / space + = ! @ # $ % ^ & ( )",
                                   "a.b",
                                   "star*",
                                   "gt>",
                                   "slash/key",
                                   "with space",
                                   "!@#$%^&*()_+",
                                   "caf\xC3\xA9",
                                   "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
                                   "\xF0\x9F\x8E\x89 party"};
  for (auto& key : keys) {
    auto put = db.put(key, json{{"key", key}});
    CAF_REQUIRE(put.ok());
  }
  for (auto& key : keys) {
    auto got = db.get(key).value();
    CAF_REQUIRE(got.has_value());
    CAF_CHECK_EQUAL(got->data, json({{"key", key}}));
  }
  auto all = db.keys().value();
  CAF_CHECK_EQUAL(all.size(), keys.size());
}

CAF_TEST(a 500 KB document round trips) {
  json big = json::object();
  big["blob"] = std::string(500 * 1024, 'x');
  big["items"] = json::array();
  for (int i = 0; i < 100; ++i) big["items"].push_back({{"id", i}, {"data", std::string(50, 't')}});
  auto put = db.put("large", big);
  CAF_REQUIRE(put.ok());
  CAF_CHECK_EQUAL(data_of(db, "large"), big);
}

CAF_TEST(a document over the nats payload limit fails and stores nothing) {
  json huge = {{"blob", std::string(2 * 1024 * 1024, 'x')}};  // nats-server's default is 1 MB
  auto put = db.put("huge", huge);
  CAF_REQUIRE(!put.ok());
  CAF_CHECK_EQUAL(put.error().code(), errc::too_large);
  CAF_CHECK_NOT_EQUAL(put.error().message().find("max_payload"), std::string::npos);
  CAF_CHECK(!db.get("huge").value().has_value());
  // The stream still works.
  CAF_CHECK(db.put("after", 1).ok());
}

CAF_TEST(keys filter with regexes) {
  for (std::string key : {"something:1", "something:2", "other:1", "user:10", "user:2"})
    db.put(key, json{{"k", key}}).value();
  auto some = db.keys("something:*").value();
  CAF_CHECK_EQUAL(some, (std::vector<std::string>{"something:1", "something:2"}));
  CAF_CHECK_EQUAL(db.keys("^user:\\d$").value(), (std::vector<std::string>{"user:2"}));
  CAF_CHECK_EQUAL(db.keys("1$").value(), (std::vector<std::string>{"other:1", "something:1"}));
  CAF_CHECK_EQUAL(db.keys("").value().size(), 5u);
  auto invalid = db.keys("user(");
  CAF_REQUIRE(!invalid.ok());
  CAF_CHECK_EQUAL(invalid.error().code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(invalid.error().message().find("invalid regex"), std::string::npos);
}

CAF_TEST(bad input gets clear errors and changes nothing) {
  db.put("keep", json{{"v", 1}}).value();
  auto empty_key = db.put("", json{{"v", 1}});
  CAF_CHECK_EQUAL(empty_key.error().code(), errc::invalid_argument);
  auto long_key = db.put(std::string(2000, 'k'), 1);
  CAF_CHECK_EQUAL(long_key.error().code(), errc::too_large);
  auto bad_utf8 = db.put("\xC3", 1);
  CAF_CHECK_EQUAL(bad_utf8.error().code(), errc::invalid_argument);
  auto bad_doc = db.put("k", json(std::string("\xFF\xFE")));
  CAF_CHECK_EQUAL(bad_doc.error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(db.get("").error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(db.erase("").error().code(), errc::invalid_argument);
  CAF_CHECK_EQUAL(db.keys().value(), (std::vector<std::string>{"keep"}));
  CAF_CHECK_EQUAL(data_of(db, "keep"), json({{"v", 1}}));
}

CAF_TEST(operations on a closed instance fail clearly) {
  db.put("k", 1).value();
  CAF_REQUIRE(db.close().ok());
  CAF_CHECK(!db.is_open());
  for (auto st :
       {db.put("k", 2).error(), db.get("k").error(), db.erase("k").error(), db.keys().error(),
        db.subscribe("*", [](auto&, auto&, auto&, auto&) {}).error()}) {
    CAF_CHECK_EQUAL(st.code(), errc::closed);
    CAF_CHECK_NOT_EQUAL(st.message().find("closed"), std::string::npos);
  }
  CAF_CHECK(db.close().ok());  // idempotent
}

CAF_TEST(invalid stream names are refused before anything is created) {
  for (std::string bad : {"", "a.b", "a b", "a*", "a>", "a/b"}) {
    auto opened = stream::open(make_config(bad, dir, "bad"));
    CAF_REQUIRE(!opened.ok());
    CAF_CHECK_EQUAL(opened.error().code(), errc::invalid_argument);
  }
}

CAF_TEST(an unreachable nats fails the open clearly) {
  auto config = make_config(unique_name("unreachable"), dir, "unreachable");
  config.nats.servers = {"nats://127.0.0.1:1"};
  auto opened = stream::open(config);
  CAF_REQUIRE(!opened.ok());
  CAF_CHECK_EQUAL(opened.error().code(), errc::unavailable);
  CAF_CHECK_NOT_EQUAL(opened.error().message().find("127.0.0.1:1"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
