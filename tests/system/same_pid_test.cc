// Clients with the same PID against one server: every client of this suite runs as PID 1 of a
// PID namespace of its own (`unshare --pid --fork --mount-proc`), as in containers that share the
// host's network. CAF 0.17 derives a node id from the host and the PID, so such clients used to
// share one node id and the server took them for one node, sending one's replies to the other;
// configure_network now makes node ids unique (include/eventbase/network.hpp). Two watchers and
// two writers (a put and a get per step, each a fresh PID 1) run at once; each must see exactly
// its own replies and changes. Skipped, with a message, where unshare is not permitted.
#define CAF_SUITE same_pid
#include "caf/test/unit_test.hpp"

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/nats_fixture.hpp"
#include "system/processes.hpp"

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

namespace {

constexpr int kSteps = 25;  // put + get per writer

// The reason the suite cannot run here, or empty.
std::string why_unshare_fails() {
  std::string unshare = find_executable("unshare");
  if (unshare.empty()) return "unshare is not installed";
  auto probe = subprocess::run(
      {unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", "echo $$"},
      std::chrono::seconds(10));
  if (!probe.ok()) return probe.error().to_string();
  if (probe->exit_code != 0 || probe->out != std::vector<std::string>{"1"})
    return "unshare --pid --fork --mount-proc failed: " + describe(*probe);
  return {};
}

// The command line that runs the client as PID 1 of a new PID namespace.
std::vector<std::string> as_pid_1(const std::string& address, std::vector<std::string> args) {
  std::vector<std::string> argv = {"unshare",
                                   "--pid",
                                   "--fork",
                                   "--mount-proc",
                                   "--kill-child",
                                   EVENTBASE_CLI_BIN,
                                   "--server=" + address,
                                   "--timeout=5"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The process unshare forked (the client), by its host PID; -1 if there is none.
int child_of(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  int child = -1;
  in >> child;
  return child;
}

// The last NSpid entry of a process: its PID in its own namespace; -1 if unknown.
int pid_in_namespace(int host_pid) {
  std::ifstream in("/proc/" + std::to_string(host_pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int pid = -1;
    for (int p; fields >> p;) pid = p;
    return pid;
  }
  return -1;
}

std::string pid_namespace_of(int host_pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(host_pid) + "/ns/pid", ec);
}

json doc_of(const std::string& writer, int i) {
  return {{"writer", writer}, {"i", i}};
}

std::string key_of(const std::string& writer, int i) {
  return writer + ":" + std::to_string(i);
}

// A watcher of `glob` running as PID 1 of its own namespace.
struct watcher {
  std::unique_ptr<subprocess> unshare;
  int client_pid = -1;  // host PID of the client inside the namespace

  watcher(const std::string& address, const std::string& stream, const std::string& glob) {
    unshare = subprocess::start(as_pid_1(address, {"watch", stream, glob})).value();
  }

  bool started() {
    bool watching =
        unshare
            ->wait_for_stderr(
                [](const std::string& l) { return l.find("watching") != std::string::npos; },
                std::chrono::seconds(20))
            .has_value();
    if (watching) client_pid = child_of(unshare->pid());
    return watching;
  }
};

}  // namespace

CAF_TEST(clients with the same pid in different pid namespaces get their own replies) {
  if (auto why = why_unshare_fails(); !why.empty()) {
    CAF_MESSAGE("SKIPPED: this test needs PID namespaces (run as root): " << why);
    return;
  }
  temp_dir dir;
  auto server = server_process::start(dir.sub("data"), {"--nats=" + nats_server().url()});
  if (!server.ok()) CAF_FAIL(server.error().to_string());
  const std::string address = (*server)->address();
  auto stream = unique_name("same-pid");
  // Create the stream first, so the watchers do not race to create it.
  CAF_REQUIRE(json_line(run_client(address, {"put", stream, "init", "0"})).has_value());

  // Two watchers, both PID 1, in different namespaces.
  watcher a(address, stream, "a:*");
  watcher b(address, stream, "b:*");
  bool a_started = a.started();
  bool b_started = b.started();
  CAF_CHECK(a_started);
  CAF_CHECK(b_started);
  if (a_started && b_started) {
    // The premise: same PID, different namespaces.
    CAF_CHECK_EQUAL(pid_in_namespace(a.client_pid), 1);
    CAF_CHECK_EQUAL(pid_in_namespace(b.client_pid), 1);
    CAF_CHECK_NOT_EQUAL(a.client_pid, b.client_pid);
    CAF_CHECK_NOT_EQUAL(pid_namespace_of(a.client_pid), pid_namespace_of(b.client_pid));
    auto state = json_line(run_client(address, {"status", stream}));
    CAF_REQUIRE(state.has_value());
    CAF_CHECK_EQUAL(member(*state, "subscriptions"), json(2));
  } else {
    CAF_MESSAGE("watcher a: " << describe(
                    subprocess::completed{-1, a.unshare->output(), a.unshare->errors()}));
    CAF_MESSAGE("watcher b: " << describe(
                    subprocess::completed{-1, b.unshare->output(), b.unshare->errors()}));
  }

  // Two writers at once, each step a put and a get, each client PID 1 of a new namespace.
  std::mutex mutex;
  std::vector<std::string> failures;
  auto writer = [&](std::string name) {
    for (int i = 0; i < kSteps; ++i) {
      auto doc = doc_of(name, i);
      auto key = key_of(name, i);
      std::string failed;
      auto put = subprocess::run(as_pid_1(address, {"put", stream, key, doc.dump()}),
                                 std::chrono::seconds(30))
                     .value();
      auto put_line = json_line(put);
      if (!put_line || member(*put_line, "data") != doc) failed = "put: " + describe(put);
      if (failed.empty()) {
        auto get =
            subprocess::run(as_pid_1(address, {"get", stream, key}), std::chrono::seconds(30))
                .value();
        auto get_line = json_line(get);
        if (!get_line || member(*get_line, "data") != doc) failed = "get: " + describe(get);
      }
      if (!failed.empty()) {
        std::lock_guard<std::mutex> guard(mutex);
        failures.push_back("writer " + name + " step " + std::to_string(i) + ": " + failed);
        return;  // one is enough; the next ones would wait for their timeouts too
      }
    }
  };
  std::thread writer_a(writer, "a");
  std::thread writer_b(writer, "b");
  writer_a.join();
  writer_b.join();
  CAF_CHECK_EQUAL(failures, std::vector<std::string>{});

  // Each watcher saw exactly its own writer's changes, in order.
  auto check_watcher = [&](watcher& w, const std::string& name) {
    std::string last = "\"key\":\"" + key_of(name, kSteps - 1) + "\"";
    w.unshare->wait_for_stdout(
        [&](const std::string& l) { return l.find(last) != std::string::npos; },
        std::chrono::seconds(20));
    std::vector<std::string> seen;
    for (auto& line : w.unshare->output()) {
      auto change = json::parse(line, nullptr, false);
      auto key = member(change, "key");
      if (!key.is_string() || member(change, "data") != doc_of(name, static_cast<int>(seen.size())))
        seen.push_back("unexpected: " + line);
      else
        seen.push_back(key.get<std::string>());
    }
    std::vector<std::string> expected;
    for (int i = 0; i < kSteps; ++i) expected.push_back(key_of(name, i));
    CAF_CHECK_EQUAL(seen, expected);
  };
  check_watcher(a, "a");
  check_watcher(b, "b");

  // Each watcher ends cleanly on SIGTERM, sent to the client itself (unshare would die of it and
  // SIGKILL the client through --kill-child).
  for (auto* w : {&a, &b}) {
    if (w->client_pid > 0) ::kill(w->client_pid, SIGTERM);
    CAF_CHECK_EQUAL(w->unshare->wait(std::chrono::seconds(20)).value_or(-1), 0);
  }
  CAF_CHECK_EQUAL((*server)->stop(), 0);
}
