// stats_publisher (see stats_publisher.hpp).
#include "actors/stats_publisher.hpp"

#include "eventbase/log.hpp"
#include "nats/transport.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase::actors {

stats_publisher::stats_publisher(std::shared_ptr<nats::transport> nats,
                                 const std::string& stats_stream)
    : nats_(std::move(nats)),
      subject_(stats_stream.empty() ? std::string() : protocol::stats_subject(stats_stream)) {}

void stats_publisher::publish(protocol::stats_operation op, std::optional<std::string> id,
                              std::optional<std::string> pattern, int64_t started_ms) const {
  if (subject_.empty() || !nats_) return;
  protocol::stats_event ev{op, std::move(id), std::move(pattern), started_ms,
                           protocol::now_ms() - started_ms};
  if (auto st = nats_->publish(subject_, protocol::encode_stats(ev)); !st.ok())
    EB_LOG_DEBUG("stats", "not published: " << st.to_string());
}

}  // namespace eventbase::actors
