// The stream actor's side of JetStream: opening the stream, the pull consumer, applying
// delivered events in batches, and the replies to JetStream API calls (see stream_state.hpp).
//
// Flow control: at most two pull requests are outstanding, each for at most `pull_batch`
// messages and `max_pull_bytes` bytes. The actor asks for more only after applying what it got,
// so a replay of any length holds a bounded number of events in memory.
#include <caf/typed_event_based_actor.hpp>

#include "actors/stream_state.hpp"
#include "eventbase/log.hpp"
#include "nats/transport.hpp"
#include "protocol/jetstream.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

namespace {

int64_t to_ns(std::chrono::milliseconds ms) {
  return ms.count() * 1000000;
}

// An ephemeral consumer that lost its client is removed by the server after this long.
constexpr std::chrono::minutes kConsumerInactiveThreshold{2};

}  // namespace

// -- the inbox ----------------------------------------------------------------------------------

void stream_state::drain() {
  if (current == phase::stopped) return;
  auto items = queue->take();
  std::vector<inbound> events;
  uint64_t horizon = cfg.store->applied_sequence();  // highest sequence applied or collected
  auto flush = [&] {
    if (!events.empty()) apply_events(events);
    events.clear();
  };
  for (auto& in : items) {
    if (current == phase::stopped) return;
    switch (in.what) {
      case inbound::kind::event: {
        if (in.consumer != consumer || consumer.empty()) break;  // from a replaced consumer
        if (in.consumer_seq != next_consumer_seq) {
          flush();
          reset_consumer("consumer sequence gap (expected " + std::to_string(next_consumer_seq) +
                         ", got " + std::to_string(in.consumer_seq) + ")");
          break;
        }
        ++next_consumer_seq;
        last_consumer_traffic = self->clock().now();
        if (!pulls.empty() && --pulls.front().remaining <= 0) pulls.pop_front();
        if (in.stream_seq <= horizon) break;  // already applied
        horizon = in.stream_seq;
        events.push_back(std::move(in));
        break;
      }
      case inbound::kind::pub_ack:
        handle_pub_ack(in);
        break;
      case inbound::kind::api_reply:
        flush();
        handle_api_reply(in);
        break;
      case inbound::kind::pull_status:
        flush();
        handle_pull_status(in);
        break;
      case inbound::kind::reconnected:
        flush();
        if (stream_known) {
          reset_consumer("reconnected to NATS");
        } else {
          bool asking = false;
          for (auto& [token, call] : calls)
            asking = asking || call.what == api_call::kind::stream_info ||
                     call.what == api_call::kind::stream_create;
          if (!asking) request_stream_info();  // the request may have been lost
        }
        break;
      case inbound::kind::unknown:
        EB_LOG_DEBUG("stream", "'" << cfg.name << "': ignored message on " << in.msg.subject);
        break;
    }
  }
  flush();
  if (current != phase::stopped) top_up_pulls();
}

void stream_state::apply_events(std::vector<inbound>& items) {
  storage::apply_batch batch(*cfg.store);
  std::vector<applied_event> applied;
  applied.reserve(items.size());
  for (auto& in : items) {
    if (!in.event) {
      ++skipped_events;
      EB_LOG_WARN("stream", "'" << cfg.name << "': skipped malformed message at sequence "
                                << in.stream_seq << " on " << in.msg.subject << ": "
                                << in.decode_error.message());
      continue;
    }
    const auto& ev = *in.event;
    bool want_old = false;
    for (auto& [id, sub] : subscriptions) {
      if (sub.filter.matches(ev.key)) {
        want_old = true;
        break;
      }
    }
    applied_event out{&in, {}, std::nullopt};
    status st;
    if (ev.type == protocol::event_type::put) {
      auto record = batch.put(ev, in.stream_seq, in.time_ms, want_old ? &out.old_record : nullptr);
      if (record.ok())
        out.record = std::move(*record);
      else
        st = record.error();
    } else {
      st = batch.erase(ev.key, want_old ? &out.old_record : nullptr);
    }
    if (!st.is_ok()) {
      EB_LOG_ERROR("stream", "'" << cfg.name << "': cannot apply sequence " << in.stream_seq << ": "
                                 << st.to_string());
      shutdown(st);
      self->quit(to_error(st));
      return;
    }
    applied.push_back(std::move(out));
  }
  if (auto st = batch.commit(items.back().stream_seq); !st.is_ok()) {
    EB_LOG_ERROR("stream", "'" << cfg.name << "': " << st.to_string());
    shutdown(st);
    self->quit(to_error(st));
    return;
  }
  for (auto& ev : applied) {
    if (ev.source->own_write != 0) on_write_applied(ev.source->own_write, ev.record);
    notify(ev);
  }
  resolve_skipped_writes();
  if (current == phase::opening && stream_known && cfg.store->applied_sequence() >= ready_target)
    become_ready();
}

// -- pull requests ------------------------------------------------------------------------------

