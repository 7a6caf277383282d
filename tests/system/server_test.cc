#define CAF_SUITE server
#include "caf/test/unit_test.hpp"

#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"
#include "support/nats_fixture.hpp"
#include "system/processes.hpp"

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

CAF_TEST(server on the embedded default starts serves and stops cleanly) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"));
  int nats_pid = owned_nats_pid(*server);
  CAF_CHECK(process_exists(nats_pid));
  auto put = run_client(server->address(), {"put", "users", "user1", R"({"name":"Ada"})"});
  CAF_REQUIRE_EQUAL(put.exit_code, 0);
  auto doc = single_json_line(put);
  CAF_CHECK_EQUAL(doc["data"], json({{"name", "Ada"}}));
  CAF_CHECK_EQUAL(doc["meta"]["changes"], 1);
  // The line has the documented key order.
  CAF_CHECK_EQUAL(put.out[0].rfind(R"({"data":{"name":"Ada"},"meta":{"dateCreated":")", 0), 0u);
  server->process().signal(SIGTERM);
  CAF_CHECK_EQUAL(server->process().wait(std::chrono::seconds(30)).value_or(-1), 0);
  CAF_CHECK(!process_exists(nats_pid));  // the owned nats-server is gone
  // Restarting on the same data path keeps the data (JetStream and the replica).
  auto again = must_start(dir.sub("data"));
  auto get = run_client(again->address(), {"get", "users", "user1"});
  CAF_CHECK_EQUAL(get.exit_code, 0);
  CAF_CHECK_EQUAL(field(single_json_line(get), "/data"), json({{"name", "Ada"}}));
  again->process().signal(SIGINT);
  CAF_CHECK_EQUAL(again->process().wait(std::chrono::seconds(30)).value_or(-1), 0);
}

