// progress_line (see progress_line.hpp).
#include "base/progress_line.hpp"

#include <unistd.h>

#include <cstdio>

namespace eventbase {

bool is_terminal(int fd) {
  return ::isatty(fd) == 1;
}

progress_line::progress_line(std::ostream& out, bool enabled, std::chrono::milliseconds interval)
    : out_(out), enabled_(enabled), interval_(interval), started_(clock::now()), last_(started_) {}

std::string progress_line::render(const std::string& what, uint64_t done, clock::duration elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  char text[128];
  std::snprintf(text, sizeof text, " %llu (%.0f/s, %.1f s)", static_cast<unsigned long long>(done),
                seconds > 0 ? static_cast<double>(done) / seconds : 0.0, seconds);
  return what + text;
}

void progress_line::update(const std::string& what, uint64_t done, bool force) {
  if (!enabled_) return;
  auto now = clock::now();
  if (!force && now - last_ < interval_) return;
  last_ = now;
  written_ = true;
  // "\033[K" clears what a longer earlier line left.
  out_ << '\r' << render(what, done, now - started_) << "\033[K" << std::flush;
}

void progress_line::finish(const std::string& what, uint64_t done) {
  if (!enabled_ || !written_) return;
  update(what, done, true);
  out_ << '\n' << std::flush;
}

}  // namespace eventbase
