// replica_horizon (see replica_horizon.hpp).
#include "actors/replica_horizon.hpp"

#include <algorithm>

namespace eventbase::actors {

void replica_horizon::reset(uint64_t applied) {
  gaps_.clear();
  applied_ = applied;
  delivered_ = applied;
  // What an earlier run applied may hold gaps it never resolved; an empty replica holds none.
  if (applied > 0) gaps_.push_back(gap{applied, tickets_, 0, std::nullopt});
}

void replica_horizon::on_delivery(uint64_t seq, uint64_t pending, uint64_t generation) {
  if (seq <= delivered_) return;
  if (seq > delivered_ + 1) gaps_.push_back(gap{delivered_, tickets_, generation, std::nullopt});
  delivered_ = seq;
  if (pending == 0) on_idle(generation);
}

void replica_horizon::on_idle(uint64_t generation) {
  if (generation == 0) return;
  gaps_.erase(std::remove_if(gaps_.begin(), gaps_.end(),
                             [generation](const gap& g) { return g.generation == generation; }),
              gaps_.end());
}

uint64_t replica_horizon::ask() {
  return ++tickets_;
}

void replica_horizon::on_stream_last(uint64_t ticket, uint64_t last) {
  for (auto& g : gaps_)
    if (g.seen < ticket) g.bound = std::min(g.bound.value_or(last), last);
  resolve_applied();
}

void replica_horizon::on_applied(uint64_t applied) {
  applied_ = std::max(applied_, applied);
  delivered_ = std::max(delivered_, applied_);
  resolve_applied();
}

void replica_horizon::resolve_applied() {
  gaps_.erase(std::remove_if(gaps_.begin(), gaps_.end(),
                             [this](const gap& g) { return g.bound && *g.bound <= applied_; }),
              gaps_.end());
}

uint64_t replica_horizon::consistent() const {
  return gaps_.empty() ? applied_ : std::min(applied_, gaps_.front().after);
}

bool replica_horizon::wants_stream_last() const {
  return std::any_of(gaps_.begin(), gaps_.end(), [](const gap& g) { return !g.bound; });
}

}  // namespace eventbase::actors
