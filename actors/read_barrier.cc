// read_barrier (see read_barrier.hpp).
#include "actors/read_barrier.hpp"

#include <algorithm>
#include <utility>

#include "eventbase/log.hpp"
#include "protocol/jetstream.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

namespace {

// Below raft's 4 s election timeout (read_barrier.hpp).
constexpr auto kLeaderFreshness = std::chrono::seconds(3);
constexpr auto kAskAgain = std::chrono::milliseconds(200);

}  // namespace

read_barrier::read_barrier(settings config, jetstream_client& api, replica_horizon& horizon,
                           jetstream_client::clock now, stream_last_fn stream_last,
                           std::function<std::string()> behind)
    : config_(std::move(config)),
      api_(api),
      horizon_(horizon),
      now_(std::move(now)),
      stream_last_(std::move(stream_last)),
      behind_(std::move(behind)) {}

void read_barrier::await_consistency(proceed go) {
  uint64_t id = next_id_++;
  waits_[id] = wait{std::nullopt, now_() + config_.timeout,
                    "consistent read of '" + config_.stream + "'", std::move(go)};
  awaiting_answer_.push_back(id);
  if (!in_flight_) ask();
}

void read_barrier::await_sequence(uint64_t seq, std::string what, proceed go) {
  if (horizon_.consistent() >= seq) return go(status::OK());
  uint64_t id = next_id_++;
  waits_[id] = wait{seq, now_() + config_.timeout, std::move(what), std::move(go)};
  check();
}

void read_barrier::ask(std::function<void(result<uint64_t>)> answered) {
  if (answered) askers_.push_back(std::move(answered));
  if (in_flight_) return;
  in_flight_ = true;
  ask_again_at_.reset();
  uint64_t ticket = horizon_.ask();
  uint64_t applied = horizon_.applied();
  auto reads = std::move(awaiting_answer_);
  awaiting_answer_.clear();
  // STREAM.INFO is answered by the stream's leader, which has every acknowledged write.
  api_.call(js::stream_info_subject(config_.stream), "",
            [this, ticket, applied, reads = std::move(reads)](result<std::string> reply) {
              on_answer(ticket, applied, reads, std::move(reply));
            });
}

void read_barrier::on_answer(uint64_t ticket, uint64_t applied_when_asked,
                             const std::vector<uint64_t>& reads, result<std::string> reply) {
  in_flight_ = false;
  auto info = reply.ok() ? js::parse_stream_info(*reply) : result<js::stream_info>(reply.error());
  if (info.ok() && !js::from_current_leader(*info, kLeaderFreshness)) {
    // Perhaps a leader that was replaced while it was paused: ask again shortly.
    EB_LOG_DEBUG("stream", "'" << config_.stream << "': STREAM.INFO answered by a leader that "
                               << "has not heard from its followers lately; asking again");
    awaiting_answer_.insert(awaiting_answer_.begin(), reads.begin(), reads.end());
    ask_again_at_ = now_() + kAskAgain;
    return;
  }
  std::vector<proceed> failed;
  for (auto id : reads) {
    auto it = waits_.find(id);
    if (it == waits_.end()) continue;  // timed out meanwhile
    if (info.ok()) {
      it->second.target = info->last_seq;
      continue;
    }
    failed.push_back(std::move(it->second.go));
    waits_.erase(it);
  }
  if (info.ok()) {
    horizon_.on_stream_last(ticket, info->last_seq);
    stream_last_(info->last_seq, applied_when_asked);
  }
  auto askers = std::move(askers_);
  askers_.clear();
  // Before the completions below: they may start reads of their own.
  if (!awaiting_answer_.empty()) ask();
  for (auto& go : failed)
    go(status(info.error().code(),
              "consistent read of '" + config_.stream +
                  "': cannot learn the stream's last sequence: " + info.error().message()));
  for (auto& answered : askers)
    answered(info.ok() ? result<uint64_t>(info->last_seq) : result<uint64_t>(info.error()));
  check();
}

void read_barrier::check(std::optional<uint64_t> also_waiting_for) {
  uint64_t consistent = horizon_.consistent();
  uint64_t applied = horizon_.applied();
  auto time = now_();
  if (ask_again_at_ && time >= *ask_again_at_ && !in_flight_) ask();
  std::vector<std::pair<proceed, status>> due;
  std::optional<uint64_t> blocked = also_waiting_for;  // the lowest target only gaps hold back
  for (auto it = waits_.begin(); it != waits_.end();) {
    auto& w = it->second;
    if (w.target && consistent >= *w.target) {
      due.emplace_back(std::move(w.go), status::OK());
    } else if (time >= w.deadline) {
      std::string why = w.what + ": ";
      if (w.target) {
        why += "the replica reached sequence " + std::to_string(consistent) + " of " +
               std::to_string(*w.target) + " within " + std::to_string(config_.timeout.count()) +
               " ms";
        if (applied > consistent)
          why += " (it applied up to " + std::to_string(applied) +
                 " but has not yet seen what replaced events it skipped)";
        if (auto reason = behind_(); !reason.empty()) why += " (" + reason + ")";
      } else {
        why += "JetStream did not tell the stream's last sequence within " +
               std::to_string(config_.timeout.count()) + " ms";
      }
      due.emplace_back(std::move(w.go), status(errc::timeout, why));
    } else {
      if (w.target) blocked = std::min(blocked.value_or(*w.target), *w.target);
      ++it;
      continue;
    }
    it = waits_.erase(it);
  }
  if (blocked && applied >= *blocked && consistent < *blocked && horizon_.wants_stream_last())
    ask();
  for (auto& [go, st] : due) go(st);
}

std::optional<read_barrier::time_point> read_barrier::next_wake() const {
  std::optional<time_point> at = ask_again_at_;
  if (!waits_.empty() && (!at || waits_.begin()->second.deadline < *at))
    at = waits_.begin()->second.deadline;
  return at;
}

void read_barrier::fail_all(const status& why) {
  auto waits = std::move(waits_);
  waits_.clear();
  awaiting_answer_.clear();
  auto askers = std::move(askers_);
  askers_.clear();
  ask_again_at_.reset();
  for (auto& [id, w] : waits) w.go(why);
  for (auto& answered : askers) answered(why);
}

}  // namespace eventbase::actors
