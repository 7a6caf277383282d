// What the system tests share: an eventbase-server process on a free port (started, awaited,
// killed and restarted on the same data path), the eventbase client run as a process, reading
// their JSON output, and the JetStream state of a stream asked of NATS directly.
//
// Results, not assertions, so every suite decides what a failure means; the few helpers that
// fail the test themselves (must_start, start_watch) say so.
#pragma once

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"
#include "support/nats_fixture.hpp"

namespace eventbase::test {

constexpr auto kServerStartTimeout = std::chrono::seconds(30);

// An eventbase-server process on a free loopback port.
class server_process {
 public:
  // Spawns the server on data path `db` without waiting for it (a crash test may kill it
  // while it starts); `extra` options are appended (e.g. --nats=URL). It logs at info level
  // (EVENTBASE_LOG overrides), for diagnostics().
  static std::unique_ptr<server_process> spawn(const std::string& db,
                                               const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {EVENTBASE_SERVER_BIN, "--db=" + db, "--port=0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return spawn_command(argv);
  }

  // Spawns `argv` as it is: the server, or a wrapper that runs it (`sh -c "ulimit ...; exec"`).
  static std::unique_ptr<server_process> spawn_command(const std::vector<std::string>& argv) {
    std::vector<std::string> env;
    if (std::getenv("EVENTBASE_LOG") == nullptr) env.push_back("EVENTBASE_LOG=info");
    std::unique_ptr<server_process> out(new server_process);
    out->process_ = subprocess::start(argv, env).value();
    return out;
  }

  // Spawns the server and waits until it listens; an error names what it printed otherwise.
  static result<std::unique_ptr<server_process>> start(const std::string& db,
                                                       const std::vector<std::string>& extra = {}) {
    auto server = spawn(db, extra);
    if (!server->await_listening()) return status(errc::unavailable, server->diagnostics());
    return server;
  }

  // Waits for the "listening on HOST:PORT" line; false if the server exited or took too long.
  bool await_listening(std::chrono::milliseconds timeout = kServerStartTimeout) {
    static const std::string prefix = "eventbase-server listening on ";
    auto line = process_->wait_for_stdout(
        [](const std::string& l) { return l.rfind(prefix, 0) == 0; }, timeout);
    if (!line) return false;
    address_ = line->substr(prefix.size());
    return true;
  }

  const std::string& address() const { return address_; }  // HOST:PORT
  std::string host() const { return address_.substr(0, address_.rfind(':')); }
  uint16_t port() const {
    return static_cast<uint16_t>(std::stoi(address_.substr(address_.rfind(':') + 1)));
  }
  subprocess& process() { return *process_; }

  // SIGKILL, then waits for the exit; the exit code (137 when the kill took it).
  int kill() {
    process_->signal(SIGKILL);
    return process_->wait(std::chrono::seconds(30)).value_or(-1);
  }

  // SIGTERM and the exit code.
  int stop() { return process_->stop(); }

  // What the server printed on stderr (the last `most` lines), for failure messages.
  std::string diagnostics(size_t most = 200) const {
    auto lines = process_->errors();
    std::string out = "eventbase-server stderr (" + std::to_string(lines.size()) + " lines):";
    for (size_t i = lines.size() > most ? lines.size() - most : 0; i < lines.size(); ++i)
      out += "\n  " + lines[i];
    return out;
  }

 private:
  server_process() = default;
  std::unique_ptr<subprocess> process_;
  std::string address_;
};

// Runs the eventbase client against `address` to completion, with `input` on its stdin. A
// client that cannot be run or does not finish in time gives exit code -1 and the reason on
// `err`.
inline subprocess::completed run_client(
    const std::string& address, std::vector<std::string> args, const std::string& input = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::vector<std::string> argv = {EVENTBASE_CLI_BIN, "--server=" + address};
  argv.insert(argv.end(), args.begin(), args.end());
  auto run = subprocess::run(argv, timeout, {}, input);
  if (run.ok()) return std::move(*run);
  subprocess::completed failed;
  failed.err.push_back(run.error().to_string());
  return failed;
}

// One line describing a client run, for failure messages.
inline std::string describe(const subprocess::completed& r) {
  std::string out = "exit " + std::to_string(r.exit_code) + ", stdout [";
  for (size_t i = 0; i < r.out.size(); ++i) out += (i ? " | " : "") + r.out[i];
  out += "], stderr [";
  for (size_t i = 0; i < r.err.size(); ++i) out += (i ? " | " : "") + r.err[i];
  return out + "]";
}

// The single JSON line a successful command prints, or nullopt.
inline std::optional<nlohmann::json> json_line(const subprocess::completed& r) {
  if (r.exit_code != 0 || r.out.size() != 1) return std::nullopt;
  auto value = nlohmann::json::parse(r.out[0], nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

// Member `name` of a JSON object by value; null when absent. (json::value() of an optional's
// contents trips GCC 12's -Wnull-dereference.)
inline nlohmann::json member(const nlohmann::json& object, const std::string& name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nlohmann::json(nullptr) : *it;
}

// The state of JetStream stream `name` ("messages", "first_seq", "last_seq", ...), asked of the
// test's nats-server with a raw NATS request (`$JS.API.STREAM.INFO`), not through Eventbase.
inline nlohmann::json jetstream_state(raw_client& nats, const std::string& name) {
  auto reply = nlohmann::json::parse(nats.request("$JS.API.STREAM.INFO." + name, ""), nullptr,
                                     /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.contains("state")) return nullptr;
  return reply["state"];
}

// The single JSON line a successful command prints, or (to make a check fail with the reason)
// a JSON string describing the run.
inline nlohmann::json single_json_line(const subprocess::completed& r) {
  return json_line(r).value_or(nlohmann::json(describe(r)));
}

// One field of a JSON value by JSON pointer, by value: CAF's checks bind their arguments by
// reference, so they must not get references into temporaries.
inline nlohmann::json field(const nlohmann::json& value, const std::string& pointer) {
  nlohmann::json::json_pointer ptr(pointer);
  return value.contains(ptr) ? value.at(ptr) : nlohmann::json();
}

// All of a run's stderr as one string, for substring checks.
inline std::string all_errors(const subprocess::completed& r) {
  std::string out;
  for (auto& l : r.err) out += l + "\n";
  return out;
}

// Whether `text` holds `what`.
inline bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

inline bool process_exists(int pid) {
  return pid > 0 && ::kill(pid, 0) == 0;
}

// The pid of the nats-server a server started (from its info log), or -1.
inline int owned_nats_pid(server_process& server) {
  auto line = server.process().wait_for_stderr(
      [](const std::string& l) {
        return l.find("[nats-server] started pid ") != std::string::npos;
      },
      std::chrono::seconds(1));
  if (!line) return -1;
  return std::atoi(line->c_str() + line->find("started pid ") + 12);
}

}  // namespace eventbase::test

// Helpers that fail the current CAF test themselves (include caf/test/unit_test.hpp first).
#ifdef CAF_FAIL
namespace eventbase::test {

// A server that listens, or the test fails with what the server printed.
inline std::unique_ptr<server_process> must_start(const std::string& db,
                                                  const std::vector<std::string>& extra = {}) {
  auto server = server_process::start(db, extra);
  if (!server.ok()) CAF_FAIL("server did not start: " << server.error().message());
  return std::move(*server);
}

// An `eventbase watch ARGS...` process (STREAM GLOB, or --query=FILTER STREAM), once it says it
// is watching.
inline std::unique_ptr<subprocess> start_watch(const std::string& address,
                                               const std::vector<std::string>& args) {
  std::vector<std::string> argv = {EVENTBASE_CLI_BIN, "--server=" + address, "watch"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto watch = subprocess::start(argv).value();
  if (!watch->wait_for_stderr(
          [](const std::string& l) { return l.find("watching") != std::string::npos; },
          kServerStartTimeout))
    CAF_FAIL("watch did not start");
  return watch;
}

inline std::unique_ptr<subprocess> start_watch(const std::string& address,
                                               const std::string& stream, const std::string& glob) {
  return start_watch(address, std::vector<std::string>{stream, glob});
}

}  // namespace eventbase::test
#endif
