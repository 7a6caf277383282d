// Wire compatibility with the JavaScript library (2.4, 3.x), checked from its side of the wire.
// The JS side here is raw NATS (cnats, through raw_client), with no Eventbase code: it creates
// streams as the JS library does ({"name","subjects":["<name>.*"]}), publishes what it publishes
// (JSON.stringify({type, id, data, timestamp}) to <stream>.<base64(id)>-put|-delete with
// js.publish, no headers) and reads what it reads (the stored payload, JSON.parse, headers
// ignored). Subjects are spelled out (Node's Buffer base64 of each key), and every expected
// payload is what Node 20's JSON.stringify writes for the same event. The Eventbase side is the
// C++ API on a real nats-server and RocksDB.
#define CAF_SUITE wire_compat
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "eventbase/eventbase.hpp"
#include "protocol/base64.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;

namespace {

using update = callback_args;

struct fixture {
  temp_dir dir;
  std::string name = unique_name("wire");
  raw_client js;  // the JavaScript library's side of the wire

  subscription watch(stream& db, collector<update>& into) { return collect(db, "*", into); }

  // A JS publish: the event's bytes as the JS library sends them, acknowledged by JetStream.
  void js_publish(const std::string& subject_key, const std::string& suffix,
                  const std::string& payload) {
    auto ack = js.request(name + "." + subject_key + suffix, payload);
    CAF_REQUIRE_NOT_EQUAL(ack.find("\"seq\""), std::string::npos);
  }

  // Creates the stream as the JS library's setupNats does (no per-subject limit).
  void js_create_stream() {
    auto reply = js.request("$JS.API.STREAM.CREATE." + name,
                            R"({"name":")" + name + R"(","subjects":[")" + name + R"(.*"]})");
    CAF_REQUIRE_EQUAL(reply.find("\"error\""), std::string::npos);
  }
};

// The top-level field names of a JSON object, in order: what a JS reader's Object.keys gives
// for an event (no integer-like names among them).
std::vector<std::string> field_names(const json& object) {
  std::vector<std::string> out;
  for (auto it = object.begin(); it != object.end(); ++it) out.push_back(it.key());
  return out;
}

std::vector<std::string> field_names(const std::string& payload) {
  return field_names(json::parse(payload));
}

using names = std::vector<std::string>;

// The timestamp of a payload, as a JS reader reads it.
std::string timestamp_of(const std::string& payload) {
  return json::parse(payload)["timestamp"].dump();
}

const std::string kKey = "k\"ey \xC3\xBC/\xF0\x9F\x8E\x89";  // k"ey ü/🎉
const std::string kKeyB64 = "ayJleSDDvC/wn46J";

}  // namespace

CAF_TEST_FIXTURE_SCOPE(wire_compat_tests, fixture)

// What a C++ node publishes is the JS library's payload byte for byte; its metadata travels in
// headers that a JS reader never looks at.
CAF_TEST(a put is the js librarys payload with the metadata in headers) {
  auto db = stream::open(make_config(name, dir)).value();
  json doc = json::parse(R"({"zeta":1,"alpha":[1.5,"x",null],"mid":{"b":true,"a":{}}})");
  auto before = std::chrono::system_clock::now();
  auto first = db.put(kKey, doc).value();
  auto stored = js.last_message(name, name + "." + kKeyB64 + "-put");
  CAF_REQUIRE(stored.has_value());
  auto ts = timestamp_of(stored->data);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(before.time_since_epoch());
  CAF_CHECK_GREATER_OR_EQUAL(std::stoll(ts), ms.count());
  CAF_CHECK_EQUAL(stored->data,
                  R"({"type":"PUT","id":"k\"ey ü/🎉","data":{"zeta":1,"alpha":[1.5,"x",null],)"
                  R"("mid":{"b":true,"a":{}}},"timestamp":)" +
                      ts + "}");
  CAF_CHECK_EQUAL(stored->header("Eventbase-Changes").value_or(""), "1");
  CAF_CHECK(!stored->header("Eventbase-Date-Created"));  // a new key: created by this event
  CAF_CHECK(stored->header("Nats-Msg-Id").has_value());
  // The next put of the key carries what the writer knew.
  db.put(kKey, json::parse(R"({"v":2})")).value();
  stored = js.last_message(name, name + "." + kKeyB64 + "-put");
  CAF_REQUIRE(stored.has_value());
  CAF_CHECK_EQUAL(stored->data, R"({"type":"PUT","id":"k\"ey ü/🎉","data":{"v":2},"timestamp":)" +
                                    timestamp_of(stored->data) + "}");
  CAF_CHECK_EQUAL(stored->header("Eventbase-Changes").value_or(""), "2");
  CAF_CHECK_EQUAL(stored->header("Eventbase-Date-Created").value_or(""), first.meta.date_created);
  // A delete: the JS library's DELETE, no metadata; the key's PUTs are purged.
  CAF_CHECK_EQUAL(db.erase(kKey).value(), 1u);
  auto del = js.last_message(name, name + "." + kKeyB64 + "-delete");
  CAF_REQUIRE(del.has_value());
  CAF_CHECK_EQUAL(del->data, R"({"type":"DELETE","id":"k\"ey ü/🎉","timestamp":)" +
                                 timestamp_of(del->data) + "}");
  CAF_CHECK(!del->header("Eventbase-Changes"));
  CAF_CHECK(!js.last_message(name, name + "." + kKeyB64 + "-put"));
  db.close();
}