CAF_TEST(every client command with an external nats) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  CAF_CHECK_EQUAL(owned_nats_pid(*server), -1);
  auto s = unique_name("cli");
  auto put = run_client(server->address(), {"put", s, "k1", R"({"v":1})"});
  CAF_CHECK_EQUAL(put.exit_code, 0);
  CAF_CHECK_EQUAL(run_client(server->address(), {"put", s, "k2", "-"}, "[1, 2]").exit_code, 0);
  auto get = run_client(server->address(), {"get", s, "k2"});
  CAF_CHECK_EQUAL(field(single_json_line(get), "/data"), json({1, 2}));
  auto absent = run_client(server->address(), {"get", s, "nope"});
  CAF_CHECK_EQUAL(absent.exit_code, 0);
  CAF_CHECK_EQUAL(absent.out, std::vector<std::string>{"null"});
  auto keys = run_client(server->address(), {"keys", s});
  CAF_CHECK_EQUAL(keys.out, std::vector<std::string>{R"(["k1","k2"])"});
  auto some = run_client(server->address(), {"keys", s, "1$"});
  CAF_CHECK_EQUAL(some.out, std::vector<std::string>{R"(["k1"])"});
  auto streams = run_client(server->address(), {"streams"});
  CAF_CHECK_EQUAL(streams.exit_code, 0);
  CAF_CHECK(single_json_line(streams).is_array());
  auto state = run_client(server->address(), {"status", s});
  CAF_CHECK_EQUAL(field(single_json_line(state), "/appliedSequence"), 2);
  CAF_CHECK_EQUAL(field(single_json_line(state), "/consistentSequence"), 2);
  CAF_CHECK_EQUAL(field(single_json_line(state), "/replicaRebuilds"), 0);
  auto del = run_client(server->address(), {"delete", s, "k1"});
  CAF_CHECK_EQUAL(del.out, std::vector<std::string>{R"({"purged":1})"});

  // Errors: one line on stderr, nothing on stdout, non-zero exit, data intact.
  auto bad_json = run_client(server->address(), {"put", s, "k3", "{not json"});
  CAF_CHECK_EQUAL(bad_json.exit_code, 1);
  CAF_CHECK(bad_json.out.empty());
  CAF_CHECK_EQUAL(bad_json.err.size(), 1u);
  auto bad_regex = run_client(server->address(), {"keys", s, "("});
  CAF_CHECK_EQUAL(bad_regex.exit_code, 1);
  CAF_CHECK_EQUAL(bad_regex.err.size(), 1u);
  CAF_CHECK_NOT_EQUAL(bad_regex.err.front().find("invalid regex"), std::string::npos);
  auto bad_stream = run_client(server->address(), {"get", "bad.name", "k"});
  CAF_CHECK_EQUAL(bad_stream.exit_code, 1);
  auto empty_key = run_client(server->address(), {"put", s, "", "1"});
  CAF_CHECK_EQUAL(empty_key.exit_code, 1);
  auto unknown = run_client(server->address(), {"frobnicate"});
  CAF_CHECK_EQUAL(unknown.exit_code, 2);
  auto missing_arg = run_client(server->address(), {"get", s});
  CAF_CHECK_EQUAL(missing_arg.exit_code, 2);
  auto unreachable = run_client("127.0.0.1:1", {"streams"});
  CAF_CHECK_EQUAL(unreachable.exit_code, 3);
  CAF_CHECK_EQUAL(unreachable.err.size(), 1u);
  CAF_CHECK_EQUAL(run_client(server->address(), {"keys", s}).out,
                  std::vector<std::string>{R"(["k2"])"});
  auto help = subprocess::run({EVENTBASE_CLI_BIN, "--help"}).value();
  CAF_CHECK_EQUAL(help.exit_code, 0);
  CAF_CHECK_GREATER(help.out.size(), 10u);
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(watch streams changes across processes until interrupted) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  auto s = unique_name("watch");
  auto watch = start_watch(server->address(), s, "user:*");
  run_client(server->address(), {"put", s, "other", "1"});
  run_client(server->address(), {"put", s, "user:1", R"({"n":1})"});
  run_client(server->address(), {"delete", s, "user:1"});
  auto last = watch->wait_for_stdout(
      [](const std::string& l) { return l.find("DELETE") != std::string::npos; },
      std::chrono::seconds(20));
  CAF_REQUIRE(last.has_value());
  auto lines = watch->output();
  CAF_REQUIRE_EQUAL(lines.size(), 2u);
  auto put = json::parse(lines[0]);
  CAF_CHECK_EQUAL(put["key"], "user:1");
  CAF_CHECK_EQUAL(put["data"], json({{"n", 1}}));
  CAF_CHECK_EQUAL(put["meta"]["changes"], 1);
  CAF_CHECK_EQUAL(put["event"]["type"], "PUT");
  auto del = json::parse(lines[1]);
  CAF_CHECK(del["data"].is_null());
  CAF_CHECK(del["meta"].is_null());
  CAF_CHECK_EQUAL(del["event"]["type"], "DELETE");
  watch->signal(SIGINT);
  CAF_CHECK_EQUAL(watch->wait(std::chrono::seconds(20)).value_or(-1), 0);
  server->process().stop();
}

