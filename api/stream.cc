// eventbase::stream: opening, reads, writes, closing (see stream_impl.hpp).
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/stream_actor.hpp"
#include "api/stream_impl.hpp"
#include "eventbase/log.hpp"
#include "protocol/batch.hpp"
#include "protocol/js_json.hpp"
#include "protocol/names.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase {

using api::request_sync;

using api::to_json_text;

namespace {

result<document> to_document(const entry& e) {
  auto doc = decode_record(e.record);
  if (!doc.ok()) return doc.error();
  if (!*doc) return status(errc::internal, "write returned no record");
  return std::move(**doc);
}

}  // namespace

namespace api {

namespace {

// Sends writes[begin, end), all puts, as one batch.
void send_put_batch(requester_context& ctx, const stream_actor& target, caf::timespan timeout,
                    std::vector<queued_write>& writes, size_t begin, size_t end) {
  std::vector<std::string> keys;
  std::vector<std::string> documents;
  std::vector<write_condition> conditions;
  std::vector<std::function<void(result<document>)>> dones;
  keys.reserve(end - begin);
  documents.reserve(end - begin);
  dones.reserve(end - begin);
  bool conditional = std::any_of(writes.begin() + static_cast<std::ptrdiff_t>(begin),
                                 writes.begin() + static_cast<std::ptrdiff_t>(end),
                                 [](const queued_write& w) { return w.condition.conditional(); });
  for (size_t i = begin; i < end; ++i) {
    keys.push_back(std::move(writes[i].key));
    documents.push_back(std::move(writes[i].text));
    if (conditional) conditions.push_back(writes[i].condition);
    dones.push_back(std::move(writes[i].put_done));
  }
  // The texts are to_json_text's: the stream actor takes them as they are (stringified_puts).
  issue_request<put_batch_reply>(
      ctx, actors::internal(target), timeout,
      [dones = std::move(dones)](result<put_batch_reply> reply) {
        for (size_t i = 0; i < dones.size(); ++i) {
          if (!reply.ok())
            dones[i](reply.error());
          else if (i >= reply->records.size() || i >= reply->errors.size())
            dones[i](status(errc::internal, "a batch reply without put " + std::to_string(i)));
          else if (reply->errors[i])
            dones[i](to_status(reply->errors[i]));
          else
            dones[i](to_document(entry{std::move(reply->records[i])}));
        }
      },
      actors::stringified_puts{std::move(keys), std::move(documents), std::move(conditions)});
}

}  // namespace

void queue_write(const std::shared_ptr<write_queue>& queue, const caf::actor& requester,
                 const stream_actor& target, caf::timespan timeout, queued_write write) {
  if (!queue->push(std::move(write))) return;  // the requester is woken already
  caf::anon_send(requester, request_task{[queue, target, timeout](requester_context& ctx) {
                   // Batches of at most a thousand keep each message (and its reply) moderate.
                   constexpr size_t max_batch = 1000;
                   auto writes = queue->take();
                   size_t run = 0;  // first put not sent yet
                   for (size_t i = 0; i <= writes.size(); ++i) {
                     bool is_put = i < writes.size() && writes[i].put_done;
                     if (is_put && i - run < max_batch) continue;
                     if (i > run) send_put_batch(ctx, target, timeout, writes, run, i);
                     run = i;
                     if (i == writes.size() || is_put) continue;
                     issue_request<uint64_t>(ctx, target, timeout, std::move(writes[i].erase_done),
                                             erase_atom::value, std::move(writes[i].key),
                                             writes[i].condition);
                     run = i + 1;
                   }
                 }});
}

}  // namespace api

// -- stream::impl ----------------------------------------------------------------------------

stream::impl::~impl() {
  // A managed stream lives on without handles (its subscriptions too): the manager closes it
  // when it is idle.
  if (managed) return;
  if (auto st = close(); !st.ok())
    EB_LOG_WARN("api", "closing '" << config.stream_name << "': " << st.to_string());
}

status stream::impl::close() {
  if (closed.exchange(true)) return status::OK();
  status result;
  if (actor) {
    auto done = request_sync<ok_atom>(*rt, actor, request_timeout, close_atom::value);
    if (!done.ok()) result = done.error();
  }
  release();
  return result;
}

