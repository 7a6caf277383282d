// replica_reader (see replica_reader.hpp).
#include "actors/replica_reader.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/index_key.hpp"
#include "protocol/names.hpp"
#include "protocol/query_plan.hpp"
#include "storage/stream_store.hpp"

namespace eventbase::actors {

replica_reader::replica_reader(std::shared_ptr<storage::stream_store> store,
                               const stats_publisher& stats)
    : store_(std::move(store)), stats_(stats) {}

result<std::string> replica_reader::get(std::string_view key) const {
  auto started = op_start::now();
  if (auto invalid = protocol::validate_key(key); !invalid.ok()) return invalid;
  auto value = store_->get(key);
  if (!value.ok()) return value.error();
  stats_.publish(protocol::stats_operation::get, key, std::nullopt, started);
  return value->value_or(std::string());
}

result<std::unique_ptr<storage::key_scan>> replica_reader::scan(const std::string& pattern) {
  auto compiled = patterns_.compile(pattern);
  if (!compiled.ok()) return compiled.error();
  return store_->scan_keys(std::move(*compiled));
}

void replica_reader::keys_listed(const std::string& pattern, const op_start& started) const {
  stats_.publish(protocol::stats_operation::keys, std::nullopt, pattern, started);
}

result<std::vector<std::string>> replica_reader::keys(const std::string& pattern) {
  auto started = op_start::now();
  auto keys = scan(pattern);
  if (!keys.ok()) return keys.error();
  std::vector<std::string> out;
  auto done = (*keys)->next(out, std::chrono::steady_clock::time_point::max());
  if (!done.ok()) return done.error();
  keys_listed(pattern, started);
  return out;
}

namespace {

/// The JSON text `text` ("" for `empty`) for a query's filter or options.
result<nlohmann::ordered_json> parse_query_part(const std::string& text, const char* what,
                                                nlohmann::ordered_json empty) {
  if (text.empty()) return empty;
  auto parsed = protocol::parse_json(text, protocol::kMaxDocumentDepth);
  if (!parsed.ok())
    return status(errc::invalid_argument, std::string(what) + ": " + parsed.error().message());
  return parsed;
}

/// Runs `q` to its end in short slices, so that no more than a slice's documents are held at
/// once (a query with a limit stops reading at its limit).
status run_to_end(query_scan& q) {
  constexpr auto kSlice = std::chrono::milliseconds(5);
  while (true) {
    auto done = replica_reader::continue_query(q, std::chrono::steady_clock::now() + kSlice);
    if (!done.ok()) return done.error();
    if (*done) return status::OK();
  }
}

}  // namespace

// -- index plans -------------------------------------------------------------------------------

/// An index plan being run: the view it reads, and where it is. Candidates reach the run in key
/// order (a query without "sort" answers in key order whatever the plan), or in index order when
/// the index serves the sort (ties in key order, also descending).
struct index_execution {
  std::unique_ptr<storage::index_view> view;
  protocol::query_plan plan;
  storage::index_definition index;
  bool count_only = false;
  protocol::query_options options;  // limit, offset and sort, for stopping early
  uint64_t keys_examined = 0;

  enum class mode {
    count,    // covered count: entries only
    stream,   // entries arrive in the order the run wants (one equality value, or index order)
    collect,  // gather every candidate key, then sort them into key order
  } how = mode::stream;

  size_t range = 0;  // the range being read
  std::unique_ptr<storage::index_view::cursor> cursor;
  bool ranges_done = false;

  std::vector<std::string> collected;  // collect: every candidate key, then sorted
  size_t next_collected = 0;

  // stream in descending order: the entries of one value, to be fed in key order
  std::string group_value;
  std::vector<std::string> group;
  std::unique_ptr<storage::index_view::cursor> group_cursor;  // a large group, read forwards

  std::vector<std::string> chunk;         // keys to fetch next, in feeding order
  std::vector<std::string> chunk_values;  // their index values (index order only)
  std::vector<std::optional<std::string>> records;
  std::string last_matched_value;  // index order: the value of the last match
  bool stopped = false;

  uint64_t wanted() const {
    if (options.limit == 0) return std::numeric_limits<uint64_t>::max();
    uint64_t sum = options.offset + options.limit;
    return sum < options.offset ? std::numeric_limits<uint64_t>::max() : sum;
  }

