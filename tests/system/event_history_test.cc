// Event sourcing through the eventbase client (README "History and resumable watches"):
// `history`, `get --revision`, `watch --from-revision` with a watcher killed and resumed while
// writes go on, `put --ttl`, `batch` (atomic; refused with a clear error before 2.12), and what
// bad input gets.
#define CAF_SUITE event_history_cli
#include "caf/test/unit_test.hpp"

#include <signal.h>

#include <map>

#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"
#include "nats/server_settings.hpp"
#include "support/background_writes.hpp"
#include "support/nats_fixture.hpp"
#include "system/processes.hpp"

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

namespace {

// What a watcher's lines add up to: each key's data (null once deleted).
struct folded {
  std::map<std::string, json> keys;
  uint64_t last_revision = 0;
  bool in_order = true;  // revisions strictly rising: no duplicate, no reordering
};

void fold(folded& into, const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    auto change = json::parse(line, nullptr, false);
    if (change.is_discarded() || !change.is_object()) continue;  // a line cut by the kill
    uint64_t revision = member(change, "revision").get<uint64_t>();
    if (revision <= into.last_revision) into.in_order = false;
    into.last_revision = revision;
    into.keys[member(change, "key").get<std::string>()] = member(change, "data");
  }
}

}  // namespace

CAF_TEST(history and reads at a revision through the client) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url(), "--history=3"});
  auto s = unique_name("hcli");
  auto at = server->address();
  auto revision_of = [](const subprocess::completed& r) {
    return field(single_json_line(r), "/meta/revision");
  };
  auto r1 = revision_of(run_client(at, {"put", s, "k", R"({"v":1})"}));
  auto r2 = revision_of(run_client(at, {"put", s, "k", R"({"v":2})"}));
  CAF_REQUIRE(r1.is_number() && r2.is_number());
  CAF_CHECK_EQUAL(single_json_line(run_client(at, {"delete", s, "k"})), json({{"purged", 0}}));
  auto r4 = revision_of(run_client(at, {"put", s, "k", R"({"v":4})"}));
  auto history = run_client(at, {"history", s, "k"});
  CAF_REQUIRE_EQUAL(history.exit_code, 0);
  CAF_REQUIRE_EQUAL(history.out.size(), 4u);
  auto newest = json::parse(history.out[0]);
  CAF_CHECK_EQUAL(newest["revision"], r4);
  CAF_CHECK_EQUAL(newest["type"], "PUT");
  CAF_CHECK_EQUAL(newest["data"], json({{"v", 4}}));
  CAF_CHECK(newest["timestamp"].is_number());
  auto deletion = json::parse(history.out[1]);
  CAF_CHECK_EQUAL(deletion["type"], "DELETE");
  CAF_CHECK(!deletion.contains("data"));
  CAF_CHECK_EQUAL(run_client(at, {"history", "--limit=1", s, "k"}).out.size(), 1u);
  auto get_at = [&](const json& revision) {
    return run_client(at, {"get", "--revision=" + revision.dump(), s, "k"});
  };
  CAF_CHECK_EQUAL(field(single_json_line(get_at(r1)), "/data"), json({{"v", 1}}));
  CAF_CHECK_EQUAL(field(single_json_line(get_at(r2)), "/meta/changes"), 2);
  CAF_CHECK_EQUAL(single_json_line(get_at(r2.get<uint64_t>() + 1)), json(nullptr));  // deleted
  CAF_CHECK_EQUAL(single_json_line(get_at(0)), json(nullptr));  // before it existed
  // Two more puts leave 3 PUTs: the first version is gone.
  run_client(at, {"put", s, "k", R"({"v":5})"});
  run_client(at, {"put", s, "k", R"({"v":6})"});
  auto gone = get_at(r1);
  CAF_CHECK_EQUAL(gone.exit_code, 1);
  CAF_CHECK(contains(all_errors(gone), "eventbase: compacted: "));
  // The oldest event kept is the DELETE after version 2.
  CAF_CHECK(contains(all_errors(gone),
                     "revision " + std::to_string(r2.get<uint64_t>() + 1) + " and later"));
  // Bad input: clear errors.
  auto beyond = get_at(1000000);
  CAF_CHECK_EQUAL(beyond.exit_code, 1);
  CAF_CHECK(contains(all_errors(beyond), "beyond the end"));
  for (std::string bad : {"-1", "x", "99999999999999999999", ""}) {
    auto refused = run_client(at, {"get", "--revision=" + bad, s, "k"});
    CAF_CHECK_EQUAL(refused.exit_code, 2);
    CAF_CHECK(contains(all_errors(refused), "--revision takes a revision"));
  }
  CAF_CHECK_EQUAL(run_client(at, {"get", "--consistent", "--revision=1", s, "k"}).exit_code, 2);
  CAF_CHECK_EQUAL(run_client(at, {"history", "--limit=-3", s, "k"}).exit_code, 2);
  CAF_CHECK_EQUAL(run_client(at, {"watch", "--from-revision=z", s, "*"}).exit_code, 2);
  CAF_CHECK_EQUAL(field(single_json_line(run_client(at, {"status", s})), "/history"), 3);
  server->process().stop();
  for (std::string bad : {"0", "65", "-2"}) {
    auto refused = subprocess::run({EVENTBASE_SERVER_BIN, "--history=" + bad, "--port=0"}).value();
    CAF_CHECK_EQUAL(refused.exit_code, 2);
    CAF_CHECK(contains(all_errors(refused), "--history must be within 1..64"));
  }
}

