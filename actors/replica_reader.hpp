// Reads of one stream's replica, with their stats (internal to actors/): what the stream actor
// answers get and keys with, and what the C++ API does directly on its caller's thread (reads
// need no actor: writes reply only once the replica has applied them).
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/stats_publisher.hpp"
#include "eventbase/status.hpp"
#include "protocol/key_pattern.hpp"
#include "protocol/query.hpp"

namespace eventbase::storage {
class key_scan;
class stream_store;
}  // namespace eventbase::storage

namespace eventbase::actors {

struct index_execution;  // replica_reader.cc

/// A query over the replica in progress: its run and what feeds it, a scan of every document or
/// an index plan (protocol/query_plan.hpp) over a consistent view (see
/// replica_reader::start_query).
struct query_scan {
  explicit query_scan(protocol::query_run r);
  ~query_scan();
  query_scan(const query_scan&) = delete;
  query_scan& operator=(const query_scan&) = delete;

  protocol::query_run run;
  std::unique_ptr<storage::key_scan> scan;   // a scan plan
  std::vector<std::string> keys, records;    // of the current slice
  std::unique_ptr<index_execution> indexed;  // an index plan

  /// The explain answer, JSON text: {"plan":{"index":FIELD or null,"type":"scan"|"equality"|
  /// "in"|"range"|"prefix"|"sort","sort":"index"|"memory"|null,"covered":B,
  /// "keys_examined":N},"examined":N,"returned":M}, for a query complete with `returned`
  /// results.
  std::string explain(uint64_t returned) const;
};

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

  /// A query for the filter `filter_text` with the options `options_text` (JSON text, "" for
  /// none; protocol/query.hpp) over every document of the replica as it is now; with
  /// `count_only`, it only counts the matches. invalid_argument for a bad filter or options.
  /// Run it with continue_query, then take run.finish() / run.matched().
  result<std::unique_ptr<query_scan>> start_query(const std::string& filter_text,
                                                  const std::string& options_text, bool count_only);

  /// Publishes the QUERY stat (COUNT with `count_only`) of a query of `filter_text` that
  /// began at `started` and returned (or counted) `results` documents.
  void queried(const std::string& filter_text, bool count_only, uint64_t results,
               const op_start& started) const;

  /// Examines documents until the query is complete (true) or `until` passes (false). Fails
  /// with too_large once the run holds more than `max_held_bytes` of results (for queries a
  /// peer asks for: a sort or a missing limit must not hold a whole stream in memory).
  static result<bool> continue_query(
      query_scan& q, std::chrono::steady_clock::time_point until,
      uint64_t max_held_bytes = std::numeric_limits<uint64_t>::max());

  /// Whole queries at once, on the calling thread (errors of start_query and the run).
  result<protocol::query_results> query(const std::string& filter_text,
                                        const std::string& options_text);
  result<uint64_t> count(const std::string& filter_text);
  /// The query's explain answer (query_scan::explain), after running it in full.
  result<std::string> explain(const std::string& filter_text, const std::string& options_text);

 private:
  // One slice of continue_query, without the bound.
  static result<bool> step_query(query_scan& q, std::chrono::steady_clock::time_point until);

  std::shared_ptr<storage::stream_store> store_;
  const stats_publisher& stats_;
  protocol::key_pattern_cache patterns_;
};

}  // namespace eventbase::actors