  /// The cursor of the current range, opened on first use; nullptr when every range is read.
  storage::index_view::cursor* current_cursor() {
    if (cursor) return cursor.get();
    if (range >= plan.ranges.size()) return nullptr;
    bool reverse = plan.order < 0;
    const auto& r = plan.ranges[reverse ? plan.ranges.size() - 1 - range : range];
    cursor = view->entries(index.id, r.begin, r.end, reverse);
    return cursor.get();
  }

  /// Reads entries into `visit` until it says stop, every range is read (true) or `until`.
  result<bool> read_entries(const std::function<bool(std::string_view, std::string_view)>& visit,
                            std::chrono::steady_clock::time_point until) {
    while (auto* c = current_cursor()) {
      bool stop = false;
      auto done = c->next(
          [&](std::string_view value, std::string_view key) {
            ++keys_examined;
            if (!visit(value, key)) stop = true;
            return !stop;
          },
          until);
      if (!done.ok()) return done.error();
      if (*done) {
        cursor.reset();
        ++range;
      }
      if (stop || !*done) return false;
    }
    return true;
  }

  /// How many documents to fetch at once: what the answer still needs, within bounds.
  size_t chunk_size(const protocol::query_run& run) const {
    constexpr size_t kMin = 16, kMax = 256;
    uint64_t want = wanted();
    if (want == std::numeric_limits<uint64_t>::max() || count_only) return kMax;
    uint64_t left = want > run.matched() ? want - run.matched() : 1;
    return static_cast<size_t>(std::clamp<uint64_t>(left + left / 2, kMin, kMax));
  }

  /// Fills `chunk` with the next candidates (false: not within `until`); an empty chunk after a
  /// true means there are no more.
  result<bool> next_chunk(const protocol::query_run& run,
                          std::chrono::steady_clock::time_point until) {
    chunk.clear();
    chunk_values.clear();
    size_t size = chunk_size(run);
    if (how == mode::collect) {
      while (next_collected < collected.size() && chunk.size() < size)
        chunk.push_back(std::move(collected[next_collected++]));
      return true;
    }
    if (plan.order < 0) return next_descending(size, until);
    if (ranges_done) return true;
    bool ordered = plan.order != 0;
    auto done = read_entries(
        [&](std::string_view value, std::string_view key) {
          chunk.emplace_back(key);
          if (ordered) chunk_values.emplace_back(value);
          return chunk.size() < size;
        },
        until);
    if (!done.ok()) return done.error();
    if (*done) {
      ranges_done = true;
      return true;
    }
    return !chunk.empty();  // a full chunk, or out of time with nothing to feed yet
  }

  /// next_chunk in descending index order, ties in ascending key order. The entries of one
  /// value come backwards (descending keys): up to kGroupBuffer of them are kept and fed in
  /// reverse once the value changes; a larger group is read again forwards by a cursor of its
  /// own (so a few values shared by many documents cost neither memory nor a full read before
  /// the first result), and the backward cursor resumes below it.
  result<bool> next_descending(size_t size, std::chrono::steady_clock::time_point until) {
    constexpr size_t kGroupBuffer = 64;
    auto flush_group = [&] {
      for (auto it = group.rbegin(); it != group.rend(); ++it) {
        chunk.push_back(std::move(*it));
        chunk_values.push_back(group_value);
      }
      group.clear();
    };
    while (chunk.size() < size) {
      if (group_cursor) {
        auto done = group_cursor->next(
            [&](std::string_view value, std::string_view key) {
              ++keys_examined;
              chunk.emplace_back(key);
              chunk_values.emplace_back(value);
              return chunk.size() < size;
            },
            until);
        if (!done.ok()) return done.error();
        if (*done) {
          group_cursor.reset();
          continue;
        }
        return !chunk.empty();  // a full chunk, or out of time
      }
      if (ranges_done) {
        flush_group();
        return true;
      }
      bool big = false;
      size_t big_range = 0;  // the range the large group is in
      auto done = read_entries(
          [&](std::string_view value, std::string_view key) {
            if (group.empty() || value != group_value) {
              flush_group();
              group_value.assign(value);
            }
            group.emplace_back(key);
            if (group.size() >= kGroupBuffer) {
              big = true;
              big_range = range;
              return false;
            }
            return chunk.size() < size;
          },
          until);
      if (!done.ok()) return done.error();
      if (big) {
        group.clear();  // the forward cursor reads them again, in key order
        group_cursor =
            view->entries(index.id, group_value, protocol::prefix_successor(group_value), false);
        // A range never splits the entries of one value: the backward cursor continues below it
        // (unless the range ended with this group).
        if (range == big_range) {
          const auto& r = plan.ranges[plan.ranges.size() - 1 - range];
          cursor = view->entries(index.id, r.begin, group_value, true);
        }
        continue;
      }
      if (*done) {
        ranges_done = true;
        flush_group();
        return true;
      }
      return !chunk.empty();  // a full chunk, or out of time with nothing to feed yet
    }
    return true;
  }