// Issue 25: a watcher killed and resumed from the last revision it printed ends with exactly
// the state of a watcher that never stopped, with writes going on all the time.
CAF_TEST(a killed watcher resumed from its last revision ends as one that never stopped) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  auto s = unique_name("resume");
  auto at = server->address();
  auto writer = stream::open(make_config(s, dir, "writer")).value();
  auto steady = start_watch(at, s, "*");
  auto first = start_watch(at, s, "*");
  background_writes writes(writer, 8, 4);
  // Kill the watcher once it has printed something, mid-stream.
  CAF_REQUIRE(
      first->wait_for_stdout([](const std::string&) { return true; }, std::chrono::seconds(20)));
  CAF_REQUIRE(writes.await(60));
  first->signal(SIGKILL);
  first->wait(std::chrono::seconds(10));
  folded resumed;
  fold(resumed, first->output());
  CAF_REQUIRE_GREATER(resumed.last_revision, 0u);
  CAF_REQUIRE(writes.await(200));
  writes.set_keys(3);  // k3..k7 keep what they got while the watcher was away
  CAF_REQUIRE(writes.await(220));
  auto second = start_watch(
      at,
      std::vector<std::string>{"--from-revision=" + std::to_string(resumed.last_revision), s, "*"});
  CAF_REQUIRE(writes.await(320));
  CAF_REQUIRE(writes.stop());
  auto done = writer.put("final", json{{"done", true}}).value();
  auto printed_final = [](const std::string& l) { return contains(l, R"("key":"final")"); };
  CAF_REQUIRE(steady->wait_for_stdout(printed_final, std::chrono::seconds(30)));
  CAF_REQUIRE(second->wait_for_stdout(printed_final, std::chrono::seconds(30)));
  folded never_stopped;
  fold(never_stopped, steady->output());
  uint64_t before_resume = resumed.last_revision;
  fold(resumed, second->output());
  CAF_CHECK(never_stopped.in_order);
  CAF_CHECK(resumed.in_order);  // nothing twice, nothing out of order across the resume
  CAF_CHECK_EQUAL(never_stopped.last_revision, done.meta.revision);
  CAF_CHECK_EQUAL(resumed.last_revision, done.meta.revision);
  CAF_CHECK_EQUAL(never_stopped.keys.size(), 9u);
  CAF_CHECK(never_stopped.keys == resumed.keys);
  CAF_CHECK_GREATER(resumed.last_revision, before_resume);
  for (auto* watch : {steady.get(), second.get()}) watch->signal(SIGINT);
  steady->wait(std::chrono::seconds(10));
  second->wait(std::chrono::seconds(10));
  writer.close();
  server->process().stop();
}

