// A child process with its standard output and error captured line by line: how the embedded
// nats-server is run, and how tests drive eventbase-server and the eventbase client.
//
// The child receives SIGTERM when the thread that started it ends (PR_SET_PDEATHSIG), so a
// crashing parent never leaves it behind. Lines are read by a background thread per stream and
// can be awaited with a deadline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eventbase/status.hpp"

namespace eventbase {

class subprocess {
 public:
  /// Starts `argv[0]` (searched in PATH, and /usr/sbin) with `argv`. `env` entries
  /// ("NAME=value") are added to the environment.
  static result<std::unique_ptr<subprocess>> start(std::vector<std::string> argv,
                                                   std::vector<std::string> env = {});

  ~subprocess();  // kills the child if it still runs
  subprocess(const subprocess&) = delete;
  subprocess& operator=(const subprocess&) = delete;

  int pid() const { return pid_; }

  /// Waits for a line of stdout (or stderr) for which `match` is true, up to `timeout`. Lines
  /// before it stay readable through output()/errors().
  std::optional<std::string> wait_for_stdout(const std::function<bool(const std::string&)>& match,
                                             std::chrono::milliseconds timeout);
  std::optional<std::string> wait_for_stderr(const std::function<bool(const std::string&)>& match,
                                             std::chrono::milliseconds timeout);

  /// Every line read so far.
  std::vector<std::string> output() const;
  std::vector<std::string> errors() const;

  /// Writes `text` to the child's stdin, then closes it.
  void write_stdin_and_close(const std::string& text);

  void signal(int signo);

  /// Waits for the child to exit; its exit code (128 + signal when killed), or nullopt on
  /// timeout. After it returns a value, all output has been read.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  /// SIGTERM, then SIGKILL after `grace`; the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

  /// Runs a command to completion (for tests and tools): exit code, stdout, stderr lines.
  struct completed {
    int exit_code = -1;
    std::vector<std::string> out;
    std::vector<std::string> err;
  };
  static result<completed> run(std::vector<std::string> argv,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60),
                               std::vector<std::string> env = {}, const std::string& input = {});

 private:
  struct line_buffer {
    mutable std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> lines;
    bool closed = false;
  };

  subprocess() = default;
  static void read_lines(int fd, line_buffer& into);
  std::optional<std::string> wait_for(line_buffer& buf,
                                      const std::function<bool(const std::string&)>& match,
                                      std::chrono::milliseconds timeout);

  int pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> exit_code_;
  line_buffer out_;
  line_buffer err_;
  std::thread out_reader_;
  std::thread err_reader_;
};

/// Finds an executable in PATH (and the sbin directories, where Debian puts nats-server);
/// empty when missing. Paths with a '/' are returned as they are.
std::string find_executable(const std::string& name);

}  // namespace eventbase
