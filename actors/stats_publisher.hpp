// Operation stats of one stream (doc/wire-format.md "Stats"), for the stream actor and for the
// C++ API's direct reads (internal to actors/).
//
// A stat is a plain NATS publish to "<stats stream>.stats", captured by the JetStream stream of
// that name: it never waits and never fails the operation it measures (a failed publish costs
// only the stat). Every operation that ends here is also counted, with its duration, in the
// stream's operation_latencies when the publisher was given them (the stream actor's, for
// GET /metrics), whether or not stats are published.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/prometheus.hpp"
#include "protocol/stats.hpp"

namespace eventbase::nats {
class transport;
}

namespace eventbase::actors {

/// When an operation began: the wall clock in milliseconds for its stat (the JS library's
/// unit), the steady clock for its measured duration.
struct op_start {
  int64_t wall_ms = 0;
  std::chrono::steady_clock::time_point at;

  static op_start now();
};

/// Count and latency of a stream's operations, indexed by protocol::stats_operation.
using operation_latencies = std::array<protocol::prometheus::histogram, 8>;

class stats_publisher {
 public:
  /// Publishes nothing when `stats_stream` is empty. Counts into `latencies` when not null;
  /// they must outlive the publisher and be touched by the publisher's thread only.
  stats_publisher(std::shared_ptr<nats::transport> nats, const std::string& stats_stream,
                  operation_latencies* latencies = nullptr);

  bool enabled() const { return !subject_.empty(); }

  /// The stat of an operation that began at `started` and ends now.
  void publish(protocol::stats_operation op, std::optional<std::string_view> id,
               std::optional<std::string_view> pattern, const op_start& started) const;

  /// The stat of a query (QUERY) or count (COUNT) of the filter `filter` (JSON text) that
  /// returned or counted `results` documents.
  void publish_query(protocol::stats_operation op, const std::string& filter, uint64_t results,
                     const op_start& started) const;

 private:
  std::shared_ptr<nats::transport> nats_;
  std::string subject_;  // empty: no stats
  operation_latencies* latencies_;

  void observe(protocol::stats_operation op, const op_start& started) const;
  void emit(protocol::stats_event ev, const op_start& started) const;
};

}  // namespace eventbase::actors