void stream_state::top_up_pulls() {
  if (consumer.empty() || current == phase::stopped) return;
  auto now = self->clock().now();
  if (pulls.empty()) last_consumer_traffic = now;
  // Pull requests are replaced a heartbeat before they expire. JetStream (2.9) usually answers
  // an expired request with a 408 status, but when a message arrives for it after its expiry
  // and before the server's periodic check, the server drops it without a word; two requests
  // made together expire together, and the consumer would go silent until the liveness check.
  auto renew_before = now + cfg.options.heartbeat;
  for (auto it = pulls.begin(); it != pulls.end();)
    it = it->expires <= renew_before ? pulls.erase(it) : std::next(it);
  std::string subject = js::consumer_next_subject(cfg.name, consumer);
  std::string body =
      js::pull_request(cfg.options.pull_batch, max_pull_bytes, to_ns(cfg.options.pull_expires),
                       to_ns(cfg.options.heartbeat));
  while (pulls.size() < 2) {
    uint64_t id = next_pull_id++;
    std::string reply =
        inbox->prefix() + ".p." + std::to_string(generation) + "." + std::to_string(id);
    if (auto st = cfg.nats->publish(subject, body, reply); !st.is_ok()) {
      EB_LOG_WARN("stream", "'" << cfg.name << "': pull request failed: " << st.to_string());
      return;  // retried by the liveness check
    }
    pulls.push_back(pull{id, cfg.options.pull_batch, now + cfg.options.pull_expires});
  }
}

void stream_state::handle_pull_status(const inbound& in) {
  if (in.generation != generation) return;  // a replaced consumer
  last_consumer_traffic = self->clock().now();
  auto remove_pull = [&] {
    for (auto it = pulls.begin(); it != pulls.end(); ++it) {
      if (it->id == in.token) {
        pulls.erase(it);
        break;
      }
    }
  };
  const std::string& what = in.msg.description;
  switch (in.msg.status) {
    case 100:  // idle heartbeat: the consumer is alive
      return;
    case 404:  // no messages
    case 408:  // the request expired
      remove_pull();
      return;
    case 409:
      if (what.find("Consumer Deleted") != std::string::npos ||
          what.find("Consumer is push based") != std::string::npos) {
        reset_consumer("consumer ended: " + what);
      } else {
        remove_pull();  // e.g. "Exceeded MaxWaiting", "Message Size Exceeds MaxBytes"
      }
      return;
    default:
      reset_consumer("pull request failed: " + std::to_string(in.msg.status) + " " + what);
      return;
  }
}

void stream_state::reset_consumer(const std::string& why) {
  if (current == phase::stopped) return;
  if (!consumer.empty()) {
    EB_LOG_INFO("stream", "'" << cfg.name << "': recreating consumer: " << why);
    cfg.nats->publish(js::consumer_delete_subject(cfg.name, consumer), "");
  }
  consumer.clear();
  ++generation;
  pulls.clear();
  next_consumer_seq = 1;
  uint64_t start = cfg.store->applied_sequence() + 1;
  call_api(api_call::kind::consumer_create, js::consumer_create_subject(cfg.name),
           js::consumer_create_request(
               cfg.name, start,
               std::chrono::duration_cast<std::chrono::nanoseconds>(kConsumerInactiveThreshold)
                   .count()));
}

void stream_state::check_consumer_liveness() {
  if (current == phase::stopped || current == phase::closing) return;
  if (!stream_known) return;  // the consumer is created once the stream is known
  auto now = self->clock().now();
  if (consumer.empty()) {
    bool creating = false;
    for (auto& [token, call] : calls)
      creating = creating || call.what == api_call::kind::consumer_create;
    if (!creating) reset_consumer("retrying consumer creation");
    return;
  }
  if (now - last_consumer_traffic > 3 * cfg.options.heartbeat)
    reset_consumer("no heartbeat for " + std::to_string(3 * cfg.options.heartbeat.count()) + " ms");
}

// -- JetStream API --------------------------------------------------------------------------------

uint64_t stream_state::call_api(api_call::kind what, const std::string& subject,
                                const std::string& body, uint64_t write_token) {
  uint64_t token = next_token++;
  api_call call{what, write_token, generation, self->clock().now() + cfg.options.operation_timeout};
  calls.emplace(token, call);
  auto st = cfg.nats->publish(subject, body, inbox->prefix() + ".r." + std::to_string(token));
  if (!st.is_ok()) {
    // Answer the call at once with the failure.
    inbound failed;
    failed.what = inbound::kind::api_reply;
    failed.token = token;
    failed.msg.status = 503;
    failed.msg.description = st.message();
    handle_api_reply(failed);
  }
  schedule_tick();
  return token;
}

void stream_state::request_stream_info() {
  call_api(api_call::kind::stream_info, js::stream_info_subject(cfg.name), "");
}

void stream_state::ensure_stats_stream() {
  if (cfg.stats_stream.empty()) return;
  call_api(api_call::kind::stats_info, js::stream_info_subject(cfg.stats_stream), "");
}

