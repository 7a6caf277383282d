// Puts and erases of the stream actor (see stream_state.hpp).
//
// A write is published with a Nats-Msg-Id of "<writer_id>.<token>" and a reply subject for its
// acknowledgement. It completes when the replica applies the event with that id; if compaction
// removed the event before this node consumed it (a later write of the same key replaced it),
// it completes as soon as the replica has passed the acknowledged sequence. Writes of one key
// from one actor run one at a time, in arrival order, so each carries metadata computed from
// the result of the previous one.
#include <algorithm>

#include <caf/typed_event_based_actor.hpp>

#include "actors/stream_state.hpp"
#include "eventbase/log.hpp"
#include "nats/transport.hpp"
#include "protocol/document.hpp"
#include "protocol/event.hpp"
#include "protocol/jetstream.hpp"
#include "protocol/names.hpp"
#include "protocol/record.hpp"
#include "protocol/timestamp.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

namespace {

// Room for the Nats-Msg-Id header inside the server's max_payload, which counts headers too.
constexpr int64_t kHeaderAllowance = 128;

}  // namespace

void stream_state::put(caf::response_promise rp, std::string key, std::string document) {
  if (auto invalid = protocol::validate_key(key); !invalid.is_ok()) {
    rp.deliver(to_error(invalid));
    return;
  }
  if (auto invalid = protocol::validate_document(document); !invalid.is_ok()) {
    rp.deliver(to_error(status(errc::invalid_argument, "key '" + key + "': " + invalid.message())));
    return;
  }
  submit(write_op::kind::put, std::move(rp), std::move(key), std::move(document));
}

void stream_state::erase(caf::response_promise rp, std::string key) {
  if (auto invalid = protocol::validate_key(key); !invalid.is_ok()) {
    rp.deliver(to_error(invalid));
    return;
  }
  submit(write_op::kind::erase, std::move(rp), std::move(key), {});
}

void stream_state::submit(write_op::kind what, caf::response_promise rp, std::string key,
                          std::string document) {
  uint64_t token = next_token++;
  write_op op;
  op.what = what;
  op.key = std::move(key);
  op.document = std::move(document);
  op.promise = std::move(rp);
  op.started_ms = protocol::now_ms();
  op.deadline = self->clock().now() + cfg.options.operation_timeout;
  auto [it, first] = busy_keys.try_emplace(op.key);
  writes.emplace(token, std::move(op));
  if (!first) {
    it->second.waiting.push_back(token);  // runs when the key's earlier writes are done
    return;
  }
  it->second.active = token;
  publish_write(token);
  schedule_tick();
}

void stream_state::publish_write(uint64_t token) {
  auto& op = writes.at(token);
  std::string subject;
  std::string payload;
  int64_t now = protocol::now_ms();
  if (op.what == write_op::kind::put) {
    // The metadata this write carries continues from the key's current record.
    auto current_record = cfg.store->get(op.key);
    if (!current_record.ok()) {
      complete_write(token, current_record.error(), {}, 0);
      return;
    }
    std::optional<protocol::meta> previous;
    if (*current_record) {
      if (auto view = protocol::decode_record(**current_record); view.ok()) previous = view->m;
    }
    payload = protocol::encode_put_payload(op.key, op.document, now,
                                           protocol::carry_meta(previous ? &*previous : nullptr));
    subject = protocol::put_subject(cfg.name, op.key);
  } else {
    payload = protocol::encode_delete_payload(op.key, now);
    subject = protocol::delete_subject(cfg.name, op.key);
  }
  int64_t limit = cfg.nats->max_payload() - kHeaderAllowance;
  if (static_cast<int64_t>(payload.size()) > limit) {
    complete_write(
        token,
        status(errc::too_large, "the event for key '" + op.key + "' is " +
                                    std::to_string(payload.size()) +
                                    " bytes; the NATS server accepts at most " +
                                    std::to_string(limit) + " (its max_payload less headers)"),
        {}, 0);
    return;
  }
  op.document.clear();
  op.document.shrink_to_fit();
  nats::headers hdrs{{"Nats-Msg-Id", writer_id + "." + std::to_string(token)}};
  auto st =
      cfg.nats->publish(subject, payload, inbox->prefix() + ".a." + std::to_string(token), hdrs);
  if (!st.is_ok()) {
    complete_write(token, st, {}, 0);
    return;
  }
  op.published = true;
}

