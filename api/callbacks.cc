// The actors that run user code: the requester (completions of *_async calls) and the
// detached callback actors of subscriptions and on_message; and the value helpers of
// eventbase.hpp (meta and documents as JSON, records, query replies, random UUIDs).
#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "api/stream_impl.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/log.hpp"
#include "protocol/document.hpp"
#include "protocol/js_json.hpp"
#include "protocol/record.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase::api {
namespace {

using requester_tick_atom = caf::atom_constant<caf::atom("eb_rqtick")>;

struct requester_state {
  call_deadlines deadlines;
  std::optional<call_deadlines::time_point> wake_at;  // the earliest tick on its way
  static const char* name;
};

const char* requester_state::name = "eventbase.requester";

caf::behavior requester(caf::stateful_actor<requester_state>* self) {
  // One delayed message at a time (for the earliest deadline), not one per call.
  auto wake_by = [self](call_deadlines::time_point at) {
    auto& s = self->state;
    if (at == call_deadlines::time_point::max()) return;  // no deadline
    if (s.wake_at && *s.wake_at <= at) return;
    s.wake_at = at;
    auto delay = std::max<caf::timespan>(at - std::chrono::steady_clock::now(),
                                         std::chrono::milliseconds(1));
    self->delayed_send(self, delay, requester_tick_atom::value);
  };
  return {
      [self, wake_by](request_task& task) {
        requester_context context{self, self->state.deadlines, wake_by};
        task.run(context);
      },
      [self, wake_by](requester_tick_atom) {
        auto& s = self->state;
        auto now = std::chrono::steady_clock::now();
        if (s.wake_at && now >= *s.wake_at) s.wake_at.reset();
        if (auto next = s.deadlines.expire_due(now)) wake_by(*next);
      },
  };
}

using ordered = nlohmann::ordered_json;

// An event's JSON text as a tree, its fields in their order on the stream (the JS library's
// "type", "id", "data", "timestamp"). Events hold a document one level down; a payload that does
// not parse (the stream actor only hands on events it could decode) is passed as a string.
ordered parse_event(const std::string& text) {
  auto event = protocol::parse_json(text, protocol::kMaxDocumentDepth + 1);
  return event.ok() ? std::move(*event) : ordered(text);
}

template <class Fn>
void run_user_code(const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    EB_LOG_ERROR("api", what << " threw: " << e.what());
  } catch (...) {
    EB_LOG_ERROR("api", what << " threw a non-standard exception");
  }
}

// The parts of a change a subscription callback gets.
struct decoded_change {
  ordered data;  // null for a DELETE
  std::optional<meta> m;
  ordered event;  // with "oldData"
};

decoded_change decode_change(const change& c) {
  decoded_change out;
  if (auto doc = decode_record(c.record); doc.ok() && *doc) {
    out.data = std::move((*doc)->data);
    out.m = std::move((*doc)->meta);
  }
  out.event = parse_event(c.event);
  if (out.event.is_object()) {
    ordered old_data;
    if (auto old = decode_record(c.old_record); old.ok() && *old)
      old_data = std::move((*old)->data);
    out.event["oldData"] = std::move(old_data);
  }
  return out;
}

subscriber_actor::behavior_type change_callback_actor(subscriber_actor::pointer self,
                                                      change_callback callback,
                                                      std::function<void(const status&)> ended) {
  return {
      [callback](change_atom, change& c) {
        auto d = decode_change(c);
        // The revision too, which a DELETE has no meta to carry: a watcher resumes after it.
        if (d.event.is_object()) {
          d.event["revision"] = c.sequence;
          if (c.expired) d.event["expired"] = true;
        }
        run_user_code("subscription callback", [&] { callback(c.key, d.data, d.m, d.event); });
        return ok_atom::value;
      },
      [self, ended](ended_atom, uint64_t, caf::error& why) {
        auto st = to_status(why);
        EB_LOG_WARN("api", "subscription ended by the stream: " << st.to_string());
        ended(st);
        self->quit();
      },
  };
}