// Events a JS node wrote (no headers) apply with their key order, and reach C++ subscribers
// with exactly the fields of a C++ node's events.
CAF_TEST(js written events apply in order and look like cpp written ones) {
  js_create_stream();
  std::string js_put =
      R"({"type":"PUT","id":"js1","data":{"zeta":1,"alpha":2,"mid":{"b":1,"a":2}},)"
      R"("timestamp":1733565600123})";
  js_publish("anMx", "-put", js_put);  // base64("js1")
  js_publish("anMx", "-put", js_put);
  collector<json> messages;
  auto config = make_config(name, dir);
  config.on_message = [&messages](const json& event) { messages.add(event); };
  auto db = stream::open(config).value();
  auto got = db.get("js1").value().value();
  CAF_CHECK_EQUAL(got.data.dump(), R"({"zeta":1,"alpha":2,"mid":{"b":1,"a":2}})");
  CAF_CHECK_EQUAL(got.meta.changes, 2u);  // counted by the replica: JS events carry no metadata
  collector<update> updates;
  auto sub = watch(db, updates);
  js_publish("anMx", "-put",
             R"({"type":"PUT","id":"js1","data":{"z":0,"a":[2,1]},"timestamp":1733565600124})");
  db.put("cpp1", json::parse(R"({"z":0,"a":[2,1]})")).value();
  js_publish("anMx", "-delete", R"({"type":"DELETE","id":"js1","timestamp":1733565600125})");
  db.erase("cpp1").value();
  auto seen = updates.wait_for(4);
  CAF_REQUIRE_EQUAL(seen.size(), 4u);
  // PUTs: the same fields in the same order, whoever wrote them.
  CAF_CHECK_EQUAL(seen[0].key, "js1");
  CAF_CHECK_EQUAL(seen[0].event.dump(),
                  R"({"type":"PUT","id":"js1","data":{"z":0,"a":[2,1]},"timestamp":1733565600124,)"
                  R"("oldData":{"zeta":1,"alpha":2,"mid":{"b":1,"a":2}},"revision":3})");
  CAF_CHECK_EQUAL(seen[0].data.dump(), R"({"z":0,"a":[2,1]})");
  CAF_REQUIRE(seen[0].m.has_value());
  CAF_CHECK_EQUAL(seen[0].m->changes, 3u);
  CAF_CHECK_EQUAL(seen[1].key, "cpp1");
  CAF_CHECK_EQUAL(field_names(seen[1].event),
                  (names{"type", "id", "data", "timestamp", "oldData", "revision"}));
  CAF_CHECK_EQUAL(field_names(seen[1].event), field_names(seen[0].event));
  CAF_CHECK_EQUAL(seen[1].event["data"].dump(), R"({"z":0,"a":[2,1]})");
  CAF_CHECK_EQUAL(seen[1].data.dump(), seen[0].data.dump());
  // DELETEs: no "data", a null document and no metadata, whoever wrote them.
  for (auto& del : {seen[2], seen[3]}) {
    CAF_CHECK_EQUAL(field_names(del.event),
                    (names{"type", "id", "timestamp", "oldData", "revision"}));
    CAF_CHECK(del.data.is_null());
    CAF_CHECK(!del.m.has_value());
  }
  CAF_CHECK_EQUAL(
      seen[2].event.dump(),
      R"({"type":"DELETE","id":"js1","timestamp":1733565600125,"oldData":{"z":0,"a":[2,1]},)"
      R"("revision":5})");
  // on_message gets every event applied, the replayed ones too, as on the stream (the JS
  // library's onMessage), without oldData.
  auto events = messages.wait_for(6);
  CAF_REQUIRE_EQUAL(events.size(), 6u);
  CAF_CHECK_EQUAL(events[0].dump(), json::parse(js_put).dump());
  CAF_CHECK_EQUAL(
      events[2].dump(),
      R"({"type":"PUT","id":"js1","data":{"z":0,"a":[2,1]},"timestamp":1733565600124})");
  CAF_CHECK_EQUAL(field_names(events[3]), (names{"type", "id", "data", "timestamp"}));
  CAF_CHECK_EQUAL(field_names(events[5]), (names{"type", "id", "timestamp"}));
  sub.unsubscribe();
  db.close();
}

