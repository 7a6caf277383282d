// Query execution without indexes, free of actors and I/O: the options of a query (sort, limit,
// offset, project), and a query_run that examines stored documents one at a time (in key order,
// as a replica scan yields them) and keeps only what the answer needs.
//
// Options, a JSON object with any of (the JavaScript library's 3.x `query` options):
// - "sort": an object of field path -> 1 (ascending) or -1 (descending), several fields in
//   their order; ties keep key order (the sort is stable). Values order as MongoDB's types do:
//   missing = null < numbers < strings < objects < arrays < booleans; numbers by value, strings
//   by code point, objects member by member (name, then value), arrays element by element. A
//   path descends into objects only.
// - "limit": a non-negative integer, at most that many results; 0 means no limit (MongoDB).
// - "offset": a non-negative integer, results skipped first (after sorting).
// - "project": an object of field path -> 1 or true; each result's data holds only those fields
//   (nested paths keep their enclosing objects), members in the document's order. A path
//   descends into objects only. Empty: the whole document.
// Anything else is invalid_argument naming the member.
//
// Memory: without "sort", a run keeps at most offset + limit results (or, handing them over with
// take(), only those not yet taken) and stops asking for documents once it has them; with "sort"
// and a limit it keeps at most 2 x (offset + limit) candidates; with "sort" and no limit it keeps
// every match.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "eventbase/status.hpp"
#include "protocol/filter.hpp"

namespace eventbase::protocol {

struct query_options {
  std::vector<std::pair<std::vector<std::string>, int>> sort;  // path -> 1 or -1
  uint64_t limit = 0;                                          // 0: none
  uint64_t offset = 0;
  std::vector<std::vector<std::string>> project;  // empty: the whole document
};

/// The options in `options` (an object, or null for none); invalid_argument naming the
/// offending member otherwise.
result<query_options> parse_query_options(const nlohmann::ordered_json& options);

/// The order of two values for "sort" (see above): -1, 0, 1. nullptr stands for a missing value.
int compare_for_sort(const nlohmann::ordered_json* a, const nlohmann::ordered_json* b);

/// The results of a query, in order: keys and their records (protocol/record.hpp), each record's
/// data projected.
struct query_results {
  std::vector<std::string> keys;
  std::vector<std::string> records;
};

/// One query over documents fed in key order.
class query_run {
 public:
  /// A run that answers with the results (or, with `count_only`, only counts the matches:
  /// sort, limit, offset and project are then ignored).
  query_run(filter f, query_options options, bool count_only = false);
  ~query_run();
  query_run(query_run&&) noexcept;
  query_run& operator=(query_run&&) noexcept;

  /// Examines the document stored under `key` as `record`. ok(false) once later documents can
  /// no longer change the answer (the limit is reached without a sort). Errors: corrupt
  /// record, or the filter's regex exceeded its limits.
  result<bool> add(std::string_view key, std::string_view record);

  /// Counts `n` matches found without examining documents (a count an index answers alone).
  void add_matches(uint64_t n);

  /// Every document added from now on matches the filter: the caller knows (an index expresses
  /// the filter exactly), so add() decodes a document only when a sort needs its values.
  void assume_matches();

  /// Documents examined and matched so far.
  uint64_t examined() const;
  uint64_t matched() const;

  /// Bytes of the keys and records the run holds now (matches kept for the answer, not yet
  /// handed over by finish() or take()): what a run without limit grows by.
  uint64_t held_bytes() const;

  /// The answer, after the last add: sorted, offset and limit applied, data projected.
  result<query_results> finish();

  /// Whether take() can hand over results as they are found: a run without sort that does not
  /// only count.
  bool incremental() const;

  /// Incremental answers, for runs without sort (a cursor's pages): results found so far and
  /// not yet taken that take() would hand over (offset applied: results before it never
  /// count).
  uint64_t ready() const;

  /// Hands over, and forgets, the next results found so far, in key order, data projected: at
  /// most `max` of them, and no more once `max_bytes` of records are reached (one at least).
  /// For runs without sort and not count_only; use it instead of finish(), never both.
  result<query_results> take(uint64_t max, uint64_t max_bytes);

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace eventbase::protocol