subscriber_actor::behavior_type message_callback_actor(
    subscriber_actor::pointer,
    std::function<void(const std::string& stream, const ordered& event)> callback) {
  return {
      [callback](change_atom, change& c) {
        ordered event = parse_event(c.event);
        run_user_code("on_message callback", [&] { callback(c.stream, event); });
        return ok_atom::value;
      },
      [](ended_atom, uint64_t, caf::error&) {},  // on_message is not a subscription
  };
}

}  // namespace

uint64_t call_deadlines::add(time_point deadline, std::function<void()> expire) {
  uint64_t id = next_id_++;
  auto at = by_deadline_.emplace(deadline, id);
  pending_.emplace(id, pending{std::move(expire), at});
  return id;
}

bool call_deadlines::settle(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return false;
  by_deadline_.erase(it->second.at);
  pending_.erase(it);
  return true;
}

std::optional<call_deadlines::time_point> call_deadlines::expire_due(time_point now) {
  std::vector<std::function<void()>> due;  // run after the bookkeeping: they may add calls
  while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
    auto it = pending_.find(by_deadline_.begin()->second);
    due.push_back(std::move(it->second.expire));
    pending_.erase(it);
    by_deadline_.erase(by_deadline_.begin());
  }
  for (auto& expire : due) expire();
  if (by_deadline_.empty()) return std::nullopt;
  return by_deadline_.begin()->first;
}

caf::actor spawn_requester(caf::actor_system& sys) {
  return sys.spawn(requester);
}

subscriber_actor spawn_change_callback(caf::actor_system& sys, change_callback callback,
                                       std::function<void(const status&)> ended) {
  return sys.spawn<caf::detached>(change_callback_actor, std::move(callback), std::move(ended));
}

subscriber_actor spawn_message_callback(
    caf::actor_system& sys,
    std::function<void(const std::string& stream, const nlohmann::ordered_json& event)> callback) {
  return sys.spawn<caf::detached>(message_callback_actor, std::move(callback));
}

}  // namespace eventbase::api

