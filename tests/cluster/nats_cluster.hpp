// Three nats-servers with JetStream, clustered with routes on loopback free ports, each
// killable (-9) and restartable on its own store; and JetStream's view of the cluster asked
// with raw NATS requests (no Eventbase code on that side).
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nats/nats.h>

#include <array>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/subprocess.hpp"
#include "eventbase/status.hpp"
#include "nats/server_settings.hpp"
#include "support/temp_dir.hpp"

namespace eventbase::test {

/// Member `key` of a JSON object if it is a string (or a bool), else "" (false). Not
/// json::value(): GCC 12 warns about a null dereference inside it.
inline std::string string_member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}
inline uint64_t number_member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}
inline bool bool_member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return false;
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

/// The nats-server program the cluster runs: $EVENTBASE_NATS_SERVER when set (scripts/test.sh
/// sets it to the newest that scripts/setup.sh fetched for a second pass), else nats-server.
inline std::string nats_server_program() {
  return find_executable(nats::default_server_executable());
}

/// A duration in seconds, for the figures the cluster suites print.
inline double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

/// Polls `condition` every 100 ms until it holds; false after `timeout`.
template <class F>
bool await(F condition, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

/// A TCP port free on loopback right now (the kernel's pick for an ephemeral bind).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

class nats_cluster {
 public:
  static constexpr size_t size = 3;

  struct server {
    std::string name;  // nats-server's server_name, as JetStream reports leaders
    int port = 0;
    int cluster_port = 0;
    int monitor_port = 0;  // HTTP monitoring (/jsz: the meta leader)
    std::string store;
    std::string config;
    std::unique_ptr<subprocess> process;
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port); }
    bool running() const { return process != nullptr; }
  };

  explicit nats_cluster(const temp_dir& dir) {
    for (size_t i = 0; i < size; ++i) {
      auto& s = servers_[i];
      s.name = "n" + std::to_string(i + 1);
      s.port = free_port();
      s.cluster_port = free_port();
      s.monitor_port = free_port();
      s.store = dir.sub(s.name);
      s.config = dir.sub(s.name + ".conf");
    }
    for (auto& s : servers_) {
      std::string routes;
      for (auto& other : servers_)
        if (&other != &s)
          routes += (routes.empty() ? "\"" : ", \"") + std::string("nats-route://127.0.0.1:") +
                    std::to_string(other.cluster_port) + "\"";
      std::ofstream(s.config) << "server_name: " << s.name << "\nlisten: 127.0.0.1:" << s.port
                              << "\nhttp: 127.0.0.1:" << s.monitor_port
                              << "\njetstream { store_dir: \"" << s.store << "\" }\n"
                              << "cluster {\n  name: ebtest\n  listen: 127.0.0.1:" << s.cluster_port
                              << "\n  routes: [" << routes << "]\n}\n";
    }
  }

  ~nats_cluster() {
    for (size_t i = 0; i < size; ++i) kill(i);
  }

  /// Starts server `i` and waits until it accepts clients.
  status start(size_t i) {
    auto& s = servers_[i];
    auto started = subprocess::start({nats_server_program(), "-c", s.config});
    if (!started.ok()) return started.error();
    s.process = std::move(*started);
    auto ready = s.process->wait_for_stderr(
        [](const std::string& l) { return l.find("Server is ready") != std::string::npos; },
        std::chrono::seconds(30));
    if (!ready) {
      std::string log;
      for (auto& line : s.process->errors()) log += "\n  " + line;
      return status(errc::unavailable, s.name + " did not start:" + log);
    }
    return status::OK();
  }

  status start_all() {
    for (size_t i = 0; i < size; ++i)
      if (auto st = start(i); !st.ok()) return st;
    return status::OK();
  }

  /// SIGKILL, as a crashed machine.
  void kill(size_t i) {
    auto& s = servers_[i];
    if (!s.process) return;
    s.process->signal(SIGKILL);
    s.process->wait(std::chrono::seconds(10));
    s.process.reset();
  }

  /// SIGSTOP: a server that hangs (paused by its machine, swapping) with its sockets open;
  /// resume() sends SIGCONT.
  void pause(size_t i) {
    if (servers_[i].process) servers_[i].process->signal(SIGSTOP);
  }
  void resume(size_t i) {
    if (servers_[i].process) servers_[i].process->signal(SIGCONT);
  }

  /// The server leading JetStream's meta group (which creates consumers), as a running
  /// server's monitoring endpoint says; size when none says.
  size_t meta_leader() const {
    for (auto& s : servers_) {
      if (!s.running()) continue;
      httplib::Client http("127.0.0.1", s.monitor_port);
      http.set_connection_timeout(1);
      http.set_read_timeout(1);
      auto reply = http.Get("/jsz");
      if (!reply || reply->status != 200) continue;
      auto jsz = nlohmann::json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
      if (jsz.is_object() && jsz.contains("meta_cluster")) {
        auto leader = index_of(string_member(jsz["meta_cluster"], "leader"));
        if (leader < size) return leader;
      }
    }
    return size;
  }

  const server& at(size_t i) const { return servers_[i]; }

  /// "url1,url2,url3", as --nats takes them.
  std::string urls() const {
    std::string out;
    for (auto& s : servers_) out += (out.empty() ? "" : ",") + s.url();
    return out;
  }

  /// The index of the server named `name` or with client URL `url`; size when none.
  size_t index_of(const std::string& name_or_url) const {
    for (size_t i = 0; i < size; ++i)
      if (servers_[i].name == name_or_url || servers_[i].url() == name_or_url) return i;
    return size;
  }

  /// A JetStream API request through any running server; null when none answers in time.
  nlohmann::json request(const std::string& subject, const std::string& body = "",
                         int64_t timeout_ms = 2000) const {
    std::vector<std::string> urls;
    for (auto& s : servers_)
      if (s.running()) urls.push_back(s.url());
    std::vector<const char*> list;
    for (auto& u : urls) list.push_back(u.c_str());
    if (list.empty()) return nullptr;
    natsOptions* opts = nullptr;
    natsConnection* conn = nullptr;
    natsMsg* reply = nullptr;
    nlohmann::json out;
    if (natsOptions_Create(&opts) == NATS_OK &&
        natsOptions_SetServers(opts, list.data(), static_cast<int>(list.size())) == NATS_OK &&
        natsOptions_SetTimeout(opts, 1000) == NATS_OK &&
        natsConnection_Connect(&conn, opts) == NATS_OK &&
        natsConnection_RequestString(&reply, conn, subject.c_str(), body.c_str(), timeout_ms) ==
            NATS_OK) {
      out = nlohmann::json::parse(
          std::string(natsMsg_GetData(reply), static_cast<size_t>(natsMsg_GetDataLength(reply))),
          nullptr, /*allow_exceptions=*/false);
    }
    natsMsg_Destroy(reply);
    natsConnection_Destroy(conn);
    natsOptions_Destroy(opts);
    return out.is_discarded() ? nlohmann::json(nullptr) : out;
  }

  /// The server leading stream `name` (or consumer `consumer` of it); size when there is none.
  size_t leader_of(const std::string& name, const std::string& consumer = "",
                   int64_t timeout_ms = 2000) const {
    auto info = request(consumer.empty() ? "$JS.API.STREAM.INFO." + name
                                         : "$JS.API.CONSUMER.INFO." + name + "." + consumer,
                        "", timeout_ms);
    if (!info.is_object() || !info.contains("cluster")) return size;
    return index_of(string_member(info["cluster"], "leader"));
  }

  /// Whether JetStream creates a consumer on stream `name` now (what a node needs after a
  /// lost quorum besides a stream leader: the meta leader must assign the consumer, and after
  /// a quorum loss that can take much longer than the stream's own election). The probe
  /// consumer is deleted again.
  bool creates_consumers(const std::string& name, int64_t timeout_ms = 2000) const {
    auto created = request("$JS.API.CONSUMER.CREATE." + name,
                           R"({"stream_name":")" + name +
                               R"(","config":{"deliver_policy":"new","ack_policy":"none",)"
                               R"("inactive_threshold":5000000000,"num_replicas":1}})",
                           timeout_ms);
    auto consumer = string_member(created, "name");
    if (consumer.empty()) return false;
    request("$JS.API.CONSUMER.DELETE." + name + "." + consumer, "", timeout_ms);
    return true;
  }

  /// Every server is running, and stream `name` has a leader and two current replicas.
  bool healthy(const std::string& name) const {
    for (auto& s : servers_)
      if (!s.running()) return false;
    auto info = request("$JS.API.STREAM.INFO." + name);
    if (!info.is_object() || !info.contains("cluster")) return false;
    auto& cluster = info["cluster"];
    if (string_member(cluster, "leader").empty() || !cluster.contains("replicas")) return false;
    size_t current = 0;
    for (auto& r : cluster["replicas"])
      if (bool_member(r, "current") && !bool_member(r, "offline")) ++current;
    return current == size - 1;
  }

 private:
  std::array<server, size> servers_;
};

}  // namespace eventbase::test