void stream_state::on_stream_ready(uint64_t last_seq, int64_t max_msgs_per_subject) {
  per_subject_limit = max_msgs_per_subject == 1;
  ready_target = last_seq;
  stream_known = true;
  if (cfg.store->applied_sequence() > last_seq) {
    // The stream has fewer messages than the replica has applied: it was deleted and created
    // anew since. The local data belongs to the old stream.
    EB_LOG_WARN("stream", "'" << cfg.name << "': the replica is at sequence "
                              << cfg.store->applied_sequence() << " but the stream ends at "
                              << last_seq << "; it was recreated: rebuilding the replica");
    if (auto st = cfg.store->clear(); !st.is_ok()) {
      fail_open(st);
      return;
    }
  }
  ensure_stats_stream();
  reset_consumer("open");
  if (cfg.store->applied_sequence() >= ready_target) become_ready();
}

void stream_state::handle_api_reply(inbound& in) {
  auto it = calls.find(in.token);
  if (it == calls.end()) return;  // answered already (e.g. timed out)
  api_call call = it->second;
  calls.erase(it);
  // Status-only replies: 503 no responders (JetStream disabled or unreachable), 408 our timeout.
  status failure;
  if (in.msg.status == 503)
    failure = status(
        errc::unavailable,
        "JetStream did not answer (no responders: is JetStream enabled?) " + in.msg.description);
  else if (in.msg.status == 408)
    failure = status(errc::timeout, in.msg.description);
  const std::string& body = in.msg.data;

  switch (call.what) {
    case api_call::kind::stream_info:
    case api_call::kind::stream_create: {
      auto info = failure.is_ok() ? js::parse_stream_info(body) : result<js::stream_info>(failure);
      if (info.ok()) {
        if (current == phase::opening) on_stream_ready(info->last_seq, info->max_msgs_per_subject);
      } else if (call.what == api_call::kind::stream_info &&
                 info.error().code() == errc::not_found) {
        js::stream_settings settings{
            cfg.name, {js::stream_wildcard(cfg.name)}, 1, cfg.options.replicas};
        call_api(api_call::kind::stream_create, js::stream_create_subject(cfg.name),
                 js::stream_create_request(settings));
      } else if (call.what == api_call::kind::stream_create && js::api_error_code(body) == 10058) {
        request_stream_info();  // another node created it first, with its own settings
      } else if (current == phase::opening) {
        fail_open(info.error());
      }
      return;
    }
    case api_call::kind::stats_info:
    case api_call::kind::stats_create: {
      auto info = failure.is_ok() ? js::parse_stream_info(body) : result<js::stream_info>(failure);
      if (info.ok()) return;
      if (call.what == api_call::kind::stats_info && info.error().code() == errc::not_found) {
        js::stream_settings settings{
            cfg.stats_stream, {js::stream_wildcard(cfg.stats_stream)}, -1, cfg.options.replicas};
        call_api(api_call::kind::stats_create, js::stream_create_subject(cfg.stats_stream),
                 js::stream_create_request(settings));
      } else if (js::api_error_code(body) != 10058) {
        EB_LOG_WARN("stream", "'" << cfg.name << "': stats stream '" << cfg.stats_stream
                                  << "' unavailable: " << info.error().to_string());
      }
      return;
    }
    case api_call::kind::consumer_create: {
      auto created =
          failure.is_ok() ? js::parse_consumer_created(body) : result<std::string>(failure);
      if (call.generation != generation) {
        // Replaced while being created: remove it rather than wait for its inactivity timeout.
        if (created.ok()) cfg.nats->publish(js::consumer_delete_subject(cfg.name, *created), "");
        return;
      }
      if (!created.ok()) {
        if (created.error().code() == errc::not_found) {
          status gone(errc::not_found, "stream '" + cfg.name + "' no longer exists in JetStream");
          EB_LOG_WARN("stream", gone.message());
          if (current == phase::opening) {
            fail_open(gone);
          } else {
            shutdown(gone);
            self->quit(to_error(gone));
          }
          return;
        }
        EB_LOG_WARN("stream", "'" << cfg.name << "': cannot create consumer: "
                                  << created.error().to_string() << "; retrying");
        return;  // the liveness check retries
      }
      consumer = std::move(*created);
      next_consumer_seq = 1;
      pulls.clear();
      top_up_pulls();
      return;
    }
    case api_call::kind::purge:
      on_purged(call.write_token,
                failure.is_ok() ? js::parse_purged(body) : result<uint64_t>(failure));
      return;
    case api_call::kind::stream_delete: {
      status st = failure.is_ok() ? js::parse_success(body) : failure;
      if (!st.is_ok() && st.code() != errc::not_found) {
        dropping = false;
        current = phase::ready;
        if (close_promise.pending()) close_promise.deliver(to_error(st));
        return;
      }
      auto store = cfg.store;
      shutdown(status(errc::closed, "stream '" + cfg.name + "' was deleted"));
      status dropped = store->drop();
      if (close_promise.pending()) {
        if (dropped.is_ok())
          close_promise.deliver(ok_atom::value);
        else
          close_promise.deliver(to_error(dropped));
      }
      self->quit();
      return;
    }
  }
}

}  // namespace eventbase::actors