// A change prints the same watch line whoever wrote it: Eventbase (here through the client) or
// the JavaScript library (raw NATS: its payload, no headers). README "Watching changes" lists
// the fields. Documents print in their order, as JSON.stringify writes them.
CAF_TEST(watch lines are the same for eventbase and js writers) {
  using ordered = nlohmann::ordered_json;
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  auto s = unique_name("lines");
  auto watch = start_watch(server->address(), s, "*");
  const std::string doc = R"({"zeta":1,"alpha":[1,1e-7]})";
  auto put =
      run_client(server->address(), {"put", s, "cpp", R"({ "zeta" : 1, "alpha" : [1.0, 1E-7] })"});
  CAF_REQUIRE_EQUAL(put.exit_code, 0);
  CAF_CHECK_EQUAL(put.out[0].rfind(R"({"data":)" + doc + R"(,"meta":{"dateCreated":")", 0), 0u);
  raw_client js;
  js.request(s + ".anM=-put",  // base64("js")
             R"({"type":"PUT","id":"js","data":)" + doc + R"(,"timestamp":1733565600123})");
  CAF_CHECK_EQUAL(run_client(server->address(), {"delete", s, "cpp"}).exit_code, 0);
  js.request(s + ".anM=-delete", R"({"type":"DELETE","id":"js","timestamp":1733565600124})");
  CAF_REQUIRE(watch->wait_for_stdout(
      [](const std::string& l) { return l.find("\"DELETE\",\"id\":\"js\"") != std::string::npos; },
      std::chrono::seconds(20)));
  auto lines = watch->output();
  CAF_REQUIRE_EQUAL(lines.size(), 4u);
  std::vector<ordered> parsed;
  for (auto& line : lines) parsed.push_back(ordered::parse(line));
  auto names = [](const ordered& object) {
    std::vector<std::string> out;
    for (auto it = object.begin(); it != object.end(); ++it) out.push_back(it.key());
    return out;
  };
  using list = std::vector<std::string>;
  for (auto& line : parsed)
    CAF_CHECK_EQUAL(names(line), (list{"key", "data", "meta", "event", "revision"}));
  // The two PUTs: the same fields, the document in its order.
  for (size_t i : {0, 1}) {
    CAF_CHECK_EQUAL(names(parsed[i]["event"]),
                    (list{"type", "id", "data", "timestamp", "oldData"}));
    CAF_CHECK_EQUAL(stringify(parsed[i]["data"]), doc);
    CAF_CHECK_EQUAL(stringify(parsed[i]["event"]["data"]), doc);
    CAF_CHECK_EQUAL(parsed[i]["meta"]["changes"], 1);
  }
  auto meta = stringify(parsed[1]["meta"]);
  CAF_CHECK_EQUAL(lines[1], R"({"key":"js","data":)" + doc + R"(,"meta":)" + meta +
                                R"(,"event":{"type":"PUT","id":"js","data":)" + doc +
                                R"(,"timestamp":1733565600123,"oldData":null},"revision":)" +
                                stringify(parsed[1]["meta"]["revision"]) + "}");
  // The two DELETEs.
  for (size_t i : {2, 3}) {
    CAF_CHECK_EQUAL(names(parsed[i]["event"]), (list{"type", "id", "timestamp", "oldData"}));
    CAF_CHECK(parsed[i]["data"].is_null());
    CAF_CHECK(parsed[i]["meta"].is_null());
    CAF_CHECK_EQUAL(stringify(parsed[i]["event"]["oldData"]), doc);
  }
  CAF_CHECK_EQUAL(lines[3], R"({"key":"js","data":null,"meta":null,"event":{"type":"DELETE",)"
                            R"("id":"js","timestamp":1733565600124,"oldData":)" +
                                doc + R"(},"revision":)" + stringify(parsed[3]["revision"]) + "}");
  watch->signal(SIGINT);
  CAF_CHECK_EQUAL(watch->wait(std::chrono::seconds(20)).value_or(-1), 0);
  server->process().stop();
}

CAF_TEST(two nodes on one nats see each others writes) {
  temp_dir dir;
  auto one = must_start(dir.sub("one"), {"--nats=" + nats_server().url()});
  auto two = must_start(dir.sub("two"), {"--nats=" + nats_server().url()});
  auto s = unique_name("two-nodes");
  // Open the stream on node two with a watcher there, then write through node one.
  auto watch = start_watch(two->address(), s, "*");
  auto put = run_client(one->address(), {"put", s, "shared", R"({"from":"one"})"});
  CAF_REQUIRE_EQUAL(put.exit_code, 0);
  auto seen = watch->wait_for_stdout(
      [](const std::string& l) { return l.find("shared") != std::string::npos; },
      std::chrono::seconds(20));
  CAF_REQUIRE(seen.has_value());
  CAF_CHECK_EQUAL(field(json::parse(*seen), "/data"), json({{"from", "one"}}));
  auto get = run_client(two->address(), {"get", s, "shared"});
  CAF_CHECK_EQUAL(field(single_json_line(get), "/data"), json({{"from", "one"}}));
  // Both replicas carry the same metadata.
  auto get_one = run_client(one->address(), {"get", s, "shared"});
  CAF_CHECK_EQUAL(field(single_json_line(get), "/meta"), field(single_json_line(get_one), "/meta"));
  watch->signal(SIGTERM);
  CAF_CHECK_EQUAL(watch->wait(std::chrono::seconds(20)).value_or(-1), 0);
  one->process().stop();
  two->process().stop();
}

// Compare-and-set from the command line, on two nodes: --if-absent, --if-revision, the conflict
// error, and four client processes incrementing one counter with read + --if-revision retries.
CAF_TEST(conditional writes through the client on two nodes) {
  temp_dir dir;
  auto one = must_start(dir.sub("one"), {"--nats=" + nats_server().url()});
  auto two = must_start(dir.sub("two"), {"--nats=" + nats_server().url()});
  auto s = unique_name("cas");
  auto created = run_client(one->address(), {"put", "--if-absent", s, "k", R"({"v":1})"});
  CAF_REQUIRE_EQUAL(created.exit_code, 0);
  auto r1 = field(single_json_line(created), "/meta/revision").get<uint64_t>();
  CAF_CHECK_GREATER(r1, 0u);
  auto exists = run_client(two->address(), {"put", "--if-absent", s, "k", R"({"v":2})"});
  CAF_CHECK_EQUAL(exists.exit_code, 1);
  CAF_CHECK(exists.out.empty());
  CAF_REQUIRE_EQUAL(exists.err.size(), 1u);
  CAF_CHECK_NOT_EQUAL(
      exists.err[0].find("conflict: key 'k' exists (revision " + std::to_string(r1) + ")"),
      std::string::npos);
  auto updated = run_client(two->address(),
                            {"put", "--if-revision=" + std::to_string(r1), s, "k", R"({"v":2})"});
  CAF_REQUIRE_EQUAL(updated.exit_code, 0);
  auto r2 = field(single_json_line(updated), "/meta/revision").get<uint64_t>();
  auto stale = run_client(one->address(),
                          {"put", "--if-revision=" + std::to_string(r1), s, "k", R"({"v":3})"});
  CAF_CHECK_EQUAL(stale.exit_code, 1);
  CAF_REQUIRE_EQUAL(stale.err.size(), 1u);
  CAF_CHECK_NOT_EQUAL(stale.err[0].find("conflict: key 'k' is at revision " + std::to_string(r2)),
                      std::string::npos);
  auto not_deleted =
      run_client(one->address(), {"delete", "--if-revision=" + std::to_string(r1), s, "k"});
  CAF_CHECK_EQUAL(not_deleted.exit_code, 1);
  auto get = run_client(one->address(), {"get", "--consistent", s, "k"});
  CAF_CHECK_EQUAL(field(single_json_line(get), "/data"), json({{"v", 2}}));
  CAF_CHECK_EQUAL(field(single_json_line(get), "/meta/revision"), r2);
  auto deleted =
      run_client(one->address(), {"delete", "--if-revision=" + std::to_string(r2), s, "k"});
  CAF_CHECK_EQUAL(deleted.out, std::vector<std::string>{R"({"purged":1})"});
  // Bad command lines: exit 2.
  CAF_CHECK_EQUAL(run_client(one->address(), {"put", "--if-revision=x", s, "k", "1"}).exit_code, 2);
  CAF_CHECK_EQUAL(run_client(one->address(), {"delete", "--if-absent", s, "k"}).exit_code, 2);

  // The counter: each client reads it consistently, then writes n + 1 if it is still at the
  // revision read; a conflict means another client won that round: read again.
  run_client(one->address(), {"put", s, "counter", R"({"n":0})"});
  constexpr int kIncrements = 6;
  std::atomic<int> succeeded{0}, conflicts{0}, errors{0};
  auto client = [&](const std::string& address) {
    for (int done = 0; done < kIncrements;) {
      auto read = run_client(address, {"get", "--consistent", s, "counter"});
      auto doc = json_line(read);
      if (!doc) {
        ++errors;
        return;
      }
      auto n = field(*doc, "/data/n").get<int64_t>();
      auto revision = field(*doc, "/meta/revision").get<uint64_t>();
      auto put = run_client(address, {"put", "--if-revision=" + std::to_string(revision), s,
                                      "counter", json{{"n", n + 1}}.dump()});
      if (put.exit_code == 0) {
        ++succeeded;
        ++done;
      } else if (put.exit_code == 1 && !put.err.empty() &&
                 put.err[0].find("conflict: ") != std::string::npos) {
        ++conflicts;
      } else {
        CAF_MESSAGE("unexpected: " << describe(put));
        ++errors;
        return;
      }
    }
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) clients.emplace_back(client, (i % 2 ? two : one)->address());
  for (auto& t : clients) t.join();
  CAF_CHECK_EQUAL(errors.load(), 0);
  CAF_CHECK_EQUAL(succeeded.load(), 4 * kIncrements);
  CAF_MESSAGE(conflicts.load() << " conflicts retried");
  auto total = run_client(two->address(), {"get", "--consistent", s, "counter"});
  CAF_CHECK_EQUAL(field(single_json_line(total), "/data/n"), succeeded.load());
  one->process().stop();
  two->process().stop();
}

CAF_TEST(a killed watcher releases its subscription) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  auto s = unique_name("killed");
  auto watch = start_watch(server->address(), s, "*");
  auto subscriptions = [&] {
    auto count =
        field(single_json_line(run_client(server->address(), {"status", s})), "/subscriptions");
    return count.is_number() ? count.get<int>() : -1;
  };
  CAF_CHECK_EQUAL(subscriptions(), 1);
  watch->signal(SIGKILL);  // no goodbye: the server learns from the broken connection
  watch->wait(std::chrono::seconds(10));
  // The server has no event to await from here: ask until the subscription is gone.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int left = subscriptions();
  while (left != 0 && std::chrono::steady_clock::now() < deadline) left = subscriptions();
  CAF_CHECK_EQUAL(left, 0);
  server->process().stop();
}

