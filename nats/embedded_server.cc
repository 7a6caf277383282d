#include "nats/embedded_server.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "eventbase/log.hpp"

namespace eventbase::nats {
namespace {

constexpr size_t kKeptLogLines = 40;

std::string tail(const std::vector<std::string>& lines) {
  std::string out;
  size_t from = lines.size() > kKeptLogLines ? lines.size() - kKeptLogLines : 0;
  for (size_t i = from; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

// A string in nats-server's configuration syntax: double quotes, with JSON's escapes (the
// parser reads quoted strings literally, without variable expansion).
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

embedded_server::embedded_server(embedded_server_options options) : options_(std::move(options)) {}

result<std::unique_ptr<embedded_server>> embedded_server::start(embedded_server_options options) {
  if (options.store_dir.empty())
    return status(errc::invalid_argument, "embedded nats-server needs a store directory");
  if (auto st = check_sync(options.sync); !st.ok())
    return status(st.code(), "embedded nats-server: " + st.message());
  if (options.executable.empty()) options.executable = default_server_executable();
  std::unique_ptr<embedded_server> server(new embedded_server(std::move(options)));
  if (auto st = server->identify(); !st.ok()) return st;
  // Once per start(), not again at each restart().
  auto& self = *server;
  if (!self.options_.sync.empty() && !self.syncs()) {
    std::string needed =
        std::to_string(kSyncIntervalSince.major) + "." + std::to_string(kSyncIntervalSince.minor);
    EB_LOG_WARN("nats-server", "nats-server "
                                   << self.version_.to_string() << " (" << self.executable_
                                   << ") cannot sync JetStream writes to disk before "
                                      "acknowledging them: sync '"
                                   << self.options_.sync << "' needs nats-server " << needed
                                   << " or newer. It flushes every 2 minutes, so "
                                      "acknowledged writes can be lost in a power "
                                      "failure or an OS crash");
  }
  auto st = server->launch();
  if (!st.ok()) return st;
  return server;
}

status embedded_server::identify() {
  auto found = find_executable(options_.executable);
  if (found.empty() || ::access(found.c_str(), X_OK) != 0)
    return status(errc::unavailable, "cannot find '" + options_.executable +
                                         "' (install the Debian package nats-server)");
  std::error_code ec;
  auto absolute = std::filesystem::absolute(found, ec);
  executable_ = ec ? found : absolute.lexically_normal().string();
  auto ran = subprocess::run({executable_, "--version"}, options_.startup_timeout);
  if (!ran.ok())
    return status(errc::unavailable,
                  "cannot run '" + executable_ + " --version': " + ran.error().message());
  // One line, "nats-server: v2.9.10", on stdout.
  auto& lines = ran->out.empty() ? ran->err : ran->out;
  std::string said = lines.empty() ? "" : lines.front();
  if (ran->exit_code != 0)
    return status(errc::unavailable, "'" + executable_ + " --version' exited with code " +
                                         std::to_string(ran->exit_code) + ": " + said);
  auto version = parse_server_version(said);
  if (!version.ok())
    return status(errc::unavailable, executable_ + " --version: " + version.error().message());
  version_ = *version;
  return status::OK();
}

embedded_server::~embedded_server() {
  stop();
}

std::string embedded_server::url() const {
  return "nats://" + options_.host + ":" + std::to_string(port_);
}

std::string embedded_server::config_path() const {
  return (std::filesystem::path(options_.store_dir) / "nats-server.conf").string();
}

status embedded_server::write_config(int port) const {
  std::string text = "host: " + quoted(options_.host) + "\nport: " + std::to_string(port) +
                     "\njetstream {\n  store_dir: " + quoted(options_.store_dir) + "\n" +
                     sync_interval_setting(options_.sync, version_) + "}\n";
  if (!options_.user.empty())
    text += "authorization {\n  user: " + quoted(options_.user) +
            "\n  password: " + quoted(options_.password) + "\n}\n";
  else if (!options_.token.empty())
    text += "authorization {\n  token: " + quoted(options_.token) + "\n}\n";
  auto path = config_path();
  // 0600 from its creation (and again for a file left by an earlier run), before any secret is
  // written to it.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return status(errc::unavailable, "cannot write " + path + ": " + std::strerror(errno));
  bool ok = ::fchmod(fd, 0600) == 0;
  for (size_t done = 0; ok && done < text.size();) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok) return status(errc::unavailable, "cannot write " + path + ": " + std::strerror(errno));
  return status::OK();
}

std::string embedded_server::recent_log() const {
  return process_ ? tail(process_->errors()) : last_log_;
}

status embedded_server::launch() {
  if (find_executable(executable_).empty())
    return status(errc::unavailable, "cannot find '" + executable_ + "'");
  std::error_code ec;
  std::filesystem::create_directories(options_.store_dir, ec);
  if (ec)
    return status(errc::unavailable,
                  "cannot create NATS store '" + options_.store_dir + "': " + ec.message());
  int port = port_ > 0 ? port_ : options_.port;
  if (auto written = write_config(port); !written.ok()) return written;
  std::vector<std::string> args = {executable_, "-c", config_path()};
  auto started = subprocess::start(args);
  if (!started.ok()) return status(errc::unavailable, started.error().message());
  auto process = std::move(*started);
  // The server logs (on stderr) "Listening for client connections on HOST:PORT", then
  // "Server is ready".
  auto ready = process->wait_for_stderr(
      [](const std::string& line) { return line.find("Server is ready") != std::string::npos; },
      options_.startup_timeout);
  static const std::string kListening = "Listening for client connections on ";
  for (auto& line : process->errors()) {
    if (line.find(kListening) != std::string::npos) {
      port_ = std::atoi(line.c_str() + line.rfind(':') + 1);
    }
  }
  if (!ready || port_ <= 0) {
    process->stop(std::chrono::seconds(2));
    last_log_ = tail(process->errors());
    return status(errc::unavailable, "nats-server did not start:\n" + last_log_);
  }
  process_ = std::move(process);
  EB_LOG_INFO("nats-server", "started pid " << process_->pid() << " on " << url()
                                            << ": nats-server " << version_.to_string() << " ("
                                            << executable_
                                            << "), JetStream sync: " << sync_description());
  return status::OK();
}

std::string embedded_server::sync_description() const {
  if (!syncs()) return "every 2 minutes (nats-server's default)";
  return options_.sync == "always" ? "always" : "every " + options_.sync;
}

void embedded_server::stop() {
  if (!process_) return;
  process_->stop(std::chrono::seconds(10));
  last_log_ = tail(process_->errors());
  process_.reset();
  ::unlink(config_path().c_str());  // no secrets left on disk
}

status embedded_server::restart() {
  stop();
  return launch();
}

}  // namespace eventbase::nats
