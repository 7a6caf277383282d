// Operation stats of one stream (doc/wire-format.md "Stats"), for the stream actor and for the
// C++ API's direct reads (internal to actors/).
//
// A stat is a plain NATS publish to "<stats stream>.stats", captured by the JetStream stream of
// that name: it never waits and never fails the operation it measures (a failed publish costs
// only the stat).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "protocol/stats.hpp"

namespace eventbase::nats {
class transport;
}

namespace eventbase::actors {

class stats_publisher {
 public:
  /// Publishes nothing when `stats_stream` is empty.
  stats_publisher(std::shared_ptr<nats::transport> nats, const std::string& stats_stream);

  bool enabled() const { return !subject_.empty(); }

  /// The stat of an operation that began at `started_ms` (wall clock) and ends now.
  void publish(protocol::stats_operation op, std::optional<std::string> id,
               std::optional<std::string> pattern, int64_t started_ms) const;

 private:
  std::shared_ptr<nats::transport> nats_;
  std::string subject_;  // empty: no stats
};

}  // namespace eventbase::actors
