// A progress line on a terminal: "\r<text>" rewritten in place, at most a few times a second,
// and ended with a line feed. Off (writes nothing) unless enabled, which callers do only when
// the stream is a terminal (is_terminal), so piped or redirected output stays clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace eventbase {

/// True when `fd` is a terminal.
bool is_terminal(int fd);

class progress_line {
 public:
  using clock = std::chrono::steady_clock;

  progress_line(std::ostream& out, bool enabled,
                std::chrono::milliseconds interval = std::chrono::milliseconds(250));

  /// "<what> N (R/s)": written when enabled and `interval` has passed since the last write (or
  /// `force`).
  void update(const std::string& what, uint64_t done, bool force = false);

  /// Writes the final state and a line feed, if anything was written.
  void finish(const std::string& what, uint64_t done);

  /// The text update() writes for `done` after `elapsed`.
  static std::string render(const std::string& what, uint64_t done, clock::duration elapsed);

 private:
  std::ostream& out_;
  bool enabled_;
  std::chrono::milliseconds interval_;
  clock::time_point started_;
  clock::time_point last_;
  bool written_ = false;
};

}  // namespace eventbase