void stream_state::handle_pub_ack(const inbound& in) {
  auto it = writes.find(in.token);
  if (it == writes.end()) return;  // completed already: applied before its ack arrived
  auto& op = it->second;
  if (in.msg.status == 503) {
    complete_write(in.token,
                   status(errc::unavailable, "no JetStream stream accepted the write to '" +
                                                 cfg.name + "' (was the stream deleted?)"),
                   {}, 0);
    return;
  }
  auto ack = js::parse_pub_ack(in.msg.data);
  if (!ack.ok()) {
    complete_write(in.token, ack.error(), {}, 0);
    return;
  }
  if (op.applied) return;  // an erase whose purge is running
  op.ack_seq = ack->sequence;
  acked.emplace(op.ack_seq, in.token);
  // Already passed: its event never reached this node, compaction replaced it first.
  if (cfg.store->applied_sequence() >= op.ack_seq) resolve_skipped_writes();
}

void stream_state::resolve_skipped_writes() {
  uint64_t applied = cfg.store->applied_sequence();
  while (!acked.empty() && acked.begin()->first <= applied) {
    uint64_t token = acked.begin()->second;
    acked.erase(acked.begin());
    auto it = writes.find(token);
    if (it == writes.end() || it->second.applied) continue;
    // Its result is the key's current state, which includes the write that replaced it.
    std::string record;
    if (it->second.what == write_op::kind::put) {
      auto current_record = cfg.store->get(it->second.key);
      if (current_record.ok() && *current_record) record = std::move(**current_record);
    }
    on_write_applied(token, record);
  }
}

void stream_state::on_write_applied(uint64_t token, const std::string& record) {
  auto it = writes.find(token);
  if (it == writes.end()) return;  // timed out meanwhile
  auto& op = it->second;
  if (op.ack_seq != 0) acked.erase(op.ack_seq);
  if (op.what == write_op::kind::put) {
    complete_write(token, status::ok(), record, 0);
    return;
  }
  // The DELETE is applied here; now remove the key's PUT messages from the stream.
  op.applied = true;
  call_api(api_call::kind::purge, js::stream_purge_subject(cfg.name),
           js::purge_request(protocol::put_subject(cfg.name, op.key), std::nullopt), token);
}

void stream_state::on_purged(uint64_t token, const result<uint64_t>& purged) {
  if (!purged.ok()) {
    complete_write(token, purged.error(), {}, 0);
    return;
  }
  complete_write(token, status::ok(), {}, *purged);
}

void stream_state::complete_write(uint64_t token, const status& st, const std::string& record,
                                  uint64_t purged) {
  auto node = writes.extract(token);
  if (node.empty()) return;
  write_op& op = node.mapped();
  if (op.ack_seq != 0) {
    auto it = acked.find(op.ack_seq);
    if (it != acked.end() && it->second == token) acked.erase(it);
  }
  bool is_put = op.what == write_op::kind::put;
  if (!st.is_ok()) {
    op.promise.deliver(to_error(st));
  } else if (is_put) {
    op.promise.deliver(entry{record});
    publish_stats(protocol::stats_operation::put, op.key, std::nullopt, op.started_ms);
    // A stream created by the JS library keeps every message: compact as the JS library does.
    if (!per_subject_limit)
      cfg.nats->publish(js::stream_purge_subject(cfg.name),
                        js::purge_request(protocol::put_subject(cfg.name, op.key), 1));
  } else {
    op.promise.deliver(purged);
    publish_stats(protocol::stats_operation::erase, op.key, std::nullopt, op.started_ms);
  }
  // Let the key's next write go.
  if (auto busy = busy_keys.find(op.key); busy != busy_keys.end()) {
    auto& queue_of_key = busy->second;
    if (queue_of_key.active == token) {
      if (queue_of_key.waiting.empty()) {
        busy_keys.erase(busy);
      } else {
        queue_of_key.active = queue_of_key.waiting.front();
        queue_of_key.waiting.pop_front();
        publish_write(queue_of_key.active);
      }
    } else {
      auto& waiting = queue_of_key.waiting;  // a queued write that never ran (it timed out)
      waiting.erase(std::remove(waiting.begin(), waiting.end(), token), waiting.end());
    }
  }
  if (current == phase::closing && !dropping && writes.empty()) finish_close();
}

void stream_state::expire_writes(time_point now) {
  std::vector<uint64_t> expired;
  for (auto& [token, op] : writes)
    if (now >= op.deadline) expired.push_back(token);
  for (auto token : expired) {
    auto it = writes.find(token);
    if (it == writes.end()) continue;
    complete_write(
        token,
        status(errc::timeout,
               std::string(it->second.published ? "no confirmation from JetStream"
                                                : "the write waited for earlier writes") +
                   " within " + std::to_string(cfg.options.operation_timeout.count()) +
                   " ms; it may still be applied later"),
        {}, 0);
  }
}

void stream_state::fail_all_writes(const status& why) {
  busy_keys.clear();
  acked.clear();
  auto pending = std::move(writes);
  writes.clear();
  for (auto& [token, op] : pending) op.promise.deliver(to_error(why));
}

}  // namespace eventbase::actors
