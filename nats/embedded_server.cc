#include "nats/embedded_server.hpp"

#include <cstdlib>
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

}  // namespace

embedded_server::embedded_server(embedded_server_options options) : options_(std::move(options)) {}

result<std::unique_ptr<embedded_server>> embedded_server::start(embedded_server_options options) {
  if (options.store_dir.empty())
    return status(errc::invalid_argument, "embedded nats-server needs a store directory");
  std::unique_ptr<embedded_server> server(new embedded_server(std::move(options)));
  auto st = server->launch();
  if (!st.ok()) return st;
  return server;
}

embedded_server::~embedded_server() {
  stop();
}

std::string embedded_server::url() const {
  return "nats://" + options_.host + ":" + std::to_string(port_);
}

std::string embedded_server::recent_log() const {
  return process_ ? tail(process_->errors()) : last_log_;
}

status embedded_server::launch() {
  if (find_executable(options_.executable).empty())
    return status(errc::unavailable, "cannot find '" + options_.executable +
                                         "' (install the Debian package nats-server)");
  std::error_code ec;
  std::filesystem::create_directories(options_.store_dir, ec);
  if (ec)
    return status(errc::unavailable,
                  "cannot create NATS store '" + options_.store_dir + "': " + ec.message());
  int port = port_ > 0 ? port_ : options_.port;
  std::vector<std::string> args = {
      options_.executable, "-js", "-a", options_.host, "-p", std::to_string(port), "-sd",
      options_.store_dir};
  if (!options_.user.empty())
    args.insert(args.end(), {"--user", options_.user, "--pass", options_.password});
  if (!options_.token.empty()) args.insert(args.end(), {"--auth", options_.token});
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
  EB_LOG_INFO("nats-server", "started pid " << process_->pid() << " on " << url());
  return status::OK();
}

void embedded_server::stop() {
  if (!process_) return;
  process_->stop(std::chrono::seconds(10));
  last_log_ = tail(process_->errors());
  process_.reset();
}

status embedded_server::restart() {
  stop();
  return launch();
}

}  // namespace eventbase::nats
