// replica_reader (see replica_reader.hpp).
#include "actors/replica_reader.hpp"

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/names.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

replica_reader::replica_reader(std::shared_ptr<storage::stream_store> store,
                               const stats_publisher& stats)
    : store_(std::move(store)), stats_(stats) {}

result<std::string> replica_reader::get(std::string_view key) const {
  auto started = op_start::now();
  if (auto invalid = protocol::validate_key(key); !invalid.ok()) return invalid;
  auto value = store_->get(key);
  if (!value.ok()) return value.error();
  stats_.publish(protocol::stats_operation::get, std::string(key), std::nullopt, started);
  return value->value_or(std::string());
}

result<std::unique_ptr<storage::key_scan>> replica_reader::scan(const std::string& pattern) {
  auto compiled = patterns_.compile(pattern);
  if (!compiled.ok()) return compiled.error();
  return store_->scan_keys(std::move(*compiled));
}

void replica_reader::keys_listed(const std::string& pattern, const op_start& started) const {
  stats_.publish(protocol::stats_operation::keys, std::nullopt, pattern, started);
}

result<std::vector<std::string>> replica_reader::keys(const std::string& pattern) {
  auto started = op_start::now();
  auto keys = scan(pattern);
  if (!keys.ok()) return keys.error();
  std::vector<std::string> out;
  auto done = (*keys)->next(out, std::chrono::steady_clock::time_point::max());
  if (!done.ok()) return done.error();
  keys_listed(pattern, started);
  return out;
}

namespace {

/// The JSON text `text` ("" for `empty`) for a query's filter or options.
result<nlohmann::ordered_json> parse_query_part(const std::string& text, const char* what,
                                                nlohmann::ordered_json empty) {
  if (text.empty()) return empty;
  auto parsed = protocol::parse_json(text, protocol::kMaxDocumentDepth);
  if (!parsed.ok())
    return status(errc::invalid_argument, std::string(what) + ": " + parsed.error().message());
  return parsed;
}

/// Runs `q` to its end in short slices, so that no more than a slice's documents are held at
/// once (a query with a limit stops reading at its limit).
status run_to_end(query_scan& q) {
  constexpr auto kSlice = std::chrono::milliseconds(5);
  while (true) {
    auto done = replica_reader::continue_query(q, std::chrono::steady_clock::now() + kSlice);
    if (!done.ok()) return done.error();
    if (*done) return status::OK();
  }
}

}  // namespace

result<std::unique_ptr<query_scan>> replica_reader::start_query(const std::string& filter_text,
                                                                const std::string& options_text,
                                                                bool count_only) {
  auto spec = parse_query_part(filter_text, "filter", nlohmann::ordered_json::object());
  if (!spec.ok()) return spec.error();
  auto compiled = protocol::filter::compile(*spec);
  if (!compiled.ok()) return compiled.error();
  protocol::query_options options;
  if (!count_only) {
    auto given = parse_query_part(options_text, "query options", nullptr);
    if (!given.ok()) return given.error();
    auto parsed = protocol::parse_query_options(*given);
    if (!parsed.ok()) return parsed.error();
    options = std::move(*parsed);
  }
  auto scan = store_->scan_keys(protocol::key_pattern());
  if (!scan.ok()) return scan.error();
  return std::make_unique<query_scan>(
      query_scan{protocol::query_run(std::move(*compiled), std::move(options), count_only),
                 std::move(*scan),
                 {},
                 {}});
}

result<bool> replica_reader::continue_query(query_scan& q,
                                            std::chrono::steady_clock::time_point until) {
  q.keys.clear();
  q.records.clear();
  auto done = q.scan->next(q.keys, &q.records, until);
  if (!done.ok()) return done;
  for (size_t i = 0; i < q.keys.size(); ++i) {
    auto more = q.run.add(q.keys[i], q.records[i]);
    if (!more.ok()) return more.error();
    if (!*more) return true;  // later documents cannot change the answer
  }
  return *done;
}

void replica_reader::queried(const std::string& filter_text, bool count_only, uint64_t results,
                             const op_start& started) const {
  stats_.publish_query(
      count_only ? protocol::stats_operation::count : protocol::stats_operation::query, filter_text,
      results, started);
}

result<protocol::query_results> replica_reader::query(const std::string& filter_text,
                                                      const std::string& options_text) {
  auto started = op_start::now();
  auto q = start_query(filter_text, options_text, false);
  if (!q.ok()) return q.error();
  if (auto st = run_to_end(**q); !st.ok()) return st;
  auto results = (*q)->run.finish();
  if (results.ok()) queried(filter_text, false, results->keys.size(), started);
  return results;
}

result<uint64_t> replica_reader::count(const std::string& filter_text) {
  auto started = op_start::now();
  auto q = start_query(filter_text, "", true);
  if (!q.ok()) return q.error();
  if (auto st = run_to_end(**q); !st.ok()) return st;
  queried(filter_text, true, (*q)->run.matched(), started);
  return (*q)->run.matched();
}

}  // namespace eventbase::actors
