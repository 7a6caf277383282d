// Reads of one stream's replica, with their stats (internal to actors/): what the stream actor
// answers get and keys with, and what the C++ API does directly on its caller's thread (reads
// need no actor: writes reply only once the replica has applied them).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/stats_publisher.hpp"
#include "eventbase/status.hpp"
#include "protocol/key_pattern.hpp"

namespace eventbase::storage {
class key_scan;
class stream_store;
}  // namespace eventbase::storage

namespace eventbase::actors {

class replica_reader {
 public:
  replica_reader(std::shared_ptr<storage::stream_store> store, const stats_publisher& stats);

  /// The record of `key` (empty when absent); invalid_argument for an invalid key.
  result<std::string> get(std::string_view key) const;

  /// A keys scan for the JavaScript regex `pattern` ("" for all), compiled through a cache of
  /// recent patterns; run it with key_scan::next, then call keys_listed.
  result<std::unique_ptr<storage::key_scan>> scan(const std::string& pattern);

  /// Publishes the KEYS stat of a scan that began at `started`.
  void keys_listed(const std::string& pattern, const op_start& started) const;

  /// The whole of a scan at once, on the calling thread.
  result<std::vector<std::string>> keys(const std::string& pattern);

 private:
  std::shared_ptr<storage::stream_store> store_;
  const stats_publisher& stats_;
  protocol::key_pattern_cache patterns_;
};

}  // namespace eventbase::actors