status stream::impl::check_open() const {
  if (closed.load(std::memory_order_acquire))
    return status(errc::closed, "stream '" + config.stream_name + "' is closed");
  return status::OK();
}

void stream::impl::read_directly(std::shared_ptr<storage::stream_store> replica,
                                 std::shared_ptr<actors::read_activity> activity,
                                 const std::string& stats_stream) {
  store = std::move(replica);
  reads = std::move(activity);
  stats = std::make_unique<actors::stats_publisher>(nats, stats_stream);
  reader = std::make_unique<actors::replica_reader>(store, *stats);
}

void stream::impl::release() {
  std::vector<std::shared_ptr<subscription::impl>> subs;
  {
    std::lock_guard<std::mutex> guard(mutex);
    for (auto& weak : subscriptions)
      if (auto sub = weak.lock()) subs.push_back(std::move(sub));
    subscriptions.clear();
  }
  for (auto& sub : subs) sub->end_locally();
  if (managed) return;
  if (on_message) caf::anon_send_exit(on_message, caf::exit_reason::user_shutdown);
  if (requester) caf::anon_send_exit(requester, caf::exit_reason::user_shutdown);
  reader.reset();
  if (store) store->close();
  store.reset();
  if (!temp_dir.empty()) {
    db.reset();
    std::error_code ec;
    std::filesystem::remove_all(temp_dir, ec);
  }
}

// -- stream -----------------------------------------------------------------------------------

result<stream> stream::open(stream_config config) {
  if (auto st = protocol::validate_stream_name(config.stream_name); !st.ok()) return st;
  if (!config.stats_stream_name.empty()) {
    if (auto st = protocol::validate_stream_name(config.stats_stream_name); !st.ok())
      return status(errc::invalid_argument, "stats " + st.message());
  }
  if (config.timeout.count() <= 0)
    return status(errc::invalid_argument, "timeout must be positive");
  if (auto st = api::check_history(config.history); !st.ok()) return st;
  auto p = std::make_shared<impl>();
  if (auto st = api::open_local(*p, config.nats, config.data_path, config.timeout); !st.ok())
    return st;
  auto store = p->db->open_stream(config.stream_name);
  if (!store.ok()) return store.error();
  p->read_directly(*store, std::make_shared<actors::read_activity>(), config.stats_stream_name);

  auto& sys = p->rt->system();
  if (config.on_message)
    p->on_message = api::spawn_message_callback(
        sys, [callback = config.on_message](
                 const std::string&, const nlohmann::ordered_json& event) { callback(event); });
  actors::stream_config actor_config;
  actor_config.name = config.stream_name;
  actor_config.stats_stream = config.stats_stream_name;
  actor_config.nats = p->nats;
  actor_config.store = p->store;
  actor_config.reads = p->reads;
  actor_config.on_message = p->on_message;
  actor_config.options.operation_timeout = config.timeout;
  actor_config.options.open_timeout = config.timeout;
  actor_config.options.history = config.history;
  p->config = std::move(config);
  p->actor = actors::spawn_stream(sys, std::move(actor_config));
  p->requester = api::spawn_requester(sys);

  auto ready = request_sync<ok_atom>(*p->rt, p->actor, p->request_timeout, ready_atom::value);
  if (!ready.ok()) {
    p->closed = true;
    caf::anon_send_exit(p->actor, caf::exit_reason::kill);
    p->release();
    return ready.error();
  }
  return stream(std::move(p));
}

const std::string& stream::name() const {
  return impl_->config.stream_name;
}

bool stream::is_open() const {
  return impl_ && !impl_->closed.load();
}

result<document> stream::put(const std::string& key, const nlohmann::ordered_json& data,
                             write_condition condition) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto text = to_json_text(data);
  if (!text.ok()) return text.error();
  // As put_async: the stream actor takes to_json_text's text as it is (stringified_puts).
  std::vector<write_condition> conditions;
  if (condition.conditional()) conditions.push_back(condition);
  auto reply = request_sync<put_batch_reply>(
      *impl_->rt, actors::internal(impl_->actor), impl_->request_timeout,
      actors::stringified_puts{{key}, {std::move(*text)}, std::move(conditions)});
  if (!reply.ok()) return reply.error();
  if (reply->records.size() != 1 || reply->errors.size() != 1)
    return status(errc::internal, "a reply to one put without its outcome");
  if (reply->errors[0]) return to_status(reply->errors[0]);
  return to_document(entry{std::move(reply->records[0])});
}

