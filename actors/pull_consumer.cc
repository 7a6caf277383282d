// pull_consumer (see pull_consumer.hpp).
#include "actors/pull_consumer.hpp"

#include "eventbase/log.hpp"
#include "protocol/jetstream.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

namespace {

int64_t to_ns(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}

}  // namespace

pull_consumer::pull_consumer(settings config, nats::transport& nats, jetstream_client& api,
                             jetstream_client::clock now, std::function<uint64_t()> next_sequence,
                             std::function<void(const status&)> stream_gone)
    : config_(std::move(config)),
      nats_(nats),
      api_(api),
      now_(std::move(now)),
      next_sequence_(std::move(next_sequence)),
      stream_gone_(std::move(stream_gone)) {}

void pull_consumer::reset(const std::string& why) {
  if (!name_.empty()) {
    EB_LOG_INFO("stream", "'" << config_.stream << "': recreating consumer: " << why);
    nats_.publish(js::consumer_delete_subject(config_.stream, name_), "");
  }
  name_.clear();
  pulls_.clear();
  next_consumer_seq_ = 1;
  uint64_t generation = ++generation_;
  creating_ = true;
  api_.call(
      js::consumer_create_subject(config_.stream),
      js::consumer_create_request(config_.stream, next_sequence_(),
                                  config_.inactive_threshold.count(), config_.replicas),
      [this, generation](result<std::string> reply) { on_created(generation, std::move(reply)); },
      jetstream_client::call_options{config_.create_timeout, true});
}

void pull_consumer::on_created(uint64_t generation, result<std::string> reply) {
  auto created =
      reply.ok() ? js::parse_consumer_created(*reply) : result<std::string>(reply.error());
  if (generation != generation_) {
    // Replaced while being created: remove it rather than wait for its inactive threshold.
    if (created.ok()) nats_.publish(js::consumer_delete_subject(config_.stream, *created), "");
    return;
  }
  creating_ = false;
  if (!created.ok()) {
    if (created.error().code() == errc::not_found) {
      stream_gone_(
          status(errc::not_found, "stream '" + config_.stream + "' no longer exists in JetStream"));
      return;
    }
    // While JetStream is down this repeats for every open stream: once a minute is enough.
    auto now = now_();
    if (!last_create_warning_ || now - *last_create_warning_ >= std::chrono::minutes(1)) {
      EB_LOG_WARN("stream",
                  "'" << config_.stream << "': cannot create consumer: "
                      << created.error().to_string() << "; retrying"
                      << (unreported_creates_ > 0 ? " (" + std::to_string(unreported_creates_) +
                                                        " more failures since the last warning)"
                                                  : ""));
      last_create_warning_ = now;
      unreported_creates_ = 0;
    } else {
      ++unreported_creates_;
    }
    return;  // check_liveness retries
  }
  name_ = std::move(*created);
  last_create_warning_.reset();
  unreported_creates_ = 0;
  EB_LOG_INFO("stream", "'" << config_.stream << "': consumer " << name_ << " pulls from sequence "
                            << next_sequence_());
  next_consumer_seq_ = 1;
  pulls_.clear();
  top_up();
}

bool pull_consumer::accept(const inbound& event) {
  if (name_.empty() || event.consumer != name_) return false;  // a replaced consumer's
  if (event.consumer_seq != next_consumer_seq_) {
    reset("consumer sequence gap (expected " + std::to_string(next_consumer_seq_) + ", got " +
          std::to_string(event.consumer_seq) + ")");
    return false;
  }
  ++next_consumer_seq_;
  last_traffic_ = now_();
  note_stream_sequence(event.stream_seq + event.pending);
  if (event.pending == 0) stale_ = false;  // caught up
  if (!pulls_.empty() && --pulls_.front().remaining <= 0) pulls_.pop_front();
  return true;
}

bool pull_consumer::on_pull_status(const inbound& in) {
  if (in.generation != generation_) return false;  // a replaced consumer's
  last_traffic_ = now_();
  auto remove_pull = [&] {
    for (auto it = pulls_.begin(); it != pulls_.end(); ++it) {
      if (it->id == in.token) {
        pulls_.erase(it);
        break;
      }
    }
  };
  const std::string& what = in.msg.description;
  switch (in.msg.status) {
    case 100:  // idle heartbeat: the consumer is alive and has nothing more for us
      if (pulls_.empty() || name_.empty()) return false;
      stale_ = false;
      return true;
    case 404:  // no messages
    case 408:  // the request expired
      remove_pull();
      return false;
    case 409:
      if (what.find("Consumer Deleted") != std::string::npos ||
          what.find("Consumer is push based") != std::string::npos) {
        reset("consumer ended: " + what);
      } else {
        remove_pull();  // e.g. "Exceeded MaxWaiting", "Message Size Exceeds MaxBytes"
      }
      return false;
    default:
      reset("pull request failed: " + std::to_string(in.msg.status) + " " + what);
      return false;
  }
}

void pull_consumer::top_up() {
  if (name_.empty()) return;
  auto now = now_();
  if (pulls_.empty()) last_traffic_ = now;
  // Pull requests are replaced a heartbeat before they expire. JetStream (2.9) usually answers
  // an expired request with a 408 status, but when a message arrives for it after its expiry
  // and before the server's periodic check, the server drops it without a word; two requests
  // made together expire together, and the consumer would go silent until the liveness check.
  auto renew_before = now + config_.heartbeat;
  for (auto it = pulls_.begin(); it != pulls_.end();)
    it = it->expires <= renew_before ? pulls_.erase(it) : std::next(it);
  std::string subject = js::consumer_next_subject(config_.stream, name_);
  std::string body = js::pull_request(config_.batch, config_.max_bytes, to_ns(config_.expires),
                                      to_ns(config_.heartbeat));
  while (pulls_.size() < 2) {
    uint64_t id = next_pull_id_++;
    std::string reply =
        config_.pull_reply_prefix + std::to_string(generation_) + "." + std::to_string(id);
    if (auto st = nats_.publish(subject, body, reply); !st.ok()) {
      EB_LOG_WARN("stream", "'" << config_.stream << "': pull request failed: " << st.to_string());
      return;  // check_liveness retries
    }
    pulls_.push_back(pull{id, config_.batch, now + config_.expires});
  }
}

void pull_consumer::check_liveness() {
  if (name_.empty()) {
    if (!creating_) reset("retrying consumer creation");
    return;
  }
  auto silence = config_.missed_heartbeats * config_.heartbeat;
  if (now_() - last_traffic_ > silence) {
    stale_ = true;
    reset("nothing from it for " + std::to_string(silence.count()) + " ms");
  }
}

std::optional<pull_consumer::time_point> pull_consumer::next_wake() const {
  if (name_.empty()) return std::nullopt;
  return last_traffic_ + config_.missed_heartbeats * config_.heartbeat +
         std::chrono::milliseconds(1);
}

void pull_consumer::stop() {
  if (!name_.empty()) nats_.publish(js::consumer_delete_subject(config_.stream, name_), "");
  name_.clear();
  pulls_.clear();
  ++generation_;  // a creation still under way is deleted when it completes
  creating_ = false;
}

}  // namespace eventbase::actors