  /// Fetches the chunk's documents and feeds them to `run`; sets `stopped` once later
  /// candidates cannot change the answer.
  status feed(protocol::query_run& run) {
    if (auto st = view->get(chunk, records, /*in_key_order=*/plan.order == 0); !st.ok()) return st;
    bool sorted = !options.sort.empty();
    bool several_sort_keys = options.sort.size() > 1;
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (!records[i]) continue;  // not in the snapshot: cannot happen with a consistent index
      if (plan.order != 0 && sorted && run.matched() >= wanted() &&
          (!several_sort_keys || chunk_values[i] != last_matched_value)) {
        stopped = true;  // index order: what follows sorts after what the answer holds
        return status::OK();
      }
      uint64_t before = run.matched();
      auto more = run.add(chunk[i], *records[i]);
      if (!more.ok()) return more.error();
      if (plan.order != 0 && run.matched() > before) last_matched_value = chunk_values[i];
      if (!*more) {
        stopped = true;
        return status::OK();
      }
    }
    return status::OK();
  }

  result<bool> step(protocol::query_run& run, std::chrono::steady_clock::time_point until) {
    if (how == mode::count) {
      while (auto* c = current_cursor()) {
        uint64_t n = 0;
        auto done = c->count(n, until);
        keys_examined += n;
        run.add_matches(n);
        if (!done.ok()) return done.error();
        if (!*done) return false;
        cursor.reset();
        ++range;
      }
      return true;
    }
    if (how == mode::collect && !ranges_done) {
      auto done = read_entries(
          [this](std::string_view, std::string_view key) {
            collected.emplace_back(key);
            return true;
          },
          until);
      if (!done.ok() || !*done) return done;
      ranges_done = true;
      std::sort(collected.begin(), collected.end());
      collected.erase(std::unique(collected.begin(), collected.end()), collected.end());
    }
    while (!stopped) {
      auto filled = next_chunk(run, until);
      if (!filled.ok()) return filled.error();
      if (chunk.empty()) {
        if (*filled) return true;  // no more candidates
        return false;              // out of time
      }
      if (auto st = feed(run); !st.ok()) return st;
      if (std::chrono::steady_clock::now() >= until && !stopped) return false;
    }
    return true;
  }
};

query_scan::query_scan(protocol::query_run r) : run(std::move(r)) {}
query_scan::~query_scan() = default;

