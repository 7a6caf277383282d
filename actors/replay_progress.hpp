// The progress of a stream's replay: catching up, after it opened, with the stream's last
// sequence at open time (internal to actors/). The stream actor feeds it the applied sequence
// after every batch; it says when a progress line is due (the first one `interval` after the
// replay began, then at most one per interval, so a replay shorter than the interval logs
// nothing), and the rate and estimated time left for `eventbase status` and the logs.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace eventbase::actors {

class replay_progress {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit replay_progress(std::chrono::milliseconds interval = std::chrono::seconds(5))
      : interval_(interval) {}

  /// The replay begins at `now` with `applied` events applied of `target`.
  void start(time_point now, uint64_t applied, uint64_t target);

  /// Events were applied up to `applied`; a progress line ("N of T events applied (P%), R
  /// events/s, about S s left") when one is due, else nullopt.
  std::optional<std::string> update(time_point now, uint64_t applied);

  /// The replay is over at `now`, with `applied` events applied; a closing line ("replayed N
  /// events in S s, R events/s") when progress lines were logged, else nullopt.
  std::optional<std::string> finish(time_point now, uint64_t applied);

  bool active() const { return active_; }
  uint64_t target() const { return target_; }
  /// Events per second since the replay began; 0 before any time has passed.
  double rate() const;
  /// Estimated time to reach the target at rate(); nullopt when unknown (no rate yet).
  std::optional<std::chrono::milliseconds> eta() const;

 private:
  std::chrono::milliseconds interval_;
  bool active_ = false;
  bool logged_ = false;
  time_point began_;
  time_point last_log_;
  time_point last_update_;
  uint64_t first_ = 0;
  uint64_t applied_ = 0;
  uint64_t target_ = 0;
};

}  // namespace eventbase::actors
