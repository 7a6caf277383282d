// query_cursor_set (see query_cursors.hpp).
#include "actors/query_cursors.hpp"

#include <algorithm>

#include "storage/stream_store.hpp"

namespace eventbase::actors {

result<uint64_t> query_cursor_set::open(std::unique_ptr<query_scan> query, std::string filter,
                                        uint64_t page_size, const op_start& started,
                                        time_point now) {
  if (cursors_.size() >= limits_.max_cursors)
    return status(errc::unavailable, "too many open query cursors on this stream (at most " +
                                         std::to_string(limits_.max_cursors) +
                                         "); close some or let them expire");
  auto c = std::make_shared<cursor>();
  c->query = std::move(query);
  c->filter = std::move(filter);
  c->started = started;
  c->page_size = page_size == 0 ? limits_.default_page : std::min(page_size, limits_.max_page);
  c->last_used = now;
  uint64_t id = next_id_++;
  cursors_.emplace(id, std::move(c));
  return id;
}

result<std::shared_ptr<query_cursor_set::cursor>> query_cursor_set::find(
    uint64_t id, const std::string& stream) const {
  auto it = cursors_.find(id);
  if (it == cursors_.end())
    return status(errc::not_found, "no query cursor " + std::to_string(id) + " on stream '" +
                                       stream + "' (it ended, was closed, or expired after " +
                                       std::to_string(limits_.idle_timeout.count()) +
                                       " ms unused)");
  return it->second;
}

result<bool> query_cursor_set::step(cursor& c, std::chrono::steady_clock::time_point until,
                                    uint64_t max_held_bytes) {
  auto& run = c.query->run;
  if (run.incremental()) {
    if (c.scanned || run.ready() >= c.page_size) return true;
    // Unbounded here: the run holds at most a page and what one slice found beside it.
    auto done = replica_reader::continue_query(*c.query, until);
    if (!done.ok()) return done;
    c.scanned = *done;
    return c.scanned || run.ready() >= c.page_size;
  }
  if (c.sorted) return true;
  auto done = replica_reader::continue_query(*c.query, until, max_held_bytes);
  if (!done.ok() || !*done) return done;
  c.scanned = true;
  auto results = run.finish();
  if (!results.ok()) return results.error();
  c.sorted = std::move(*results);
  return true;
}

result<query_page> query_cursor_set::take_page(uint64_t id, cursor& c, time_point now, bool& last) {
  query_page page;
  if (c.sorted) {
    auto& all = *c.sorted;
    uint64_t bytes = 0;
    for (; c.position < all.keys.size() && page.keys.size() < c.page_size &&
           (page.keys.empty() || bytes < limits_.max_page_bytes);
         ++c.position) {
      bytes += all.keys[c.position].size() + all.records[c.position].size();
      page.keys.push_back(std::move(all.keys[c.position]));
      page.records.push_back(std::move(all.records[c.position]));
    }
    last = c.position == all.keys.size();
  } else {
    auto taken = c.query->run.take(c.page_size, limits_.max_page_bytes);
    if (!taken.ok()) return taken.error();
    page.keys = std::move(taken->keys);
    page.records = std::move(taken->records);
    last = c.scanned && c.query->run.ready() == 0;
  }
  c.returned += page.keys.size();
  c.last_used = now;
  if (last)
    cursors_.erase(id);
  else
    page.cursor = id;
  return page;
}

size_t query_cursor_set::expire(time_point now) {
  size_t closed = 0;
  for (auto it = cursors_.begin(); it != cursors_.end();) {
    if (!it->second->busy && now - it->second->last_used >= limits_.idle_timeout) {
      it = cursors_.erase(it);
      ++closed;
    } else {
      ++it;
    }
  }
  return closed;
}

}  // namespace eventbase::actors