CAF_TEST(server options are validated and help is printed) {
  auto help = subprocess::run({EVENTBASE_SERVER_BIN, "--help"}).value();
  CAF_CHECK_EQUAL(help.exit_code, 0);
  std::string all;
  for (auto& l : help.out) all += l + "\n";
  for (const char* option :
       {"--nats", "--db", "--port", "--bind", "--keep-alive", "--cleanup-interval",
        "--stats-suffix", "--nats-user", "--nats-password", "--nats-token", "--nats-wait",
        "--consumer-replicas", "--audit-interval"})
    CAF_CHECK_NOT_EQUAL(all.find(option), std::string::npos);
  auto bad = subprocess::run({EVENTBASE_SERVER_BIN, "--port=70000"}).value();
  CAF_CHECK_EQUAL(bad.exit_code, 2);
  CAF_CHECK_EQUAL(bad.err.size(), 1u);
  auto hasty = subprocess::run({EVENTBASE_SERVER_BIN, "--audit-interval=500"}).value();
  CAF_CHECK_EQUAL(hasty.exit_code, 2);
  CAF_CHECK_NOT_EQUAL(all_errors(hasty).find("--audit-interval"), std::string::npos);
  // NATS not reachable: with --nats-wait=0 the server gives up at once; otherwise it keeps
  // trying, logging each try, for that long.
  temp_dir dir;
  auto run_unreachable = [&](const std::string& wait) {
    return subprocess::run({EVENTBASE_SERVER_BIN, "--nats=nats://127.0.0.1:1", "--port=0",
                            "--db=" + dir.sub("data" + wait), "--nats-wait=" + wait},
                           std::chrono::seconds(60))
        .value();
  };
  auto at_once = run_unreachable("0");
  CAF_CHECK_EQUAL(at_once.exit_code, 1);
  CAF_CHECK_EQUAL(all_errors(at_once).find("retrying"), std::string::npos);
  auto started = std::chrono::steady_clock::now();
  auto patient = run_unreachable("2");
  CAF_CHECK_GREATER_OR_EQUAL(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  CAF_CHECK_EQUAL(patient.exit_code, 1);
  CAF_CHECK_NOT_EQUAL(all_errors(patient).find("try 1: "), std::string::npos);
  CAF_CHECK_NOT_EQUAL(all_errors(patient).find("gave up after"), std::string::npos);
  CAF_CHECK_EQUAL(run_unreachable("-1").exit_code, 2);
}

CAF_TEST(nats sync applies to the owned server only) {
  temp_dir dir;
  // External servers are configured by their owner: asking eventbase-server to sync them is a
  // bad command line, with the setting they need.
  auto external = subprocess::run({EVENTBASE_SERVER_BIN, "--nats=" + nats_server().url(),
                                   "--nats-sync=always", "--port=0", "--db=" + dir.sub("external")})
                      .value();
  CAF_CHECK_EQUAL(external.exit_code, 2);
  CAF_REQUIRE_EQUAL(external.err.size(), 1u);
  CAF_CHECK(contains(external.err[0],
                     "--nats-sync applies to the nats-server this server starts "
                     "without --nats"));
  CAF_CHECK(contains(external.err[0], "jetstream { sync_interval: always }"));
  auto bad = subprocess::run(
                 {EVENTBASE_SERVER_BIN, "--nats-sync=soon", "--port=0", "--db=" + dir.sub("bad")})
                 .value();
  CAF_CHECK_EQUAL(bad.exit_code, 2);
  CAF_CHECK(contains(all_errors(bad), "--nats-sync: 'soon' is not a JetStream sync setting"));
  // The owned one: the newest nats-server of this checkout syncs always (the default), the
  // system's 2.9 cannot and the server says so; the start log names release and program.
  auto newest = subprocess::run({EVENTBASE_SOURCE_DIR "/scripts/nats-server-path.sh"}).value();
  CAF_REQUIRE(!newest.out.empty());
  auto server =
      must_start(dir.sub("owned"), {"--nats-server-bin=" + newest.out[0], "--nats-sync=always"});
  auto started = server->process().wait_for_stderr(
      [](const std::string& l) { return contains(l, "[nats-server] started pid "); },
      std::chrono::seconds(1));
  CAF_REQUIRE(started.has_value());
  CAF_MESSAGE(*started);
  CAF_CHECK(contains(*started, "(" + newest.out[0] + ")"));
  auto version = subprocess::run({newest.out[0], "--version"}).value();
  CAF_REQUIRE(!version.out.empty());
  CAF_CHECK(contains(*started, version.out[0].substr(version.out[0].find(": v") + 3)));
  bool old_release = contains(version.out[0], "v2.9.");
  CAF_CHECK_EQUAL(contains(*started, "JetStream sync: always"), !old_release);
  std::string log;
  for (auto& l : server->process().errors()) log += l + "\n";
  CAF_CHECK_EQUAL(contains(log, "cannot sync JetStream writes"), old_release);
  auto put = run_client(server->address(), {"put", "users", "u1", R"({"name":"Ada"})"});
  CAF_CHECK_EQUAL(put.exit_code, 0);
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(the sample config file in configs is valid) {
  temp_dir dir;
  auto process =
      subprocess::start({EVENTBASE_SERVER_BIN,
                         "--config-file=" EVENTBASE_SOURCE_DIR "/configs/eventbase-server.ini",
                         "--port=0", "--db=" + dir.sub("data"), "--nats=" + nats_server().url()})
          .value();
  auto line = process->wait_for_stdout(
      [](const std::string& l) { return l.rfind("eventbase-server listening on ", 0) == 0; },
      kServerStartTimeout);
  CAF_CHECK(line.has_value());
  CAF_CHECK_EQUAL(process->stop(), 0);
}

CAF_TEST(the embedding example runs against a server) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), {"--nats=" + nats_server().url()});
  auto colon = server->address().rfind(':');
  auto run = subprocess::run({EVENTBASE_EXAMPLE_BIN, "--host=" + server->address().substr(0, colon),
                              "--port=" + server->address().substr(colon + 1)},
                             std::chrono::seconds(30))
                 .value();
  CAF_CHECK_EQUAL(run.exit_code, 0);
  bool saw_change = false;
  for (auto& l : run.out) saw_change = saw_change || l.rfind("change: ", 0) == 0;
  CAF_CHECK(saw_change);
  server->process().stop();
}

CAF_TEST(a config file is read) {
  temp_dir dir;
  auto ini = dir.sub("test.ini");
  {
    std::ofstream out(ini);
    out << "[global]\nport=0\nbind=\"127.0.0.1\"\nnats=\"" << nats_server().url() << "\"\ndb=\""
        << dir.sub("data") << "\"\nkeep-alive=60\n";
  }
  auto process = subprocess::start({EVENTBASE_SERVER_BIN, "--config-file=" + ini}).value();
  auto line = process->wait_for_stdout(
      [](const std::string& l) {
        return l.rfind("eventbase-server listening on 127.0.0.1:", 0) == 0;
      },
      kServerStartTimeout);
  CAF_CHECK(line.has_value());
  CAF_CHECK_EQUAL(process->stop(), 0);
}
