// How long to wait before retrying a request that failed for a passing reason (internal to
// actors/): exponential from 100 ms, at most 500 ms, with jitter (x0.5..1.5) so that the nodes
// of a cluster that lost the same server do not retry in step. The cap bounds how long after a
// JetStream leader election a waiting write notices the new leader.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace eventbase::actors {

/// The delay before retry number `attempt` (1 for the first retry).
inline std::chrono::milliseconds backoff_delay(int attempt) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  int64_t base = std::min<int64_t>(500, int64_t{100} << std::min(attempt - 1, 3));
  std::uniform_int_distribution<int64_t> jitter(base / 2, base * 3 / 2);
  return std::chrono::milliseconds(jitter(rng));
}

}  // namespace eventbase::actors
