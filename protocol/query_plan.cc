// The query planner (see query_plan.hpp).
#include "protocol/query_plan.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "protocol/index_key.hpp"

namespace eventbase::protocol {

using json = nlohmann::ordered_json;

namespace {

/// One condition of the top-level conjunction: `field` `op` `operand`.
struct conjunct {
  const std::string* field;
  std::string op;
  const json* operand;
};

bool is_operator_object(const json& value) {
  if (!value.is_object() || value.empty()) return false;
  const auto& first = value.items().begin().key();
  return !first.empty() && first[0] == '$';
}

bool is_scalar(const json& v) {
  return v.is_null() || v.is_boolean() || v.is_number() || v.is_string();
}

/// The conditions of the top-level conjunction of `spec`; `others` counts what is not one ($or,
/// $nor).
void collect(const json& spec, std::vector<conjunct>& out, size_t& others) {
  if (!spec.is_object()) return;
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    const std::string& name = it.key();
    if (name == "$and" && it->is_array()) {
      for (const auto& branch : *it) collect(branch, out, others);
    } else if (!name.empty() && name[0] == '$') {
      ++others;
    } else if (is_operator_object(*it)) {
      for (auto op = it->begin(); op != it->end(); ++op)
        out.push_back(conjunct{&name, op.key(), &op.value()});
    } else {
      out.push_back(conjunct{&name, "$eq", &*it});
    }
  }
}

index_range point(const json& value) {
  std::string encoded = index_value(value);
  std::string end = prefix_successor(encoded);
  return index_range{std::move(encoded), std::move(end)};
}

bool is_range_op(const std::string& op) {
  return op == "$gt" || op == "$gte" || op == "$lt" || op == "$lte";
}

/// The range of values of the operand's type that `op operand` selects.
index_range range_of(const std::string& op, const json& operand) {
  index_range r =
      operand.is_number()
          ? index_range{std::string(1, kIndexNumbersBegin), std::string(1, kIndexString)}
          : index_range{std::string(1, kIndexString), std::string(1, kIndexObject)};
  std::string encoded = index_value(operand);
  if (op == "$gt") r.begin = prefix_successor(encoded);
  if (op == "$gte") r.begin = encoded;
  if (op == "$lt") r.end = encoded;
  if (op == "$lte") r.end = prefix_successor(encoded);
  return r;
}

/// The best plan on one index, given the conditions on its field; `used` is how many of them
/// the plan's ranges express exactly.
query_plan plan_on(const std::vector<const conjunct*>& on_field, bool multikey, size_t& used) {
  query_plan best;
  used = 0;
  // Equality first.
  for (const auto* c : on_field) {
    if (c->op == "$eq" && is_scalar(*c->operand)) {
      best.kind = plan_kind::equality;
      best.ranges.push_back(point(*c->operand));
      used = 1;
      return best;
    }
  }
  for (const auto* c : on_field) {
    if (c->op != "$in" || !c->operand->is_array()) continue;
    if (!std::all_of(c->operand->begin(), c->operand->end(), is_scalar)) continue;
    best.kind = plan_kind::in;
    for (const auto& v : *c->operand) best.ranges.push_back(point(v));
    std::sort(best.ranges.begin(), best.ranges.end(),
              [](const index_range& a, const index_range& b) { return a.begin < b.begin; });
    best.ranges.erase(
        std::unique(best.ranges.begin(), best.ranges.end(),
                    [](const index_range& a, const index_range& b) { return a.begin == b.begin; }),
        best.ranges.end());
    used = 1;
    return best;
  }
  const conjunct* first_range = nullptr;
  for (const auto* c : on_field)
    if (is_range_op(c->op) && (c->operand->is_number() || c->operand->is_string())) {
      first_range = c;
      break;
    }
  if (first_range != nullptr) {
    best.kind = plan_kind::range;
    index_range r = range_of(first_range->op, *first_range->operand);
    used = 1;
    if (!multikey) {
      for (const auto* c : on_field) {
        if (c == first_range || !is_range_op(c->op)) continue;
        if (c->operand->is_number() != first_range->operand->is_number()) continue;
        if (!c->operand->is_number() && !c->operand->is_string()) continue;
        index_range other = range_of(c->op, *c->operand);
        r.begin = std::max(r.begin, other.begin);
        r.end = std::min(r.end, other.end);
        ++used;
      }
    }
    if (r.begin < r.end) best.ranges.push_back(std::move(r));
    return best;
  }
  for (const auto* c : on_field) {
    if (c->op != "$sw" || !c->operand->is_string()) continue;
    best.kind = plan_kind::prefix;
    std::string begin = index_string_prefix(c->operand->get_ref<const std::string&>());
    std::string end = prefix_successor(begin);
    best.ranges.push_back(index_range{std::move(begin), std::move(end)});
    used = 1;
    return best;
  }
  return best;
}

int rank(plan_kind kind) {
  switch (kind) {
    case plan_kind::equality:
      return 4;
    case plan_kind::in:
      return 3;
    case plan_kind::range:
    case plan_kind::prefix:
      return 2;
    case plan_kind::sort:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

const char* to_string(plan_kind kind) {
  switch (kind) {
    case plan_kind::equality:
      return "equality";
    case plan_kind::in:
      return "in";
    case plan_kind::range:
      return "range";
    case plan_kind::prefix:
      return "prefix";
    case plan_kind::sort:
      return "sort";
    default:
      return "scan";
  }
}

query_plan plan_query(const json& filter, const query_options& options,
                      const std::vector<index_choice>& indexes) {
  std::vector<conjunct> conjuncts;
  size_t others = 0;
  collect(filter, conjuncts, others);
  query_plan best;
  size_t best_used = 0;
  for (size_t i = 0; i < indexes.size(); ++i) {
    std::vector<const conjunct*> on_field;
    for (const auto& c : conjuncts)
      if (*c.field == indexes[i].field) on_field.push_back(&c);
    if (on_field.empty()) continue;
    size_t used = 0;
    query_plan p = plan_on(on_field, indexes[i].multikey, used);
    if (rank(p.kind) <= rank(best.kind)) continue;
    p.index = i;
    best = std::move(p);
    best_used = used;
  }
  const auto* first_sort = options.sort.empty() ? nullptr : &options.sort.front();
  if (best.kind == plan_kind::scan && first_sort != nullptr && options.limit > 0) {
    for (size_t i = 0; i < indexes.size(); ++i) {
      if (indexes[i].multikey || indexes[i].path != first_sort->first) continue;
      best.kind = plan_kind::sort;
      best.index = i;
      best.ranges.push_back(index_range{});  // everything
      best_used = 0;
      break;
    }
  }
  if (best.kind == plan_kind::scan) return best;
  const auto& index = indexes[best.index];
  if (first_sort != nullptr && !index.multikey && index.path == first_sort->first)
    best.order = first_sort->second;
  // Exact when the ranges express every condition and each document has one entry in them: a
  // non-multikey index has one entry per document; a multikey one one per distinct value, so
  // one value's range (equality) holds each document at most once.
  best.covered = others == 0 && best_used == conjuncts.size() && best.kind != plan_kind::sort &&
                 (!index.multikey || best.kind == plan_kind::equality);
  return best;
}

}  // namespace eventbase::protocol
