// The query planner: which secondary index (if any) a query reads, and which ranges of it. Pure:
// it sees the filter, the options and the ready indexes, nothing stored.
//
// Rules. From the filter's top-level conjunction (the members of the filter object and of its
// `$and` branches, recursively), a field with a ready index gives a plan for:
//   equality `{f: v}` / `{f: {$eq: v}}`  (v null, a boolean, a number or a string)
//   `$in` (every value null, a boolean, a number or a string)
//   ranges `$gt $gte $lt $lte` (on a non-multikey index, those of the first one's type are
//   intersected into one range; on a multikey index one operator alone gives the range, since
//   different elements of an array may satisfy different operators)
//   `$sw` (the range of strings with that prefix)
// preferring equality > $in > range/$sw; without any, a query with "sort" AND "limit" whose first
// sort field has a ready non-multikey index reads that index in order ("sort"). Otherwise a scan.
// Whatever the plan, every candidate is checked against the whole filter, so an index need only
// give a superset of the matches. `$ne $nin $not $exists $regex $all $or $nor` and structured
// operands are not indexable. When the plan's field is also the first sort field and the index is
// not multikey, the index order serves the sort (with a limit, reading stops early).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "protocol/query.hpp"

namespace eventbase::protocol {

/// A ready index the planner may use.
struct index_choice {
  std::string field;  // dotted path
  std::vector<std::string> path;
  bool multikey = false;
};

/// A range of encoded index values (index_key.hpp), [begin, end).
struct index_range {
  std::string begin;
  std::string end;
};

enum class plan_kind { scan, equality, in, range, prefix, sort };

/// "scan", "equality", "in", "range", "prefix", "sort".
const char* to_string(plan_kind kind);

struct query_plan {
  plan_kind kind = plan_kind::scan;
  size_t index = 0;                 // into the indexes given to plan_query (not for scan)
  std::vector<index_range> ranges;  // ascending and disjoint
  /// Read the ranges in value order (1 ascending, -1 descending): the index serves the sort.
  /// 0: the candidates are fed in key order.
  int order = 0;
  /// The entries in `ranges` are exactly the matching documents, one entry each: a count needs
  /// no documents.
  bool covered = false;
};

/// The plan for `filter` (a filter that compiled) with `options` over `indexes`.
query_plan plan_query(const nlohmann::ordered_json& filter, const query_options& options,
                      const std::vector<index_choice>& indexes);

}  // namespace eventbase::protocol
