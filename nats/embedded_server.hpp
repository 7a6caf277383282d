// A nats-server child process with JetStream, owned by this process: the server's embedded
// default, the tests' and the benchmark's broker. Started on a loopback port (a free one unless
// given), with its store in a directory of the caller's; stopped on destruction. The child gets
// SIGTERM if this process dies, so it never outlives its owner.
//
// Its settings, credentials included, go to the server through a configuration file of mode
// 0600 in the store directory (`nats-server.conf`, removed when the server stops), never on its
// command line, which every local user can read (`ps`, /proc/PID/cmdline).
//
// The program's release is learned once, from `nats-server --version`, before the first start:
// it decides which settings the configuration may name (nats-server refuses unknown ones).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/subprocess.hpp"
#include "eventbase/status.hpp"
#include "nats/server_settings.hpp"

namespace eventbase::nats {

struct embedded_server_options {
  /// The nats-server program: a path, or a name searched in PATH and the sbin directories.
  /// Empty (the default): default_server_executable(), i.e. $EVENTBASE_NATS_SERVER when set,
  /// else "nats-server".
  std::string executable;
  std::string store_dir;  // required: JetStream's store
  std::string host = "127.0.0.1";
  int port = -1;     // -1: a free port chosen by the server
  std::string user;  // with password: clients must authenticate with them; default none
  std::string password;
  std::string token;  // clients must present this token; default none
  /// How JetStream syncs its store to disk (the jetstream block's sync_interval): "" (the
  /// default) keeps nats-server's own (every 2 minutes); "always" syncs each write before it is
  /// acknowledged; a duration ("10s", "2m": digits, then ms, s, m or h) syncs that often.
  /// check_sync() says what is valid; start() refuses the rest with invalid_argument. A
  /// nats-server older than 2.10 has no such setting: there it is left out of the configuration
  /// and start() logs a warning that acknowledged writes are not synced before acknowledgement.
  std::string sync;
  std::chrono::milliseconds startup_timeout{10000};
};

class embedded_server {
 public:
  /// Learns the program's release (`--version`), starts the server and returns once it accepts
  /// clients. Fails with invalid_argument for options it cannot take (no store directory, an
  /// invalid sync), and with unavailable when the program is missing, does not say its release,
  /// or the server does not start (with the server's last log lines).
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
  /// The program's release, as its `--version` said at start().
  const server_version& version() const { return version_; }
  /// The program that runs: the absolute path of options.executable (PATH searched).
  const std::string& executable() const { return executable_; }
  /// Whether the configuration sets JetStream's sync_interval (a sync was asked for and the
  /// release has the setting).
  bool syncs() const { return !sync_interval_setting(options_.sync, version_).empty(); }
  /// How the store is synced, for logs: "always", "every 10s", "every 2 minutes (nats-server's
  /// default)".
  std::string sync_description() const;

 private:
  explicit embedded_server(embedded_server_options options);
  status identify();
  status launch();
  status write_config(int port) const;

  embedded_server_options options_;
  std::string executable_;
  server_version version_;
  int port_ = -1;
  std::unique_ptr<subprocess> process_;
  std::string last_log_;  // of the last process, kept after it ended
};

}  // namespace eventbase::nats
