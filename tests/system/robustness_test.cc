// What a hostile or unlucky peer does to a node (README "Limits and failure behaviour"): each
// test drives eventbase-server from outside, as a process, and checks that it answers with a
// clear error and keeps serving.
#define CAF_SUITE robustness
#include "caf/test/unit_test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dirent.h>

#include <fstream>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "eventbase/actors.hpp"
#include "support/nats_fixture.hpp"
#include "system/processes.hpp"
#include "system/remote_node.hpp"

// Built with AddressSanitizer (as the server then is too): memory figures say little.
#if defined(__SANITIZE_ADDRESS__)
#define EVENTBASE_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVENTBASE_TEST_UNDER_ASAN 1
#endif
#endif

using namespace eventbase;
using namespace eventbase::test;
using nlohmann::json;

namespace {

// A remote node connected to `server`, or the test fails.
struct connected_node : remote_node {
  explicit connected_node(const server_process& server) {
    auto st = connect(server);
    if (!st.ok()) CAF_FAIL("cannot connect: " << st.to_string());
  }
  stream_actor stream(const std::string& name) { return open(name).value(); }
};

std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + "1" + std::string(depth, ']');
}

size_t descriptors_of(int pid) {
  size_t n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

// Resident memory of `pid` in KiB.
long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

// A TCP connection to `port` on loopback; -1 on failure.
int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads (and discards) from `fd` until the peer closes it or `timeout` passes; true when closed.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
}

std::vector<std::string> server_args() {
  return {"--nats=" + nats_server().url()};
}

}  // namespace

CAF_TEST(a regex of 20000 nested groups is refused and the server lives) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), server_args());
  auto s = unique_name("parens");
  CAF_REQUIRE_EQUAL(run_client(server->address(), {"put", s, "k", "1"}).exit_code, 0);
  auto keys =
      run_client(server->address(), {"keys", s, std::string(20000, '(') + std::string(20000, ')')});
  CAF_CHECK_EQUAL(keys.exit_code, 1);
  CAF_CHECK_NOT_EQUAL(all_errors(keys).find("regex too complex"), std::string::npos);
  auto nested =
      run_client(server->address(), {"keys", s, std::string(100, '(') + std::string(100, ')')});
  CAF_CHECK_EQUAL(nested.exit_code, 1);
  CAF_CHECK_EQUAL(run_client(server->address(), {"keys", s}).out,
                  std::vector<std::string>{R"(["k"])"});
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(catastrophic regexes end with an error and never stall the node) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), server_args());
  std::vector<std::string> streams;
  for (int i = 0; i < 4; ++i) {
    streams.push_back(unique_name("backtrack"));
    CAF_REQUIRE_EQUAL(
        run_client(server->address(), {"put", streams.back(), std::string(30, 'a') + "b", "1"})
            .exit_code,
        0);
    CAF_REQUIRE_EQUAL(
        run_client(server->address(), {"put", streams.back(), std::string(1000, 'a') + "-b", "1"})
            .exit_code,
        0);
  }
  // Four at once, on four streams, while another stream keeps being used.
  std::vector<std::future<subprocess::completed>> running;
  for (int i = 0; i < 4; ++i)
    running.push_back(std::async(std::launch::async, [&, i] {
      return run_client(server->address(), {"keys", streams[i], i % 2 ? "(a+)+$" : "(a*)*b"});
    }));
  auto other = unique_name("bystander");
  CAF_CHECK_EQUAL(run_client(server->address(), {"put", other, "k", "2"}).exit_code, 0);
  CAF_CHECK_EQUAL(run_client(server->address(), {"streams"}).exit_code, 0);
  for (auto& r : running) {
    auto done = r.get();
    CAF_CHECK_EQUAL(done.exit_code, 1);
    CAF_CHECK_NOT_EQUAL(all_errors(done).find("regex too complex"), std::string::npos);
  }
  CAF_CHECK_EQUAL(
      field(single_json_line(run_client(server->address(), {"get", other, "k"})), "/data"),
      json(2));
  // A regex that is only slow is fine, and JavaScript's `.` matches a character.
  CAF_CHECK_EQUAL(run_client(server->address(), {"put", other, "ключ", "3"}).exit_code, 0);
  CAF_CHECK_EQUAL(run_client(server->address(), {"keys", other, "^.{4}$"}).out,
                  std::vector<std::string>{R"(["ключ"])"});
  CAF_CHECK_EQUAL(server->process().stop(), 0);  // SIGTERM still stops it
}

