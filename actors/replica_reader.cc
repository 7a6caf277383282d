// replica_reader (see replica_reader.hpp).
#include "actors/replica_reader.hpp"

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

}  // namespace eventbase::actors
