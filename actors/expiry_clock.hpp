// Expiry of keys put with a TTL (internal to actors/; doc/history.md "Expiry").
//
// A PUT with a TTL expires that long after its JetStream time; the replica keeps each live
// key's expiry (storage::stream_store::expiries_due). When one is due, every node serving the
// stream publishes the same DELETE: Nats-Msg-Id "expire.<revision>" (JetStream stores it once
// within its duplicate window) with the expired PUT's revision, which replicas apply only while
// the key is still at that revision. So a key is deleted once however many nodes serve it, and
// a write of the key after the PUT (a later put without a TTL clears the expiry) is never
// removed by it.
//
// Decisions and timing only: the owner (the stream actor) calls tick() when next_wake() is
// due and after applying events, and publishes through `publish`. A DELETE that does not show
// up (lost with a server) is published again after `retry_after` while the key is still due.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "storage/stream_store.hpp"

namespace eventbase::actors {

class expiry_clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct settings {
    std::chrono::milliseconds retry_after{5000};
    size_t max_per_tick = 256;  // bounds a tick's work; the rest follows at once
  };

  /// `now` gives the steady time and `wall_ms` the system clock (ms since the epoch), which
  /// expiries are compared with.
  expiry_clock(settings config, const storage::stream_store& store, std::function<time_point()> now,
               std::function<int64_t()> wall_ms,
               std::function<void(const storage::due_expiry&)> publish)
      : config_(config),
        store_(store),
        now_(std::move(now)),
        wall_ms_(std::move(wall_ms)),
        publish_(std::move(publish)) {}

  /// Publishes the expiries due now (each once per retry_after) and computes next_wake(); errors
  /// of the replica are returned (the next tick tries again).
  status tick();

  /// When tick() has something to do next; nullopt when no key expires.
  std::optional<time_point> next_wake() const { return wake_; }

 private:
  settings config_;
  const storage::stream_store& store_;
  std::function<time_point()> now_;
  std::function<int64_t()> wall_ms_;
  std::function<void(const storage::due_expiry&)> publish_;
  std::map<uint64_t, time_point> sent_;  // revision -> when its DELETE was published
  std::optional<time_point> wake_;
};

}  // namespace eventbase::actors
