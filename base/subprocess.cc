#include "base/subprocess.hpp"

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

extern char** environ;

namespace eventbase {

std::string find_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = std::string(path ? path : "/usr/local/bin:/usr/bin:/bin") +
                     ":/usr/local/sbin:/usr/sbin:/sbin";
  std::stringstream list(dirs);
  std::string dir;
  while (std::getline(list, dir, ':')) {
    if (dir.empty()) continue;
    auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

result<std::unique_ptr<subprocess>> subprocess::start(std::vector<std::string> argv,
                                                      std::vector<std::string> env) {
  if (argv.empty()) return status(errc::invalid_argument, "no command given");
  std::string exe = find_executable(argv[0]);
  if (exe.empty()) return status(errc::not_found, "cannot find executable '" + argv[0] + "'");
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) environment.emplace_back(*e);
  for (auto& e : env) environment.push_back(e);
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    return status(errc::internal, std::string("pipe failed: ") + std::strerror(errno));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return status(errc::internal, std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;  // a parent that waits for signals blocks them; the child must not
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    ::execve(exe.c_str(), args.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  std::unique_ptr<subprocess> p(new subprocess());
  p->pid_ = pid;
  p->stdin_fd_ = in[1];
  p->out_reader_ = std::thread([fd = out[0], buf = &p->out_] { read_lines(fd, *buf); });
  p->err_reader_ = std::thread([fd = err[0], buf = &p->err_] { read_lines(fd, *buf); });
  return p;
}

void subprocess::read_lines(int fd, line_buffer& into) {
  std::string pending;
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      {
        std::lock_guard<std::mutex> guard(into.mutex);
        into.lines.push_back(pending.substr(0, nl));
      }
      into.cv.notify_all();
      pending.erase(0, nl + 1);
    }
  }
  ::close(fd);
  std::lock_guard<std::mutex> guard(into.mutex);
  if (!pending.empty()) into.lines.push_back(pending);
  into.closed = true;
  into.cv.notify_all();
}

subprocess::~subprocess() {
  if (!exit_code_) stop(std::chrono::seconds(5));
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
}

std::optional<std::string> subprocess::wait_for(
    line_buffer& buf, const std::function<bool(const std::string&)>& match,
    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard(buf.mutex);
  size_t checked = 0;
  std::optional<std::string> found;
  buf.cv.wait_for(guard, timeout, [&] {
    for (; checked < buf.lines.size(); ++checked) {
      if (match(buf.lines[checked])) {
        found = buf.lines[checked];
        return true;
      }
    }
    return buf.closed;
  });
  return found;
}

std::optional<std::string> subprocess::wait_for_stdout(
    const std::function<bool(const std::string&)>& match, std::chrono::milliseconds timeout) {
  return wait_for(out_, match, timeout);
}

std::optional<std::string> subprocess::wait_for_stderr(
    const std::function<bool(const std::string&)>& match, std::chrono::milliseconds timeout) {
  return wait_for(err_, match, timeout);
}

std::vector<std::string> subprocess::output() const {
  std::lock_guard<std::mutex> guard(out_.mutex);
  return out_.lines;
}

std::vector<std::string> subprocess::errors() const {
  std::lock_guard<std::mutex> guard(err_.mutex);
  return err_.lines;
}

void subprocess::write_stdin_and_close(const std::string& text) {
  if (stdin_fd_ < 0) return;
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(stdin_fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(stdin_fd_);
  stdin_fd_ = -1;
}

void subprocess::signal(int signo) {
  if (!exit_code_) ::kill(pid_, signo);
}

std::optional<int> subprocess::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  // A pidfd becomes readable when the process exits: no polling loop.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd >= 0) {
    pollfd pfd{pidfd, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    } while (rc < 0 && errno == EINTR);
    ::close(pidfd);
    if (rc == 0) return std::nullopt;
  }
  int wstatus = 0;
  while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
  }
  exit_code_ = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  if (out_reader_.joinable()) out_reader_.join();
  if (err_reader_.joinable()) err_reader_.join();
  return exit_code_;
}

int subprocess::stop(std::chrono::milliseconds grace) {
  if (exit_code_) return *exit_code_;
  signal(SIGTERM);
  if (auto code = wait(grace)) return *code;
  signal(SIGKILL);
  return wait(std::chrono::hours(1)).value_or(-1);
}

result<subprocess::completed> subprocess::run(std::vector<std::string> argv,
                                              std::chrono::milliseconds timeout,
                                              std::vector<std::string> env,
                                              const std::string& input) {
  auto p = start(std::move(argv), std::move(env));
  if (!p.ok()) return p.error();
  (*p)->write_stdin_and_close(input);
  auto code = (*p)->wait(timeout);
  if (!code) {
    (*p)->stop(std::chrono::seconds(1));
    return status(errc::timeout, "command did not finish in time");
  }
  completed out;
  out.exit_code = *code;
  out.out = (*p)->output();
  out.err = (*p)->errors();
  return out;
}

}  // namespace eventbase
