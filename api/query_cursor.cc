// Queries a page at a time and live queries in the C++ API: eventbase::query_cursor over the
// stream actor's cursor_atom, stream::open_cursor, stream::query_each, and
// stream::subscribe(filter).
#include <caf/send.hpp>

#include "api/stream_impl.hpp"

namespace eventbase {

using api::request_sync;

struct query_cursor::impl {
  std::shared_ptr<api::runtime> rt;
  stream_actor stream;
  caf::timespan timeout;
  std::mutex mutex;
  uint64_t id = 0;                  // the stream's cursor; 0 once it has no more pages
  std::optional<query_page> first;  // read by open_cursor, handed over by the first next()
  bool failed = false;

  ~impl() {
    // Closed without waiting: the stream closes it anyway after its idle limit.
    if (id != 0) caf::anon_send(stream, cursor_atom::value, close_atom::value, id);
  }
};

result<std::vector<keyed_document>> query_cursor::next() {
  if (!impl_) return std::vector<keyed_document>();
  std::lock_guard<std::mutex> guard(impl_->mutex);
  query_page page;
  if (impl_->first) {
    page = std::move(*impl_->first);
    impl_->first.reset();
  } else {
    if (impl_->id == 0) return std::vector<keyed_document>();
    auto reply = request_sync<query_page>(*impl_->rt, impl_->stream, impl_->timeout,
                                          cursor_atom::value, impl_->id);
    if (!reply.ok()) {
      impl_->id = 0;  // the stream closed it on error, or it is gone
      return reply.error();
    }
    page = std::move(*reply);
  }
  impl_->id = page.cursor;
  return decode_query_reply(query_reply{std::move(page.keys), std::move(page.records)});
}

bool query_cursor::done() const {
  if (!impl_) return true;
  std::lock_guard<std::mutex> guard(impl_->mutex);
  return impl_->id == 0 && !impl_->first;
}

void query_cursor::close() {
  if (!impl_) return;
  std::lock_guard<std::mutex> guard(impl_->mutex);
  impl_->first.reset();
  if (impl_->id != 0)
    caf::anon_send(impl_->stream, cursor_atom::value, close_atom::value, impl_->id);
  impl_->id = 0;
}

result<query_cursor> stream::open_cursor(const nlohmann::ordered_json& filter,
                                         const nlohmann::ordered_json& options, uint64_t page_size,
                                         read_consistency consistency) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  if (auto st = impl_->check_open(); !st.ok()) return st;
  auto texts = api::to_query_texts(filter, options);
  if (!texts.ok()) return texts.error();
  auto& p = *impl_;
  auto page =
      consistency == read_consistency::consistent
          ? request_sync<query_page>(*p.rt, p.actor, p.request_timeout, cursor_atom::value,
                                     open_atom::value, texts->filter, texts->options, page_size,
                                     consistent_atom::value)
          : request_sync<query_page>(*p.rt, p.actor, p.request_timeout, cursor_atom::value,
                                     open_atom::value, texts->filter, texts->options, page_size);
  if (!page.ok()) return page.error();
  auto c = std::make_shared<query_cursor::impl>();
  c->rt = p.rt;
  c->stream = p.actor;
  c->timeout = p.request_timeout;
  c->id = page->cursor;
  c->first = std::move(*page);
  return query_cursor(std::move(c));
}

status stream::query_each(const nlohmann::ordered_json& filter,
                          const nlohmann::ordered_json& options,
                          const std::function<bool(const keyed_document&)>& callback,
                          read_consistency consistency) {
  auto cursor = open_cursor(filter, options, 0, consistency);
  if (!cursor.ok()) return cursor.error();
  while (!cursor->done()) {
    auto page = cursor->next();
    if (!page.ok()) return page.error();
    for (const auto& doc : *page) {
      if (!callback(doc)) {
        cursor->close();
        return status::OK();
      }
    }
  }
  return status::OK();
}

result<subscription> stream::subscribe(const nlohmann::ordered_json& filter,
                                       change_callback callback) {
  if (!impl_) return status(errc::closed, "stream handle is empty");
  auto text = api::to_json_text(filter);
  if (!text.ok()) return text.error();
  auto sub = api::start_subscription(*impl_, std::move(callback), [&](subscriber_actor& to) {
    return request_sync<uint64_t>(*impl_->rt, impl_->actor, impl_->request_timeout,
                                  subscribe_atom::value, query_atom::value, *text, to);
  });
  if (!sub.ok()) return sub.error();
  return subscription(std::move(*sub));
}

}  // namespace eventbase
