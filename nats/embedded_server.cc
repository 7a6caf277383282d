#include "nats/embedded_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <vector>

#include "eventbase/log.hpp"

namespace eventbase::nats {
namespace {

constexpr size_t kKeptLogLines = 40;

std::string find_in_path(const std::string& exe) {
  if (exe.find('/') != std::string::npos) return exe;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    auto candidate = std::filesystem::path(dir) / exe;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  // nats-server lives in /usr/sbin on Debian, which a user's PATH may lack.
  for (const char* dir2 : {"/usr/sbin", "/usr/local/sbin", "/sbin"}) {
    auto candidate = std::filesystem::path(dir2) / exe;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

// Reads one line from `fd` before `deadline`; false on EOF, error or timeout.
bool read_line(int fd, std::string& buffer, std::string& line,
               std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (auto nl = buffer.find('\n'); nl != std::string::npos) {
      line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

embedded_server::embedded_server(embedded_server_options options) : options_(std::move(options)) {}

result<std::unique_ptr<embedded_server>> embedded_server::start(embedded_server_options options) {
  if (options.store_dir.empty())
    return status(errc::invalid_argument, "embedded nats-server needs a store directory");
  std::unique_ptr<embedded_server> server(new embedded_server(std::move(options)));
  auto st = server->launch();
  if (!st.is_ok()) return st;
  return server;
}

embedded_server::~embedded_server() {
  stop();
}

std::string embedded_server::url() const {
  return "nats://" + options_.host + ":" + std::to_string(port_);
}

std::string embedded_server::recent_log() const {
  std::lock_guard<std::mutex> guard(log_mutex_);
  std::string out;
  for (auto& line : log_lines_) out += line + "\n";
  return out;
}

status embedded_server::launch() {
  std::string exe = find_in_path(options_.executable);
  if (exe.empty())
    return status(errc::unavailable, "cannot find '" + options_.executable +
                                         "' (install the Debian package nats-server)");
  std::error_code ec;
  std::filesystem::create_directories(options_.store_dir, ec);
  if (ec)
    return status(errc::unavailable,
                  "cannot create NATS store '" + options_.store_dir + "': " + ec.message());

  int port = port_ > 0 ? port_ : options_.port;
  std::vector<std::string> args = {
      exe, "-js", "-a", options_.host, "-p", std::to_string(port), "-sd", options_.store_dir};
  if (!options_.user.empty()) {
    args.insert(args.end(), {"--user", options_.user, "--pass", options_.password});
  }
  if (!options_.token.empty()) args.insert(args.end(), {"--auth", options_.token});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return status(errc::unavailable, std::string("pipe failed: ") + std::strerror(errno));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return status(errc::unavailable, std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], STDERR_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  pid_ = pid;

  // The server logs "Listening for client connections on HOST:PORT" then "Server is ready".
  auto deadline = std::chrono::steady_clock::now() + options_.startup_timeout;
  std::string buffer, line;
  bool ready = false;
  while (read_line(fds[0], buffer, line, deadline)) {
    {
      std::lock_guard<std::mutex> guard(log_mutex_);
      log_lines_.push_back(line);
      if (log_lines_.size() > kKeptLogLines) log_lines_.pop_front();
    }
    static const std::string kListening = "Listening for client connections on ";
    if (auto at = line.find(kListening); at != std::string::npos) {
      auto colon = line.rfind(':');
      if (colon != std::string::npos) port_ = std::atoi(line.c_str() + colon + 1);
    }
    if (line.find("Server is ready") != std::string::npos) {
      ready = true;
      break;
    }
  }
  if (!ready || port_ <= 0) {
    ::close(fds[0]);
    reap(std::chrono::milliseconds(2000));
    return status(errc::unavailable, "nats-server did not start:\n" + recent_log());
  }
  // Keep draining the server's output so it never blocks on a full pipe.
  log_reader_ = std::thread([this, fd = fds[0], rest = std::move(buffer)]() mutable {
    std::string l;
    auto forever = std::chrono::steady_clock::time_point::max();
    while (read_line(fd, rest, l, forever)) {
      EB_LOG_DEBUG("nats-server", l);
      std::lock_guard<std::mutex> guard(log_mutex_);
      log_lines_.push_back(l);
      if (log_lines_.size() > kKeptLogLines) log_lines_.pop_front();
    }
    ::close(fd);
  });
  EB_LOG_INFO("nats-server", "started pid " << pid_ << " on " << url());
  return status::ok();
}

void embedded_server::reap(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  // Await the exit through a pidfd, which becomes readable when the process ends.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  bool exited = false;
  if (pidfd >= 0) {
    pollfd pfd{pidfd, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&pfd, 1, static_cast<int>(grace.count()));
    } while (rc < 0 && errno == EINTR);
    exited = rc > 0;
    ::close(pidfd);
  }
  if (!exited && pidfd >= 0) ::kill(pid_, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (log_reader_.joinable()) log_reader_.join();  // the pipe closes with the process
}

void embedded_server::stop() {
  reap(std::chrono::milliseconds(10000));
}

void embedded_server::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  reap(std::chrono::milliseconds(10000));
}

status embedded_server::restart() {
  stop();
  return launch();
}

}  // namespace eventbase::nats