// A JS reader sees the same fields whoever wrote an event: Object.keys of the parsed payloads.
CAF_TEST(a js reader cannot tell the writers apart) {
  js_create_stream();
  js_publish("anMx", "-put", R"({"type":"PUT","id":"js1","data":{"v":1},"timestamp":1})");
  auto db = stream::open(make_config(name, dir)).value();
  db.put("order", json::parse(R"({"v":1})")).value();
  auto theirs = js.last_message(name, name + ".anMx-put");
  auto ours = js.last_message(name, name + ".b3JkZXI=-put");  // base64("order")
  CAF_REQUIRE(theirs && ours);
  CAF_CHECK_EQUAL(field_names(ours->data), (names{"type", "id", "data", "timestamp"}));
  CAF_CHECK_EQUAL(field_names(ours->data), field_names(theirs->data));
  CAF_CHECK_EQUAL(ours->data, R"({"type":"PUT","id":"order","data":{"v":1},"timestamp":)" +
                                  timestamp_of(ours->data) + "}");
  db.close();
}

// Compaction keeps one event per key; its headers still say how many changes the key had, so a
// replica that never saw the earlier events shows the same metadata as the writer.
CAF_TEST(a fresh replica of a compacted key shows the writers changes) {
  auto writer = stream::open(make_config(name, dir, "writer")).value();
  document last;
  for (int i = 1; i <= 5; ++i) last = writer.put("user1", json{{"i", i}, {"at", "end"}}).value();
  auto stored = js.last_message(name, name + ".dXNlcjE=-put");  // base64("user1")
  CAF_REQUIRE(stored.has_value());
  CAF_CHECK_EQUAL(stored->header("Eventbase-Changes").value_or(""), "5");
  auto fresh = stream::open(make_config(name, dir, "fresh")).value();
  auto got = fresh.get("user1").value().value();
  CAF_CHECK_EQUAL(got.meta.changes, 5u);
  CAF_CHECK_EQUAL(got.meta.date_created, last.meta.date_created);
  CAF_CHECK_EQUAL(got.meta.date_modified, last.meta.date_modified);
  CAF_CHECK_EQUAL(got.data.dump(), R"({"i":5,"at":"end"})");
  // A JS write of the key (no headers) is counted from each replica's own state: both agree.
  collector<update> on_fresh;
  auto sub = watch(fresh, on_fresh);
  js_publish("dXNlcjE=", "-put", R"({"type":"PUT","id":"user1","data":{"js":true},"timestamp":9})");
  CAF_REQUIRE_EQUAL(on_fresh.wait_for(1).size(), 1u);
  auto after_js = fresh.get("user1").value().value();
  CAF_CHECK_EQUAL(after_js.meta.changes, 6u);
  sub.unsubscribe();
  fresh.close();
  writer.close();
  auto again = stream::open(make_config(name, dir, "writer")).value();
  auto on_writer = again.get("user1").value().value();
  CAF_CHECK_EQUAL(on_writer.meta.changes, 6u);
  again.close();
}

