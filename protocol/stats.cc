#include "protocol/stats.hpp"

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"

namespace eventbase::protocol {

const char* to_string(stats_operation op) {
  switch (op) {
    case stats_operation::get:
      return "GET";
    case stats_operation::put:
      return "PUT";
    case stats_operation::erase:
      return "DELETE";
    case stats_operation::keys:
      return "KEYS";
    case stats_operation::subscribe:
      return "SUBSCRIBE";
    case stats_operation::subscribe_emit:
      return "SUBSCRIBE_EMIT";
    case stats_operation::query:
      return "QUERY";
    case stats_operation::count:
      return "COUNT";
  }
  return "UNKNOWN";
}

std::string stats_subject(std::string_view stats_stream) {
  std::string subject(stats_stream);
  subject += ".stats";
  return subject;
}

std::string encode_stats(const stats_event& ev) {
  nlohmann::ordered_json out;
  out["operation"] = to_string(ev.operation);
  if (ev.id) out["id"] = *ev.id;
  if (ev.pattern) out["pattern"] = *ev.pattern;
  if (ev.query) {
    // The filter as an object, its members in their order; text that is no JSON (never a
    // filter that compiled) as a string.
    auto filter = parse_json(*ev.query, kMaxDocumentDepth);
    out["query"] = filter.ok() ? std::move(*filter) : nlohmann::ordered_json(*ev.query);
  }
  if (ev.result_count) out["queryResultCount"] = *ev.result_count;
  out["timestamp"] = ev.timestamp_ms;
  out["duration"] = ev.duration_ms;
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace eventbase::protocol
