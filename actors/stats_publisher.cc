// stats_publisher (see stats_publisher.hpp).
#include "actors/stats_publisher.hpp"

#include "eventbase/log.hpp"
#include "nats/transport.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase::actors {

op_start op_start::now() {
  return {protocol::now_ms(), std::chrono::steady_clock::now()};
}

stats_publisher::stats_publisher(std::shared_ptr<nats::transport> nats,
                                 const std::string& stats_stream, operation_latencies* latencies)
    : nats_(std::move(nats)),
      subject_(stats_stream.empty() ? std::string() : protocol::stats_subject(stats_stream)),
      latencies_(latencies) {}

void stats_publisher::publish(protocol::stats_operation op, std::optional<std::string_view> id,
                              std::optional<std::string_view> pattern,
                              const op_start& started) const {
  observe(op, started);
  if (!enabled() || !nats_) return;  // before copying anything: most nodes publish no stats
  protocol::stats_event ev;
  ev.operation = op;
  if (id) ev.id = std::string(*id);
  if (pattern) ev.pattern = std::string(*pattern);
  emit(std::move(ev), started);
}

void stats_publisher::publish_query(protocol::stats_operation op, const std::string& filter,
                                    uint64_t results, const op_start& started) const {
  observe(op, started);
  if (!enabled() || !nats_) return;
  protocol::stats_event ev;
  ev.operation = op;
  ev.query = filter.empty() ? std::string("{}") : filter;
  ev.result_count = results;
  emit(std::move(ev), started);
}

void stats_publisher::observe(protocol::stats_operation op, const op_start& started) const {
  if (latencies_ != nullptr)
    (*latencies_)[static_cast<size_t>(op)].observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started.at).count());
}

void stats_publisher::emit(protocol::stats_event ev, const op_start& started) const {
  ev.timestamp_ms = started.wall_ms;
  ev.duration_ms = protocol::now_ms() - started.wall_ms;
  if (auto st = nats_->publish(subject_, protocol::encode_stats(ev)); !st.ok())
    EB_LOG_DEBUG("stats", "not published: " << st.to_string());
}

}  // namespace eventbase::actors