result<document> stream::put(const std::string& key, const nlohmann::ordered_json& data,
                             std::chrono::seconds ttl, write_condition condition) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  if (ttl.count() <= 0) return status(errc::invalid_argument, "a TTL must be at least 1 second");
  auto text = to_json_text(data);
  if (!text.ok()) return text.error();
  auto reply = request_sync<entry>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                   put_atom::value, key, std::move(*text), condition,
                                   ttl_atom::value, static_cast<uint64_t>(ttl.count()));
  if (!reply.ok()) return reply.error();
  return to_document(std::move(*reply));
}

void stream::put_async(const std::string& key, const nlohmann::ordered_json& data,
                       std::function<void(result<document>)> done, write_condition condition) {
  if (!impl_) return done(status(errc::closed, "stream handle is empty"));
  if (auto st = impl_->check_open(); !st.ok()) return done(st);
  auto text = to_json_text(data);
  if (!text.ok()) return done(text.error());
  api::queue_write(impl_->writes, impl_->requester, impl_->actor, impl_->request_timeout,
                   {key, std::move(*text), std::move(done), nullptr, condition});
}

result<std::optional<document>> stream::get(const std::string& key, read_consistency consistency) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  if (consistency == read_consistency::consistent) {
    auto reply = request_sync<entry>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                     get_atom::value, key, consistent_atom::value);
    if (!reply.ok()) return reply.error();
    return decode_record(reply->record);
  }
  impl_->reads->note();
  auto record = impl_->reader->get(key);
  if (!record.ok()) return record.error();
  return decode_record(*record);
}

result<std::optional<document>> stream::get_at(const std::string& key, uint64_t revision) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto reply = request_sync<entry>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                   get_atom::value, key, revision_atom::value, revision);
  if (!reply.ok()) return reply.error();
  return decode_record(reply->record);
}

result<std::vector<history_event>> stream::history(const std::string& key, uint64_t limit) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto reply = request_sync<key_history_reply>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                               history_atom::value, key, limit);
  if (!reply.ok()) return reply.error();
  return decode_history(*reply);
}

result<batch_result> stream::batch(std::vector<batch_op> ops) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  // Checked here too, for an error that names the write rather than a line of the message.
  if (auto st = protocol::validate_batch(ops); !st.ok()) return st;
  return request_sync<batch_result>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                    batch_atom::value, protocol::batch_lines(ops));
}

result<uint64_t> stream::erase(const std::string& key, write_condition condition) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  return request_sync<uint64_t>(*impl_->rt, impl_->actor, impl_->request_timeout, erase_atom::value,
                                key, condition);
}

void stream::erase_async(const std::string& key, std::function<void(result<uint64_t>)> done,
                         write_condition condition) {
  if (!impl_) return done(status(errc::closed, "stream handle is empty"));
  if (auto st = impl_->check_open(); !st.ok()) return done(st);
  api::queue_write(impl_->writes, impl_->requester, impl_->actor, impl_->request_timeout,
                   {key, {}, nullptr, std::move(done), condition});
}

result<std::vector<std::string>> stream::keys(const std::string& pattern,
                                              read_consistency consistency) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  if (consistency == read_consistency::consistent)
    return request_sync<std::vector<std::string>>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                                  keys_atom::value, pattern,
                                                  consistent_atom::value);
  impl_->reads->note();
  return impl_->reader->keys(pattern);
}

result<keyed_document> stream::insert(const nlohmann::ordered_json& data) {
  std::string key = random_uuid();
  auto doc = put(key, data);
  if (!doc.ok()) return doc.error();
  return keyed_document{std::move(key), std::move(doc->data), std::move(doc->meta)};
}

result<std::vector<keyed_document>> stream::query(const nlohmann::ordered_json& filter,
                                                  const nlohmann::ordered_json& options,
                                                  read_consistency consistency) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto texts = api::to_query_texts(filter, options);
  if (!texts.ok()) return texts.error();
  if (consistency == read_consistency::consistent) {
    auto reply = request_sync<query_reply>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                           query_atom::value, texts->filter, texts->options,
                                           consistent_atom::value);
    if (!reply.ok()) return reply.error();
    return decode_query_reply(*reply);
  }
  impl_->reads->note();
  auto found = impl_->reader->query(texts->filter, texts->options);
  if (!found.ok()) return found.error();
  return decode_query_reply(query_reply{std::move(found->keys), std::move(found->records)});
}

