// A nats-server child process with JetStream, owned by this process: the server's embedded
// default, the tests' and the benchmark's broker. Started on a loopback port (a free one unless
// given), with its store in a directory of the caller's; stopped on destruction. The child gets
// SIGTERM if this process dies, so it never outlives its owner.
//
// Its settings, credentials included, go to the server through a configuration file of mode
// 0600 in the store directory (`nats-server.conf`, removed when the server stops), never on its
// command line, which every local user can read (`ps`, /proc/PID/cmdline).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/subprocess.hpp"
#include "eventbase/status.hpp"

namespace eventbase::nats {

struct embedded_server_options {
  std::string executable = "nats-server";  // searched in PATH and the sbin directories
  std::string store_dir;                   // required: JetStream's store
  std::string host = "127.0.0.1";
  int port = -1;     // -1: a free port chosen by the server
  std::string user;  // with password: clients must authenticate with them; default none
  std::string password;
  std::string token;  // clients must present this token; default none
  std::chrono::milliseconds startup_timeout{10000};
};

class embedded_server {
 public:
  /// Starts the server and returns once it accepts clients, or fails with unavailable and the
  /// server's last log lines.
  static result<std::unique_ptr<embedded_server>> start(embedded_server_options options);

  ~embedded_server();
  embedded_server(const embedded_server&) = delete;
  embedded_server& operator=(const embedded_server&) = delete;

  /// Stops the server (SIGTERM, then SIGKILL after 10 s). Idempotent.
  void stop();

  /// Stops and starts again on the same port with the same store (for fault tests).
  status restart();

  int pid() const { return process_ ? process_->pid() : -1; }
  int port() const { return port_; }
  std::string url() const;
  std::string recent_log() const;
  /// The configuration file the server was started with (mode 0600).
  std::string config_path() const;

 private:
  explicit embedded_server(embedded_server_options options);
  status launch();
  status write_config(int port) const;

  embedded_server_options options_;
  int port_ = -1;
  std::unique_ptr<subprocess> process_;
  std::string last_log_;  // of the last process, kept after it ended
};

}  // namespace eventbase::nats
