// key_history (see key_history.hpp).
#include "actors/key_history.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "protocol/jetstream.hpp"
#include "protocol/js_json.hpp"
#include "protocol/record.hpp"

namespace eventbase::actors {

namespace js = protocol::jetstream;

// One read in progress: both subjects walked side by side, finished when both are.
struct key_history::walk {
  std::string key;
  int64_t limit = 0;
  std::string subjects[2];  // PUT, DELETE
  uint64_t counts[2] = {0, 0};
  int running = 2;
  bool finished = false;
  std::vector<event> events;
  done_fn done;

  void fail(status why) {
    if (finished) return;
    finished = true;
    done(std::move(why));
  }
};

void key_history::read(const std::string& key, int64_t per_subject_limit, done_fn done) {
  auto w = std::make_shared<walk>();
  w->key = key;
  w->limit = per_subject_limit;
  w->subjects[0] = protocol::put_subject(stream_, key);
  w->subjects[1] = protocol::delete_subject(stream_, key);
  w->done = std::move(done);
  next(w, 0, 1);
  next(w, 1, 1);
}

void key_history::next(std::shared_ptr<walk> w, int side, uint64_t from) {
  if (w->finished) return;
  api_.call(js::stream_msg_get_subject(stream_), js::msg_get_next_request(from, w->subjects[side]),
            [this, w, side](result<std::string> reply) {
              if (w->finished) return;
              auto stored = reply.ok() ? js::parse_stored_message(*reply)
                                       : result<js::stored_message>(reply.error());
              if (!stored.ok() && stored.error().code() != errc::not_found)
                return w->fail(status(stored.error().code(), "reading the history of '" + w->key +
                                                                 "' on '" + stream_ +
                                                                 "': " + stored.error().message()));
              if (stored.ok() && stored->subject == w->subjects[side]) {
                if (++w->counts[side] > kMaxEventsPerSubject)
                  return w->fail(status(errc::too_large, "key '" + w->key + "' has more than " +
                                                             std::to_string(kMaxEventsPerSubject) +
                                                             " " + (side == 0 ? "PUT" : "DELETE") +
                                                             " events kept on '" + stream_ + "'"));
                auto decoded =
                    protocol::decode_event(stored->data, js::parse_header_block(stored->headers));
                if (decoded.ok() && decoded->key == w->key) {
                  event ev;
                  ev.revision = stored->sequence;
                  ev.time_ms = stored->time_ms;
                  ev.payload = protocol::payload_for_subscribers(*decoded, stored->data);
                  ev.decoded = std::move(*decoded);
                  w->events.push_back(std::move(ev));
                }
                return next(w, side, stored->sequence + 1);
              }
              // not_found: no message on the subject from there on.
              if (--w->running > 0) return;
              w->finished = true;
              std::sort(w->events.begin(), w->events.end(),
                        [](const event& a, const event& b) { return a.revision < b.revision; });
              kept out;
              bool deletes_whole = w->limit <= 0 || w->counts[1] < static_cast<uint64_t>(w->limit);
              out.whole = deletes_whole && !w->events.empty() &&
                          w->events.front().decoded.type == protocol::event_type::put &&
                          w->events.front().decoded.meta.changes == 1;
              out.events = std::move(w->events);
              w->done(std::move(out));
            });
}

result<std::string> key_history::at_revision(const kept& history, const std::string& key,
                                             uint64_t revision) {
  const event* found = nullptr;
  for (const auto& ev : history.events) {
    if (ev.revision > revision) break;
    found = &ev;
  }
  if (found == nullptr) {
    if (history.events.empty() || history.whole) return std::string();
    return status(errc::compacted, "the history of key '" + key + "' holds revision " +
                                       std::to_string(history.events.front().revision) +
                                       " and later, not revision " + std::to_string(revision));
  }
  if (found->decoded.type != protocol::event_type::put) return std::string();
  protocol::meta m = protocol::meta_after_put(nullptr, found->decoded.meta, found->time_ms);
  return protocol::encode_record(m, found->revision, found->decoded.data_msgpack);
}

result<std::string> key_history::event_of(const storage::key_change& change) {
  if (change.record.empty()) return protocol::encode_delete_payload(change.key, change.deleted_ms);
  auto view = protocol::decode_record(change.record);
  if (!view.ok()) return view.error();
  auto data = protocol::decode_document(view->data_msgpack);
  if (!data.ok()) return data.error();
  std::string text;
  if (auto st = protocol::stringify(*data, text); !st.ok()) return st;
  return protocol::encode_put_payload(change.key, text, view->m.date_modified_ms);
}

}  // namespace eventbase::actors