result<uint64_t> stream::count(const nlohmann::ordered_json& filter, read_consistency consistency) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto filter_text = to_json_text(filter);
  if (!filter_text.ok()) return filter_text.error();
  if (consistency == read_consistency::consistent)
    return request_sync<uint64_t>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                  count_atom::value, *filter_text, consistent_atom::value);
  impl_->reads->note();
  return impl_->reader->count(*filter_text);
}

result<nlohmann::ordered_json> stream::explain(const nlohmann::ordered_json& filter,
                                               const nlohmann::ordered_json& options) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto texts = api::to_query_texts(filter, options);
  if (!texts.ok()) return texts.error();
  impl_->reads->note();
  auto text = impl_->reader->explain(texts->filter, texts->options);
  if (!text.ok()) return text.error();
  return nlohmann::ordered_json::parse(*text);
}

result<index_info> stream::create_index(const std::string& field, bool wait) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  return request_sync<index_info>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                  index_create_atom::value, field, wait);
}

status stream::drop_index(const std::string& field) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto done = request_sync<ok_atom>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                    index_drop_atom::value, field);
  return done.ok() ? status::OK() : done.error();
}

result<std::vector<index_info>> stream::list_indexes() {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  return request_sync<std::vector<index_info>>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                               index_list_atom::value);
}

result<subscription> stream::subscribe(const std::string& glob, change_callback callback,
                                       const subscribe_options& options) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  auto sub = api::start_subscription(*impl_, std::move(callback), [&](subscriber_actor& to) {
    if (options.from_revision)
      return request_sync<uint64_t>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                    subscribe_atom::value, glob, to, revision_atom::value,
                                    *options.from_revision);
    return request_sync<uint64_t>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                  subscribe_atom::value, glob, to);
  });
  if (!sub.ok()) return sub.error();
  return subscription(std::move(*sub));
}

status stream::close() {
  return impl_ ? impl_->close() : status::OK();
}

status stream::delete_stream() {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto done =
      request_sync<ok_atom>(*impl_->rt, impl_->actor, impl_->request_timeout, drop_atom::value);
  if (!done.ok()) return done.error();
  impl_->closed = true;
  impl_->release();
  return status::OK();
}

}  // namespace eventbase

namespace eventbase::api {

result<std::string> to_json_text(const nlohmann::ordered_json& data) {
  std::string text;
  if (auto st = protocol::stringify(data, text); !st.ok()) return st;
  return text;
}

result<query_texts> to_query_texts(const nlohmann::ordered_json& filter,
                                   const nlohmann::ordered_json& options) {
  auto filter_text = to_json_text(filter);
  if (!filter_text.ok()) return filter_text.error();
  auto options_text = to_json_text(options);
  if (!options_text.ok()) return options_text.error();
  return query_texts{std::move(*filter_text), std::move(*options_text)};
}

result<std::shared_ptr<subscription::impl>> start_subscription(
    stream::impl& stream, change_callback callback,
    const std::function<result<uint64_t>(subscriber_actor&)>& ask) {
  if (auto st = stream.check_open(); !st.ok()) return st;
  if (!callback) return status(errc::invalid_argument, "subscription callback is empty");
  auto sub = std::make_shared<subscription::impl>();
  sub->rt = stream.rt;
  sub->stream = stream.actor;
  sub->timeout = stream.request_timeout;
  std::weak_ptr<subscription::impl> weak = sub;
  sub->subscriber = api::spawn_change_callback(stream.rt->system(), std::move(callback),
                                               [weak](const status& why) {
                                                 if (auto ended = weak.lock()) {
                                                   std::lock_guard<std::mutex> guard(ended->mutex);
                                                   ended->ended_by = why;
                                                   ended->active = false;
                                                 }
                                               });
  auto id = ask(sub->subscriber);
  if (!id.ok()) {
    sub->end_locally();
    return id.error();
  }
  sub->id = *id;
  std::lock_guard<std::mutex> guard(stream.mutex);
  stream.subscriptions.push_back(sub);
  return sub;
}

}  // namespace eventbase::api