CAF_TEST(documents nested too deeply are refused and readers stay safe) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"), server_args());
  auto s = unique_name("deep");
  auto watch = start_watch(server->address(), s, "*");
  // Through the client.
  auto put = run_client(server->address(), {"put", s, "deep", "-"}, nested_arrays(100000));
  CAF_CHECK_EQUAL(put.exit_code, 1);
  CAF_CHECK_NOT_EQUAL(all_errors(put).find("512"), std::string::npos);
  // Through the actor interface, past any client-side check.
  connected_node node(*server);
  auto stream = node.stream(s);
  auto direct =
      node.ask<entry>(stream, put_atom::value, std::string("deep"), nested_arrays(100000));
  CAF_REQUIRE(!direct.ok());
  CAF_CHECK_EQUAL(direct.error().code(), errc::invalid_argument);
  CAF_CHECK_NOT_EQUAL(direct.error().message().find("512"), std::string::npos);
  // Straight onto the stream, as a foreign writer could: the replica skips it.
  raw_client raw;
  raw.publish(s + ".ZGVlcA==-put", R"({"type":"PUT","id":"deep","data":)" + nested_arrays(100000) +
                                       R"(,"timestamp":1})");
  // 512 levels are fine everywhere.
  auto fits = run_client(server->address(), {"put", s, "fits", "-"}, nested_arrays(512));
  CAF_CHECK_EQUAL(fits.exit_code, 0);
  CAF_REQUIRE(watch->wait_for_stdout(
      [](const std::string& l) { return l.find("\"fits\"") != std::string::npos; },
      kServerStartTimeout));
  auto get = run_client(server->address(), {"get", s, "fits"});
  CAF_CHECK_EQUAL(get.exit_code, 0);
  CAF_CHECK_EQUAL(field(single_json_line(get), "/data").dump(), nested_arrays(512));
  CAF_CHECK_EQUAL(run_client(server->address(), {"get", s, "deep"}).out,
                  std::vector<std::string>{"null"});
  auto state = single_json_line(run_client(server->address(), {"status", s}));
  CAF_CHECK_EQUAL(field(state, "/skippedEvents"), 1);
  watch->signal(SIGINT);
  CAF_CHECK_EQUAL(watch->wait(std::chrono::seconds(20)).value_or(-1), 0);  // it did not crash
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(a stalled watcher loses its subscription instead of growing the server) {
  temp_dir dir;
  auto server = must_start(dir.sub("data"),
                           {"--nats=" + nats_server().url(), "--subscriber-max-pending=200",
                            // a stopped process sends no heartbeats: only the backlog
                            // bound may end it here
                            "--connection-timeout=0", "--subscriber-max-pending-bytes=1000000"});
  auto s = unique_name("stalled");
  auto watch = start_watch(server->address(), s, "*");
  watch->signal(SIGSTOP);
  connected_node node(*server);
  auto stream = node.stream(s);
  std::string doc = json{{"text", std::string(1000, 'x')}}.dump();
  auto put_many = [&](int n) {
    for (int i = 0; i < n; ++i)
      CAF_REQUIRE(node.ask<entry>(stream, put_atom::value, "k" + std::to_string(i), doc).ok());
  };
  put_many(1000);
  auto state = node.ask<stream_status>(stream, status_atom::value).value();
  CAF_CHECK_EQUAL(state.subscriptions, 0u);
  CAF_CHECK_EQUAL(state.slow_subscriptions_ended, 1u);
  // Writes go on at full speed and the server's memory no longer follows them.
  long before = rss_kib(server->process().pid());
  put_many(3000);
  long grown = rss_kib(server->process().pid()) - before;
  CAF_MESSAGE("server RSS grew by " << grown << " KiB over 3000 puts of 1 KB");
#ifndef EVENTBASE_TEST_UNDER_ASAN
  CAF_CHECK_LESS(grown, 48 * 1024);
#else
  CAF_MESSAGE("(not checked under AddressSanitizer: its quarantine keeps freed memory)");
#endif
  watch->signal(SIGCONT);
  auto code = watch->wait(std::chrono::seconds(30));
  CAF_CHECK_EQUAL(code.value_or(-1), 1);
  std::string err;
  for (auto& l : watch->errors()) err += l + "\n";
  CAF_CHECK_NOT_EQUAL(err.find("too slow"), std::string::npos);
  CAF_CHECK_LESS_OR_EQUAL(watch->output().size(), 201u);
  auto status_line = single_json_line(run_client(server->address(), {"status", s}));
  CAF_CHECK_EQUAL(field(status_line, "/slowSubscriptionsEnded"), 1);
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(a node serves more stream names than it has descriptors) {
  temp_dir dir;
  // Soft and hard limit 256: the server cannot raise it.
  auto server = server_process::spawn_command(
      {"/bin/sh", "-c",
       "ulimit -n 256 && exec " EVENTBASE_SERVER_BIN " --port=0 --db=" + dir.sub("data") +
           " --nats=" + nats_server().url()});
  CAF_REQUIRE(server->await_listening());
  connected_node node(*server);
  for (int i = 0; i < 500; ++i) {
    auto name = unique_name("fd");
    auto stream = node.ask<stream_actor>(node.manager, open_atom::value, name);
    CAF_REQUIRE(stream.ok());
    CAF_REQUIRE(node.ask<entry>(*stream, put_atom::value, std::string("k"), std::string("1")).ok());
    auto closed = node.ask<ok_atom>(*stream, close_atom::value);
    if (!closed.ok())
      CAF_FAIL("closing stream " << i << ": " << closed.error().to_string() << "\n"
                                 << server->diagnostics(40));
  }
  CAF_CHECK_LESS(descriptors_of(server->process().pid()), 128u);
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(a second server on a data path in use exits at once and says why) {
  temp_dir dir;
  auto first = must_start(dir.sub("data"), server_args());
  auto start = std::chrono::steady_clock::now();
  auto second = subprocess::run({EVENTBASE_SERVER_BIN, "--port=0", "--db=" + dir.sub("data"),
                                 "--nats=" + nats_server().url()},
                                std::chrono::seconds(20))
                    .value();
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  CAF_CHECK_NOT_EQUAL(second.exit_code, 0);
  CAF_CHECK_NOT_EQUAL(all_errors(second).find("in use"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(all_errors(second).find(dir.sub("data")), std::string::npos);
  CAF_CHECK_EQUAL(first->process().stop(), 0);
  // Restarting right after a stop works (also on the embedded default).
  auto again = must_start(dir.sub("data"), server_args());
  CAF_CHECK_EQUAL(run_client(again->address(), {"streams"}).exit_code, 0);
  CAF_CHECK_EQUAL(again->process().stop(), 0);
  auto own = must_start(dir.sub("own"));
  CAF_CHECK_EQUAL(own->process().stop(), 0);
  auto own_again = must_start(dir.sub("own"));
  CAF_CHECK_EQUAL(run_client(own_again->address(), {"streams"}).exit_code, 0);
  CAF_CHECK_EQUAL(own_again->process().stop(), 0);
}

CAF_TEST(an empty or unusable bind address is an error) {
  temp_dir dir;
  auto run = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {EVENTBASE_SERVER_BIN, "--port=0", "--db=" + dir.sub("data"),
                                     "--nats=" + nats_server().url()};
    argv.insert(argv.end(), args.begin(), args.end());
    return subprocess::run(argv, std::chrono::seconds(20)).value();
  };
  auto empty = run({"--bind="});
  CAF_CHECK_EQUAL(empty.exit_code, 2);
  CAF_CHECK_NOT_EQUAL(all_errors(empty).find("--bind"), std::string::npos);
  auto ini = dir.sub("empty-bind.ini");
  std::ofstream(ini) << "[global]\nbind=\"\"\n";
  CAF_CHECK_EQUAL(run({"--config-file=" + ini}).exit_code, 2);
  CAF_CHECK_EQUAL(run({"--bind=no such host!"}).exit_code, 2);
}

CAF_TEST(connections that never complete the handshake are closed) {
  temp_dir dir;
  auto server =
      must_start(dir.sub("data"), {"--nats=" + nats_server().url(), "--connection-timeout=3000"});
  int silent = connect_to(server->port());
  int partial = connect_to(server->port());
  int stalled = connect_to(server->port());
  CAF_REQUIRE(silent >= 0 && partial >= 0 && stalled >= 0);
  CAF_REQUIRE_EQUAL(::send(partial, "garbage", 7, 0), 7);
  // A BASP header announcing a payload that never comes.
  std::string header(32, '\0');
  header[0] = 0;     // client handshake
  header[4] = 0x10;  // payload length 0x10000000
  CAF_REQUIRE_EQUAL(::send(stalled, header.data(), header.size(), 0), 32);
  CAF_CHECK(closed_by_peer(silent, std::chrono::seconds(10)));
  CAF_CHECK(closed_by_peer(partial, std::chrono::seconds(10)));
  CAF_CHECK(closed_by_peer(stalled, std::chrono::seconds(10)));
  for (int fd : {silent, partial, stalled}) ::close(fd);
  // A real client, idle for longer than the timeout, keeps its connection: it sends a heartbeat
  // every second.
  auto s = unique_name("idle");
  auto watch = start_watch(server->address(), s, "*");
  // Idle, then a change: the watcher must still be there to print it.
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  CAF_CHECK_EQUAL(run_client(server->address(), {"put", s, "k", "1"}).exit_code, 0);
  CAF_CHECK(watch->wait_for_stdout(
      [](const std::string& l) { return l.find("\"k\"") != std::string::npos; },
      kServerStartTimeout));
  watch->signal(SIGINT);
  CAF_CHECK_EQUAL(watch->wait(std::chrono::seconds(20)).value_or(-1), 0);
  CAF_CHECK_EQUAL(server->process().stop(), 0);
}

CAF_TEST(the client timeout covers connecting) {
  // Something that accepts connections and never says a word.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CAF_REQUIRE_EQUAL(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  CAF_REQUIRE_EQUAL(::listen(listener, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto start = std::chrono::steady_clock::now();
  auto r = subprocess::run({EVENTBASE_CLI_BIN, "--server=" + address, "--timeout=1", "streams"},
                           std::chrono::seconds(30))
               .value();
  CAF_CHECK_EQUAL(r.exit_code, 3);
  CAF_CHECK_NOT_EQUAL(all_errors(r).find("handshake"), std::string::npos);
  CAF_CHECK_LESS(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ::close(listener);
}
