// expiry_clock (see expiry_clock.hpp).
#include "actors/expiry_clock.hpp"

#include <algorithm>

namespace eventbase::actors {

status expiry_clock::tick() {
  auto now = now_();
  int64_t wall = wall_ms_();
  wake_.reset();
  auto due = store_.expiries_due(wall, config_.max_per_tick);
  if (!due.ok()) {
    wake_ = now + config_.retry_after;
    return due.error();
  }
  std::map<uint64_t, time_point> still;
  for (const auto& expiry : *due) {
    auto sent = sent_.find(expiry.revision);
    time_point at = now;
    if (sent != sent_.end() && now - sent->second < config_.retry_after) {
      at = sent->second;  // published already: wait for it to be applied
    } else {
      publish_(expiry);
    }
    still.emplace(expiry.revision, at);
    auto retry = at + config_.retry_after;
    wake_ = wake_ ? std::min(*wake_, retry) : retry;
  }
  sent_ = std::move(still);  // what is no longer due was applied
  if (due->size() == config_.max_per_tick) {
    wake_ = now;  // more are due: the next tick goes on at once
    return status::OK();
  }
  auto next = store_.next_expiry(wall);
  if (!next.ok()) return next.error();
  if (*next) {
    auto in = now + std::chrono::milliseconds(**next - wall);
    wake_ = wake_ ? std::min(*wake_, in) : in;
  }
  return status::OK();
}

}  // namespace eventbase::actors