CAF_TEST(a put with a ttl through the client expires and watchers see it as an expiry) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  auto s = unique_name("ttlcli");
  auto at = server->address();
  auto watch = start_watch(at, s, "*");
  auto put = run_client(at, {"put", "--ttl=1", s, "session", R"({"user":"ada"})"});
  CAF_REQUIRE_EQUAL(put.exit_code, 0);
  auto expired =
      watch->wait_for_stdout([](const std::string& l) { return contains(l, R"("type":"DELETE")"); },
                             std::chrono::seconds(10));
  CAF_REQUIRE(expired.has_value());
  auto line = json::parse(*expired);
  CAF_CHECK_EQUAL(member(line, "key"), "session");
  CAF_CHECK_EQUAL(member(line, "expired"), true);
  CAF_CHECK_EQUAL(single_json_line(run_client(at, {"get", s, "session"})), json(nullptr));
  for (std::string bad : {"0", "-1", "x", "315360001", "1.5"}) {
    auto refused = run_client(at, {"put", "--ttl=" + bad, s, "k", "1"});
    CAF_CHECK_EQUAL(refused.exit_code, 2);
    CAF_CHECK(contains(all_errors(refused), "--ttl takes whole seconds from 1 to 315360000"));
  }
  CAF_CHECK_EQUAL(single_json_line(run_client(at, {"get", s, "k"})), json(nullptr));
  watch->signal(SIGINT);
  watch->wait(std::chrono::seconds(10));
  server->process().stop();
}

CAF_TEST(atomic batches through the client) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  auto s = unique_name("bcli");
  auto at = server->address();
  // Hostile input is refused by the client before anything is sent: nothing stored.
  std::string many;
  for (int i = 0; i < 10001; ++i)
    many += R"({"op":"put","key":"k)" + std::to_string(i) + R"(","data":1})" + "\n";
  auto too_many = run_client(at, {"batch", s}, many);
  CAF_CHECK_EQUAL(too_many.exit_code, 1);
  CAF_CHECK(contains(all_errors(too_many), "too_large: a batch holds at most 1000 writes"));
  std::string big;
  for (int i = 0; i < 1000; ++i)
    big += R"({"op":"put","key":"k)" + std::to_string(i) + R"(","data":")" +
           std::string(1100, 'x') + "\"}\n";
  auto too_big = run_client(at, {"batch", s}, big);
  CAF_CHECK_EQUAL(too_big.exit_code, 1);
  CAF_CHECK(contains(all_errors(too_big), "too_large: the batch is "));
  auto bad_line =
      run_client(at, {"batch", s},
                 "{\"op\":\"put\",\"key\":\"a\",\"data\":1}\n{\"op\":\"put\",\"key\":\"b\"}\n");
  CAF_CHECK_EQUAL(bad_line.exit_code, 1);
  CAF_CHECK(contains(all_errors(bad_line), "invalid_argument: line 2: a put needs \"data\""));
  CAF_CHECK_EQUAL(single_json_line(run_client(at, {"get", s, "a"})), json(nullptr));
  auto put = run_client(at, {"put", s, "k", "1"});
  uint64_t rk = member(member(single_json_line(put), "meta"), "revision").get<uint64_t>();
  std::string batch = R"({"op":"put","key":"a","data":{"v":1},"ifAbsent":true})"
                      "\n"
                      R"({"op":"delete","key":"k","ifRevision":)" +
                      std::to_string(rk) + "}\n";
  if (nats_server().version() < nats::kAtomicBatchSince) {
    auto refused = run_client(at, {"batch", s}, batch);
    CAF_CHECK_EQUAL(refused.exit_code, 1);
    CAF_CHECK(contains(all_errors(refused),
                       "unavailable: atomic batches need nats-server 2.12 or newer "
                       "(this one is " +
                           nats_server().version().to_string() + ")"));
    CAF_CHECK_EQUAL(single_json_line(run_client(at, {"get", s, "a"})), json(nullptr));
    return;
  }
  auto applied = single_json_line(run_client(at, {"batch", s}, batch));
  CAF_CHECK_EQUAL(applied, json({{"applied", 2}, {"revision", rk + 2}}));
  CAF_CHECK_EQUAL(single_json_line(run_client(at, {"get", s, "k"})), json(nullptr));
  CAF_CHECK_EQUAL(member(single_json_line(run_client(at, {"get", s, "a"})), "data"),
                  json({{"v", 1}}));
  // The same batch again: "a" exists now, so nothing of it is applied.
  auto conflict = run_client(at, {"batch", s},
                             R"({"op":"put","key":"n","data":1})"
                             "\n"
                             R"({"op":"put","key":"a","data":2,"ifAbsent":true})");
  CAF_CHECK_EQUAL(conflict.exit_code, 1);
  CAF_CHECK(contains(all_errors(conflict),
                     "conflict: key 'a' exists (revision " + std::to_string(rk + 1) + ")"));
  CAF_CHECK_EQUAL(single_json_line(run_client(at, {"get", s, "n"})), json(nullptr));
}
