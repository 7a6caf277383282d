// replay_progress (see replay_progress.hpp).
#include "actors/replay_progress.hpp"

#include <cmath>
#include <cstdio>

namespace eventbase::actors {

void replay_progress::start(time_point now, uint64_t applied, uint64_t target) {
  active_ = true;
  logged_ = false;
  began_ = last_log_ = last_update_ = now;
  first_ = applied_ = applied;
  target_ = target;
}

double replay_progress::rate() const {
  double seconds = std::chrono::duration<double>(last_update_ - began_).count();
  if (seconds <= 0 || applied_ <= first_) return 0;
  return static_cast<double>(applied_ - first_) / seconds;
}

std::optional<std::chrono::milliseconds> replay_progress::eta() const {
  double r = rate();
  if (r <= 0) return std::nullopt;
  uint64_t left = target_ > applied_ ? target_ - applied_ : 0;
  return std::chrono::milliseconds(std::llround(static_cast<double>(left) / r * 1000));
}

std::optional<std::string> replay_progress::update(time_point now, uint64_t applied) {
  if (!active_) return std::nullopt;
  applied_ = applied;
  last_update_ = now;
  if (now - last_log_ < interval_) return std::nullopt;
  last_log_ = now;
  logged_ = true;
  char line[200];
  double percent = target_ > 0 ? 100.0 * static_cast<double>(applied) / target_ : 100.0;
  auto left = eta();
  std::snprintf(line, sizeof line, "%llu of %llu events applied (%.1f%%), %.0f events/s, %s",
                static_cast<unsigned long long>(applied), static_cast<unsigned long long>(target_),
                percent, rate(), left ? "" : "time left unknown");
  std::string out = line;
  if (left) out += "about " + std::to_string((left->count() + 999) / 1000) + " s left";
  return out;
}

std::optional<std::string> replay_progress::finish(time_point now, uint64_t applied) {
  if (!active_) return std::nullopt;
  active_ = false;
  applied_ = applied;
  if (!logged_) return std::nullopt;
  double seconds = std::chrono::duration<double>(now - began_).count();
  char line[160];
  std::snprintf(line, sizeof line, "replayed %llu events in %.1f s, %.0f events/s",
                static_cast<unsigned long long>(applied_ - first_), seconds,
                seconds > 0 ? static_cast<double>(applied_ - first_) / seconds : 0.0);
  return std::string(line);
}

}  // namespace eventbase::actors
