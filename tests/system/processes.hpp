// What the system tests share: an eventbase-server process on a free port, runs of the
// `eventbase` client, and reading their JSON output.
#pragma once

#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"

namespace eventbase::test {

inline constexpr auto kStartTimeout = std::chrono::seconds(20);
inline constexpr char kListening[] = "eventbase-server listening on ";

// An eventbase-server process on a free port (extra arguments after --db and --port=0).
struct server_process {
  std::unique_ptr<subprocess> process;
  std::string address;  // HOST:PORT

  explicit server_process(const std::string& db, const std::vector<std::string>& extra = {},
                          std::vector<std::string> env = {"EVENTBASE_LOG=info"}) {
    std::vector<std::string> argv = {EVENTBASE_SERVER_BIN, "--db=" + db, "--port=0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    start(argv, std::move(env));
  }

  // Runs `argv` as it is (a wrapper such as `sh -c` may come first).
  server_process(std::vector<std::string> argv, std::vector<std::string> env) {
    start(argv, std::move(env));
  }

  void start(const std::vector<std::string>& argv, std::vector<std::string> env) {
    process = subprocess::start(argv, std::move(env)).value();
    auto line = process->wait_for_stdout(
        [](const std::string& l) { return l.rfind(kListening, 0) == 0; }, kStartTimeout);
    if (!line) {
      std::string err;
      for (auto& l : process->errors()) err += l + "\n";
      CAF_FAIL("server did not start:\n" << err);
    }
    address = line->substr(std::string(kListening).size());
  }

  std::string host() const { return address.substr(0, address.rfind(':')); }
  uint16_t port() const {
    return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }

  // The pid of the nats-server this server started (from its info log), or -1.
  int owned_nats_pid() {
    auto line = process->wait_for_stderr(
        [](const std::string& l) {
          return l.find("[nats-server] started pid ") != std::string::npos;
        },
        std::chrono::seconds(1));
    if (!line) return -1;
    return std::atoi(line->c_str() + line->find("started pid ") + 12);
  }
};

// Runs the client against `address`.
inline subprocess::completed client(const std::string& address, std::vector<std::string> args,
                                    const std::string& input = {}) {
  std::vector<std::string> argv = {EVENTBASE_CLI_BIN, "--server=" + address};
  argv.insert(argv.end(), args.begin(), args.end());
  return subprocess::run(argv, std::chrono::seconds(30), {}, input).value();
}

// An `eventbase watch STREAM GLOB` process, once it says it is watching.
inline std::unique_ptr<subprocess> start_watch(const std::string& address,
                                               const std::string& stream, const std::string& glob) {
  auto watch =
      subprocess::start({EVENTBASE_CLI_BIN, "--server=" + address, "watch", stream, glob}).value();
  if (!watch->wait_for_stderr(
          [](const std::string& l) { return l.find("watching") != std::string::npos; },
          kStartTimeout))
    CAF_FAIL("watch did not start");
  return watch;
}

inline nlohmann::json single_json_line(const subprocess::completed& r) {
  if (r.out.size() != 1)
    return nlohmann::json("expected one line, got " + std::to_string(r.out.size()));
  return nlohmann::json::parse(r.out[0]);
}

// One field of a JSON value, by value: CAF's checks bind their arguments by reference, so they
// must not get references into temporaries.
inline nlohmann::json field(const nlohmann::json& value, const std::string& pointer) {
  nlohmann::json::json_pointer ptr(pointer);
  return value.contains(ptr) ? value.at(ptr) : nlohmann::json();
}

inline bool process_exists(int pid) {
  return pid > 0 && ::kill(pid, 0) == 0;
}

// All lines of a client run's stderr, as one string (for substring checks).
inline std::string all_errors(const subprocess::completed& r) {
  std::string out;
  for (auto& l : r.err) out += l + "\n";
  return out;
}

}  // namespace eventbase::test
