// Stats events (doc/wire-format.md "Stats"): one JSON message per operation on subject
// `<stats>.stats` of the JetStream stream `<stats>`, in the JS library's shape:
//   {"operation":"PUT","id":"user1","timestamp":<ms>,"duration":<ms>}
// `id` is present for GET, PUT, DELETE and SUBSCRIBE_EMIT; `pattern` for KEYS, SUBSCRIBE and
// SUBSCRIBE_EMIT. QUERY and COUNT (the JS 3.x library's query and count) carry the filter object
// as `query` and the number of documents returned (QUERY) or counted (COUNT) as
// `queryResultCount`:
//   {"operation":"QUERY","query":{"age":{"$gte":30}},"queryResultCount":12,"timestamp":<ms>,
//    "duration":<ms>}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eventbase::protocol {

// Append only: the values index operation_latencies and the metrics' operation labels.
enum class stats_operation : uint8_t {
  get,
  put,
  erase,
  keys,
  subscribe,
  subscribe_emit,
  query,
  count
};

/// "GET", "PUT", "DELETE", "KEYS", "SUBSCRIBE", "SUBSCRIBE_EMIT", "QUERY", "COUNT".
const char* to_string(stats_operation op);

struct stats_event {
  stats_operation operation = stats_operation::get;
  std::optional<std::string> id;
  std::optional<std::string> pattern;
  int64_t timestamp_ms = 0;
  int64_t duration_ms = 0;
  std::optional<std::string> query;      // QUERY, COUNT: the filter as JSON text
  std::optional<uint64_t> result_count;  // QUERY, COUNT: queryResultCount
};

std::string stats_subject(std::string_view stats_stream);

std::string encode_stats(const stats_event& ev);

}  // namespace eventbase::protocol