// Eventbase before the metadata headers wrote the metadata into the body. Such an event (one
// per key survives compaction) still applies with its metadata, and subscribers get it without
// the extra field.
CAF_TEST(an event with metadata in its body from an earlier eventbase still reads) {
  auto db = stream::open(make_config(name, dir)).value();
  collector<update> updates;
  auto sub = watch(db, updates);
  js_publish("bGVnYWN5", "-put",  // base64("legacy")
             R"({"type":"PUT","id":"legacy","data":{"b":1,"a":2},"timestamp":1733565600123,)"
             R"("meta":{"changes":7,"dateCreated":"2024-01-01T00:00:00.000Z"}})");
  auto seen = updates.wait_for(1);
  CAF_REQUIRE_EQUAL(seen.size(), 1u);
  CAF_CHECK_EQUAL(seen[0].event.dump(),
                  R"({"type":"PUT","id":"legacy","data":{"b":1,"a":2},"timestamp":1733565600123,)"
                  R"("oldData":null,"revision":1})");
  CAF_REQUIRE(seen[0].m.has_value());
  CAF_CHECK_EQUAL(seen[0].m->changes, 7u);
  CAF_CHECK_EQUAL(seen[0].m->date_created, "2024-01-01T00:00:00.000Z");
  sub.unsubscribe();
  db.close();
  // A replica built from scratch reads the same.
  auto fresh = stream::open(make_config(name, dir, "fresh")).value();
  auto got = fresh.get("legacy").value().value();
  CAF_CHECK_EQUAL(got.meta.changes, 7u);
  CAF_CHECK_EQUAL(got.meta.date_created, "2024-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(got.data.dump(), R"({"b":1,"a":2})");
  // The next C++ put continues from it, in headers.
  fresh.put("legacy", json::parse(R"({"c":3})")).value();
  auto stored = js.last_message(name, name + ".bGVnYWN5-put");
  CAF_REQUIRE(stored.has_value());
  CAF_CHECK_EQUAL(stored->header("Eventbase-Changes").value_or(""), "8");
  CAF_CHECK_EQUAL(stored->header("Eventbase-Date-Created").value_or(""),
                  "2024-01-01T00:00:00.000Z");
  CAF_CHECK_EQUAL(field_names(stored->data), (names{"type", "id", "data", "timestamp"}));
  fresh.close();
}

// Object keys that look like integers: JavaScript objects put them first, in ascending order
// (JSON.stringify(JSON.parse('{"b":1,"2":2,"1":3,"a":4}')) is '{"1":3,"2":2,"b":1,"a":4}').
// Eventbase keeps them where they were written, on the wire and in what it returns; a JS reader
// reorders them when it parses the event, as it would for any writer.
CAF_TEST(integer like keys stay where they were written) {
  auto db = stream::open(make_config(name, dir)).value();
  auto put = db.put("order", json::parse(R"({"b":1,"2":2,"1":3,"a":4})")).value();
  CAF_CHECK_EQUAL(put.data.dump(), R"({"b":1,"2":2,"1":3,"a":4})");
  CAF_CHECK_EQUAL(db.get("order").value().value().data.dump(), R"({"b":1,"2":2,"1":3,"a":4})");
  auto stored = js.last_message(name, name + ".b3JkZXI=-put");
  CAF_REQUIRE(stored.has_value());
  CAF_CHECK_EQUAL(json::parse(stored->data)["data"].dump(), R"({"b":1,"2":2,"1":3,"a":4})");
  db.close();
}

// Queries see documents the same whoever wrote them: the same documents written by a JS node (raw
// events, no headers) and by a C++ node give the same answers, and the expected answers are
// computed here from the documents themselves.
CAF_TEST(queries over js written documents equal those over cpp written ones) {
  js_create_stream();
  const char* cities[] = {"Oslo", "Bergen", "Tromsø", "Ålesund"};
  const char* colours[] = {"red", "green", "blue"};
  std::map<std::string, json> model;  // what both streams hold at the end
  temp_dir cpp_dir;
  auto cpp = stream::open(make_config(name + "_cpp", cpp_dir)).value();
  int64_t ts = 1733565600000;
  auto put_both = [&](const std::string& key, const json& doc) {
    json event = {{"type", "PUT"}, {"id", key}, {"data", doc}, {"timestamp", ts++}};
    js_publish(protocol::base64_encode(key), "-put", event.dump());
    CAF_REQUIRE(cpp.put(key, doc).ok());
    model[key] = doc;
  };
  for (int i = 0; i < 60; ++i) {
    json doc = {{"name", std::string(1, char('A' + i % 7)) + "user" + std::to_string(i)},
                {"age", 15 + (i * 7) % 50},
                {"city", cities[i % 4]},
                {"tags", json::array({colours[i % 3], colours[(i / 3) % 3]})},
                {"address", {{"zip", std::to_string(1000 + i % 5)}}}};
    if (i % 11 == 0) doc.erase("city");
    put_both("u" + std::to_string(100 + i), doc);
  }
  for (int i = 0; i < 60; i += 9) {  // updates and deletes, as later events
    std::string key = "u" + std::to_string(100 + i);
    if (i % 2 == 0) {
      json doc = model[key];
      doc["age"] = 99;
      put_both(key, doc);
    } else {
      js_publish(protocol::base64_encode(key), "-delete",
                 json{{"type", "DELETE"}, {"id", key}, {"timestamp", ts++}}.dump());
      CAF_REQUIRE(cpp.erase(key).ok());
      model.erase(key);
    }
  }
  auto js_db = stream::open(make_config(name, dir)).value();
  // Read-your-writes on the C++ side; the JS side is ready once open has applied the stream.
  struct check {
    std::string filter, options;
    std::function<bool(const json&)> expected;
  };
  auto has_tag = [](const json& d, const char* t) {
    for (const auto& x : d["tags"])
      if (x == t) return true;
    return false;
  };
  std::vector<check> checks = {
      {R"({"city":"Oslo"})", "{}",
       [](const json& d) { return (d.contains("city") && d["city"] == "Oslo"); }},
      {R"({"age":{"$gte":30,"$lt":50}})", "{}",
       [](const json& d) { return d["age"] >= 30 && d["age"] < 50; }},
      {R"({"tags":"red"})", "{}", [&](const json& d) { return has_tag(d, "red"); }},
      {R"({"name":{"$sw":"B"}})", "{}",
       [](const json& d) { return d["name"].get<std::string>()[0] == 'B'; }},
      {R"({"$or":[{"city":"Bergen"},{"age":{"$lt":20}}]})", "{}",
       [](const json& d) {
         return (d.contains("city") && d["city"] == "Bergen") || d["age"] < 20;
       }},
      {R"({"address.zip":{"$in":["1000","1003"]}})", "{}",
       [](const json& d) {
         auto z = d["address"]["zip"].get<std::string>();
         return z == "1000" || z == "1003";
       }},
      {R"({"city":{"$exists":false}})", "{}", [](const json& d) { return !d.contains("city"); }},
  };
  auto run_checks = [&] {
    for (const auto& c : checks) {
      CAF_MESSAGE("filter " << c.filter);
      std::vector<std::string> expected;
      for (const auto& [key, doc] : model)
        if (c.expected(doc)) expected.push_back(key);
      CAF_CHECK(!expected.empty());
      for (stream* db : {&js_db, &cpp}) {
        auto found = db->query(json::parse(c.filter), json::parse(c.options));
        CAF_REQUIRE(found.ok());
        std::vector<std::string> keys;
        for (const auto& doc : *found) {
          keys.push_back(doc.key);
          CAF_CHECK_EQUAL(doc.data.dump(), model[doc.key].dump());  // same member order
        }
        CAF_CHECK_EQUAL(keys, expected);
        CAF_CHECK_EQUAL(db->count(json::parse(c.filter)).value(), expected.size());
      }
    }
    // Sorted, limited and projected: the same answer from both writers, in the order computed here
    // (age descending, then name; no two documents share both).
    auto sorted_js = js_db
                         .query(json::parse(R"({"age":{"$gt":20}})"),
                                json::parse(R"({"sort":{"age":-1,"name":1},"limit":7,"offset":2,)"
                                            R"("project":{"name":1,"address.zip":1}})"))
                         .value();
    auto sorted_cpp = cpp.query(json::parse(R"({"age":{"$gt":20}})"),
                                json::parse(R"({"sort":{"age":-1,"name":1},"limit":7,"offset":2,)"
                                            R"("project":{"name":1,"address.zip":1}})"))
                          .value();
    CAF_REQUIRE_EQUAL(sorted_js.size(), 7u);
    CAF_REQUIRE_EQUAL(sorted_cpp.size(), 7u);
    std::vector<std::pair<std::string, json>> by_age;
    for (const auto& [key, doc] : model)
      if (doc["age"] > 20) by_age.emplace_back(key, doc);
    std::sort(by_age.begin(), by_age.end(), [](const auto& x, const auto& y) {
      if (x.second["age"] != y.second["age"]) return x.second["age"] > y.second["age"];
      return x.second["name"] < y.second["name"];
    });
    for (size_t i = 0; i < 7; ++i) {
      const auto& [key, doc] = by_age[i + 2];
      json projected = {{"name", doc["name"]}, {"address", {{"zip", doc["address"]["zip"]}}}};
      CAF_CHECK_EQUAL(sorted_js[i].key, key);
      CAF_CHECK_EQUAL(sorted_cpp[i].key, key);
      CAF_CHECK_EQUAL(sorted_js[i].data.dump(), projected.dump());
      CAF_CHECK_EQUAL(sorted_cpp[i].data.dump(), projected.dump());
    }
  };
  run_checks();
  // The same answers through secondary indexes, which each node builds from its own replica.
  for (stream* db : {&js_db, &cpp})
    for (const char* field : {"age", "city", "tags", "name", "address.zip"})
      CAF_REQUIRE(db->create_index(field).ok());
  auto plan = js_db.explain(json::parse(R"({"city":"Oslo"})")).value();
  CAF_CHECK_EQUAL(plan["plan"]["index"], "city");
  run_checks();
  js_db.close();
  cpp.close();
}

CAF_TEST_FIXTURE_SCOPE_END()
