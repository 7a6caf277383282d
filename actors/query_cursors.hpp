// The query cursors of one stream (internal to actors/): queries whose results are handed over
// page by page (stream_actor's cursor_atom), so that neither side holds a large result at once.
//
// A cursor owns its query_scan (and so a snapshot of the replica). Without "sort" it holds only
// the results found and not yet handed over: a page, plus at most what one slice of the scan
// found beyond it. With "sort" it runs the query to its end first and then holds the sorted
// results (query_run's bound: 2 x (offset + limit) while sorting with a limit, every match
// without one) until they are handed over. The set is bounded: at most `max_cursors` at once,
// and a cursor not used for `idle_timeout` is closed, so that a peer that opens cursors and
// walks away costs a bounded amount of memory and no snapshot is pinned for long.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "actors/replica_reader.hpp"
#include "actors/stats_publisher.hpp"
#include "eventbase/actors.hpp"
#include "eventbase/status.hpp"

namespace eventbase::actors {

class query_cursor_set {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  struct limits {
    size_t max_cursors = 64;
    std::chrono::milliseconds idle_timeout{60000};
    uint64_t default_page = 1000;       // when the opener asks for page size 0
    uint64_t max_page = 10000;          // larger requests get this many
    uint64_t max_page_bytes = 4 << 20;  // a page ends once its records reach this (one at least)
  };

  /// One cursor; the stream actor runs its scan in slices (step) and then takes a page.
  struct cursor {
    std::shared_ptr<query_scan> query;
    std::string filter;  // as given, for the QUERY stat
    op_start started;
    uint64_t page_size = 0;
    bool scanned = false;  // the scan is complete: what is left is in the run (or `sorted`)
    std::optional<protocol::query_results> sorted;  // with "sort": the answer, once scanned
    size_t position = 0;                            // in `sorted`: the next to hand over
    uint64_t returned = 0;                          // documents handed over so far
    bool busy = false;                              // a page is being read
    time_point last_used;
  };

  explicit query_cursor_set(limits bounds) : limits_(bounds) {}

  /// A new cursor over `query` (from replica_reader::start_query); its id, or unavailable when
  /// the stream holds max_cursors already.
  result<uint64_t> open(std::unique_ptr<query_scan> query, std::string filter, uint64_t page_size,
                        const op_start& started, time_point now);

  /// The cursor `id`, or not_found (never opened, exhausted, closed or expired).
  result<std::shared_ptr<cursor>> find(uint64_t id, const std::string& stream) const;

  /// Reads `c` on until a page is ready or `until` passes: true when the page is ready;
  /// too_large once a sorted run holds more than `max_held_bytes` of results (a sort holds
  /// every match until the end; an unsorted run hands them over page by page).
  static result<bool> step(cursor& c, std::chrono::steady_clock::time_point until,
                           uint64_t max_held_bytes);

  /// Takes the page that step made ready; the page's cursor is `id`, or 0 when it was the last
  /// (the cursor is then closed here and `last` is set).
  result<query_page> take_page(uint64_t id, cursor& c, time_point now, bool& last);

  /// Closes the cursor `id`; false when there is none.
  bool close(uint64_t id) { return cursors_.erase(id) != 0; }

  /// Closes the cursors idle for idle_timeout (not those reading a page); returns how many.
  size_t expire(time_point now);

  void clear() { cursors_.clear(); }
  size_t size() const { return cursors_.size(); }

 private:
  limits limits_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<cursor>> cursors_;
};

}  // namespace eventbase::actors