namespace eventbase {

void subscription::unsubscribe() {
  if (!impl_ || !impl_->active.exchange(false)) return;
  auto done = api::request_sync<ok_atom>(*impl_->rt, impl_->stream, impl_->timeout,
                                         unsubscribe_atom::value, impl_->id);
  if (!done.ok() && done.error().code() != errc::closed)
    EB_LOG_DEBUG("api", "unsubscribe: " << done.error().to_string());
  // Exit messages overtake queued changes: no callback starts after this.
  caf::anon_send_exit(impl_->subscriber, caf::exit_reason::user_shutdown);
}

bool subscription::active() const {
  return impl_ && impl_->active.load();
}

status subscription::error() const {
  if (!impl_) return status::OK();
  std::lock_guard<std::mutex> guard(impl_->mutex);
  return impl_->ended_by;
}

void subscription::impl::end_locally() {
  active = false;
  if (subscriber) caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
}

nlohmann::ordered_json change_to_json(const change& c) {
  auto d = api::decode_change(c);
  nlohmann::ordered_json out;
  out["key"] = c.key;
  out["data"] = std::move(d.data);
  out["meta"] = d.m ? d.m->to_json() : nlohmann::ordered_json(nullptr);
  out["event"] = std::move(d.event);  // its fields in their order on the stream, then "oldData"
  out["revision"] = c.sequence;
  if (c.expired) out["expired"] = true;
  return out;
}

result<std::vector<history_event>> decode_history(const key_history_reply& reply) {
  if (reply.revisions.size() != reply.events.size())
    return status(errc::corrupt, "a key's history has " + std::to_string(reply.revisions.size()) +
                                     " revisions for " + std::to_string(reply.events.size()) +
                                     " events");
  std::vector<history_event> out;
  out.reserve(reply.events.size());
  for (size_t i = 0; i < reply.events.size(); ++i) {
    auto event = nlohmann::ordered_json::parse(reply.events[i], nullptr, false);
    if (event.is_discarded() || !event.is_object())
      return status(errc::corrupt, "an event of a key's history is not a JSON object");
    history_event h;
    h.revision = reply.revisions[i];
    if (auto type = event.find("type"); type != event.end() && type->is_string())
      h.type = type->get<std::string>();
    if (auto data = event.find("data"); data != event.end()) h.data = std::move(*data);
    if (auto ts = event.find("timestamp"); ts != event.end() && ts->is_number())
      h.timestamp = ts->get<int64_t>();
    out.push_back(std::move(h));
  }
  return out;
}

nlohmann::ordered_json history_event::to_json() const {
  nlohmann::ordered_json out;
  out["revision"] = revision;
  out["type"] = type;
  if (type != "DELETE") out["data"] = data;
  out["timestamp"] = timestamp;
  return out;
}

std::string stringify(const nlohmann::ordered_json& value) {
  std::string out;
  if (protocol::stringify(value, out, protocol::invalid_utf8::replace,
                          protocol::kMaxDocumentDepth + 2)
          .ok())
    return out;
  return "null";
}

nlohmann::ordered_json meta::to_json() const {
  nlohmann::ordered_json out;
  out["dateCreated"] = date_created;
  out["dateModified"] = date_modified;
  out["changes"] = changes;
  out["revision"] = revision;
  return out;
}

nlohmann::ordered_json document::to_json() const {
  nlohmann::ordered_json out;
  out["data"] = data;
  out["meta"] = meta.to_json();
  return out;
}

nlohmann::ordered_json keyed_document::to_json() const {
  nlohmann::ordered_json out;
  out["key"] = key;
  out["data"] = data;
  out["meta"] = meta.to_json();
  return out;
}

std::string random_uuid() {
  // 128 bits straight from std::random_device (libstdc++: RDRAND or getrandom): a generator seeded
  // with one 32-bit value would repeat its keys across 2^32 seeds, which many client processes
  // (one insert each) reach within a birthday bound of about 77,000 inserts.
  std::random_device entropy;
  auto word = [&entropy] {
    return (static_cast<uint64_t>(entropy()) << 32) | static_cast<uint64_t>(entropy());
  };
  uint64_t high = word(), low = word();
  high = (high & ~0xF000ull) | 0x4000ull;                // version 4
  low = (low & ~(0xC000ull << 48)) | (0x8000ull << 48);  // variant 10xx
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(high >> 32),
                static_cast<unsigned long long>((high >> 16) & 0xFFFF),
                static_cast<unsigned long long>(high & 0xFFFF),
                static_cast<unsigned long long>(low >> 48),
                static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFull));
  return buf;
}

result<std::vector<keyed_document>> decode_query_reply(const query_reply& reply) {
  if (reply.keys.size() != reply.records.size())
    return status(errc::corrupt, "query reply with " + std::to_string(reply.keys.size()) +
                                     " keys and " + std::to_string(reply.records.size()) +
                                     " records");
  std::vector<keyed_document> out;
  out.reserve(reply.keys.size());
  for (size_t i = 0; i < reply.keys.size(); ++i) {
    auto doc = decode_record(reply.records[i]);
    if (!doc.ok()) return doc.error();
    if (!*doc)
      return status(errc::corrupt, "query reply without a record for '" + reply.keys[i] + "'");
    out.push_back(keyed_document{reply.keys[i], std::move((*doc)->data), std::move((*doc)->meta)});
  }
  return out;
}

result<nlohmann::ordered_json> parse_document(std::string_view text) {
  static_assert(kMaxDocumentDepth == protocol::kMaxDocumentDepth);
  return protocol::parse_document(text);
}

result<std::optional<document>> decode_record(const std::string& record) {
  if (record.empty()) return std::optional<document>();
  auto view = protocol::decode_record(record);
  if (!view.ok()) return view.error();
  auto data = protocol::decode_document(view->data_msgpack);
  if (!data.ok()) return data.error();
  document doc;
  doc.data = std::move(*data);
  doc.meta.date_created = protocol::format_iso8601_ms(view->m.date_created_ms);
  doc.meta.date_modified = protocol::format_iso8601_ms(view->m.date_modified_ms);
  doc.meta.changes = view->m.changes;
  doc.meta.revision = view->sequence;
  return std::optional<document>(std::move(doc));
}

}  // namespace eventbase