std::string query_scan::explain(uint64_t returned) const {
  nlohmann::ordered_json plan = nlohmann::ordered_json::object();
  if (indexed) {
    plan["index"] = indexed->index.field;
    plan["type"] = protocol::to_string(indexed->plan.kind);
    if (indexed->options.sort.empty() || indexed->count_only)
      plan["sort"] = nullptr;
    else
      plan["sort"] = indexed->plan.order != 0 ? "index" : "memory";
    plan["covered"] = indexed->plan.covered;
    plan["keys_examined"] = indexed->keys_examined;
  } else {
    plan["index"] = nullptr;
    plan["type"] = "scan";
    plan["sort"] = nullptr;
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["plan"] = std::move(plan);
  out["examined"] = run.examined();
  out["returned"] = returned;
  return out.dump();
}

result<std::unique_ptr<query_scan>> replica_reader::start_query(const std::string& filter_text,
                                                                const std::string& options_text,
                                                                bool count_only) {
  auto spec = parse_query_part(filter_text, "filter", nlohmann::ordered_json::object());
  if (!spec.ok()) return spec.error();
  auto compiled = protocol::filter::compile(*spec);
  if (!compiled.ok()) return compiled.error();
  protocol::query_options options;
  if (!count_only) {
    auto given = parse_query_part(options_text, "query options", nullptr);
    if (!given.ok()) return given.error();
    auto parsed = protocol::parse_query_options(*given);
    if (!parsed.ok()) return parsed.error();
    options = std::move(*parsed);
  }
  auto view = store_->read_indexes();
  if (!view.ok()) return view.error();
  std::vector<protocol::index_choice> ready;
  std::vector<const storage::index_definition*> ready_defs;
  for (const auto& def : (*view)->indexes()) {
    if (def.state != storage::index_state::ready) continue;
    ready.push_back(protocol::index_choice{def.field, def.path, def.multikey});
    ready_defs.push_back(&def);
  }
  auto plan = ready.empty() ? protocol::query_plan{} : protocol::plan_query(*spec, options, ready);
  auto q =
      std::make_unique<query_scan>(protocol::query_run(std::move(*compiled), options, count_only));
  if (plan.kind == protocol::plan_kind::scan) {
    auto scan = store_->scan_keys(protocol::key_pattern());
    if (!scan.ok()) return scan.error();
    q->scan = std::move(*scan);
    return q;
  }
  auto x = std::make_unique<index_execution>();
  x->index = *ready_defs[plan.index];
  x->view = std::move(*view);
  x->count_only = count_only;
  x->options = std::move(options);
  if (count_only) plan.order = 0;  // a count has no order
  if (count_only && plan.covered)
    x->how = index_execution::mode::count;
  else if (plan.order != 0 || (plan.kind == protocol::plan_kind::equality))
    x->how = index_execution::mode::stream;
  else
    x->how = index_execution::mode::collect;
  // Exact candidates need no second look (a count reads none of them).
  if (plan.covered) q->run.assume_matches();
  x->plan = std::move(plan);
  q->indexed = std::move(x);
  return q;
}

result<bool> replica_reader::continue_query(query_scan& q,
                                            std::chrono::steady_clock::time_point until,
                                            uint64_t max_held_bytes) {
  auto done = step_query(q, until);
  if (done.ok() && q.run.held_bytes() > max_held_bytes)
    return status(errc::too_large,
                  "the query's results pass " + std::to_string(max_held_bytes) +
                      " bytes, the most a query may hold on the server: narrow the filter, set "
                      "a limit or a projection, or page through it unsorted with a cursor");
  return done;
}

result<bool> replica_reader::step_query(query_scan& q,
                                        std::chrono::steady_clock::time_point until) {
  if (q.indexed) return q.indexed->step(q.run, until);
  q.keys.clear();
  q.records.clear();
  auto done = q.scan->next(q.keys, &q.records, until);
  if (!done.ok()) return done;
  for (size_t i = 0; i < q.keys.size(); ++i) {
    auto more = q.run.add(q.keys[i], q.records[i]);
    if (!more.ok()) return more.error();
    if (!*more) return true;  // later documents cannot change the answer
  }
  return *done;
}

void replica_reader::queried(const std::string& filter_text, bool count_only, uint64_t results,
                             const op_start& started) const {
  stats_.publish_query(
      count_only ? protocol::stats_operation::count : protocol::stats_operation::query, filter_text,
      results, started);
}

result<protocol::query_results> replica_reader::query(const std::string& filter_text,
                                                      const std::string& options_text) {
  auto started = op_start::now();
  auto q = start_query(filter_text, options_text, false);
  if (!q.ok()) return q.error();
  if (auto st = run_to_end(**q); !st.ok()) return st;
  auto results = (*q)->run.finish();
  if (results.ok()) queried(filter_text, false, results->keys.size(), started);
  return results;
}

result<uint64_t> replica_reader::count(const std::string& filter_text) {
  auto started = op_start::now();
  auto q = start_query(filter_text, "", true);
  if (!q.ok()) return q.error();
  if (auto st = run_to_end(**q); !st.ok()) return st;
  queried(filter_text, true, (*q)->run.matched(), started);
  return (*q)->run.matched();
}

result<std::string> replica_reader::explain(const std::string& filter_text,
                                            const std::string& options_text) {
  auto q = start_query(filter_text, options_text, false);
  if (!q.ok()) return q.error();
  if (auto st = run_to_end(**q); !st.ok()) return st;
  auto results = (*q)->run.finish();
  if (!results.ok()) return results.error();
  return (*q)->explain(results->keys.size());
}

}  // namespace eventbase::actors
