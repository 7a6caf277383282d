// Query execution without indexes (see query.hpp): parsing the options, the sort order, the
// bounded candidate buffer and the projection.
#include "protocol/query.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "protocol/record.hpp"

namespace eventbase::protocol {

using json = nlohmann::ordered_json;

namespace {

status invalid(const std::string& what) {
  return status(errc::invalid_argument, "query: " + what);
}

result<uint64_t> count_option(const json& value, const std::string& name) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0)
    return static_cast<uint64_t>(value.get<int64_t>());
  return invalid(name + " must be a non-negative integer, not " + value.dump());
}

/// The value at `path`, descending into objects only; nullptr when missing.
const json* find_path(const json& doc, const std::vector<std::string>& path) {
  const json* at = &doc;
  for (const auto& step : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(step);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

/// MongoDB's order of types: null (and missing), numbers, strings, objects, arrays, booleans.
int type_rank(const json* v) {
  if (v == nullptr || v->is_null()) return 0;
  if (v->is_number()) return 1;
  if (v->is_string()) return 2;
  if (v->is_object()) return 3;
  if (v->is_array()) return 4;
  return 5;  // boolean (documents hold no binary values)
}

int sign(int c) {
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/// The fields to keep, as a tree of path steps; `whole` keeps a member with all it holds.
struct projection {
  bool whole = false;
  std::vector<std::pair<std::string, projection>> children;

  void add(const std::vector<std::string>& path, size_t i = 0) {
    if (i == path.size()) {
      whole = true;
      return;
    }
    auto it = std::find_if(children.begin(), children.end(),
                           [&](const auto& child) { return child.first == path[i]; });
    if (it == children.end()) {
      children.emplace_back(path[i], projection{});
      it = children.end() - 1;
    }
    it->second.add(path, i + 1);
  }

  /// The members of `value` (an object) this projection keeps, in the document's order.
  json apply(const json& value) const {
    json out = json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      auto child = std::find_if(children.begin(), children.end(),
                                [&](const auto& c) { return c.first == it.key(); });
      if (child == children.end()) continue;
      if (child->second.whole) {
        out[it.key()] = it.value();
      } else if (it.value().is_object()) {
        json inner = child->second.apply(it.value());
        if (!inner.empty()) out[it.key()] = std::move(inner);
      }
    }
    return out;
  }
};

/// Replaces the data of `record` by its projection.
status project_record(const projection& keep, std::string& record) {
  auto view = decode_record(record);
  if (!view.ok()) return view.error();
  auto doc = decode_document(view->data_msgpack);
  if (!doc.ok()) return doc.error();
  std::string data;
  append_msgpack(doc->is_object() ? keep.apply(*doc) : json::object(), data);
  record = encode_record(view->m, view->sequence, data);
  return status::OK();
}

}  // namespace

result<query_options> parse_query_options(const json& options) {
  query_options out;
  if (options.is_null()) return out;
  if (!options.is_object()) return invalid("options must be an object, not " + options.dump());
  for (const auto& [name, value] : options.items()) {
    if (name == "sort") {
      if (!value.is_object()) return invalid("sort must be an object of field: 1 or -1");
      for (const auto& [field, direction] : value.items()) {
        if (!direction.is_number_integer() ||
            (direction.get<int64_t>() != 1 && direction.get<int64_t>() != -1))
          return invalid("sort of '" + field + "' must be 1 or -1, not " + direction.dump());
        std::vector<std::string> path;
        if (auto st = split_field_path(field, path); !st.ok()) return st;
        out.sort.emplace_back(std::move(path), static_cast<int>(direction.get<int64_t>()));
      }
    } else if (name == "limit") {
      auto n = count_option(value, "limit");
      if (!n.ok()) return n.error();
      out.limit = *n;
    } else if (name == "offset") {
      auto n = count_option(value, "offset");
      if (!n.ok()) return n.error();
      out.offset = *n;
    } else if (name == "project") {
      if (!value.is_object()) return invalid("project must be an object of field: 1");
      for (const auto& [field, keep] : value.items()) {
        if (!(keep.is_boolean() && keep.get<bool>()) &&
            !(keep.is_number_integer() && keep.get<int64_t>() == 1))
          return invalid("project of '" + field + "' must be 1 or true, not " + keep.dump());
        std::vector<std::string> path;
        if (auto st = split_field_path(field, path); !st.ok()) return st;
        out.project.push_back(std::move(path));
      }
    } else {
      return invalid("unknown option '" + name + "'");
    }
  }
  return out;
}

int compare_for_sort(const json* a, const json* b) {
  int ra = type_rank(a), rb = type_rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return compare_numbers(*a, *b);
    case 2:
      return sign(a->get_ref<const std::string&>().compare(b->get_ref<const std::string&>()));
    case 3: {
      auto ia = a->begin(), ib = b->begin();
      for (; ia != a->end() && ib != b->end(); ++ia, ++ib) {
        if (int c = sign(ia.key().compare(ib.key())); c != 0) return c;
        if (int c = compare_for_sort(&ia.value(), &ib.value()); c != 0) return c;
      }
      return ia == a->end() ? (ib == b->end() ? 0 : -1) : 1;
    }
    case 4: {
      for (size_t i = 0; i < a->size() && i < b->size(); ++i)
        if (int c = compare_for_sort(&(*a)[i], &(*b)[i]); c != 0) return c;
      return a->size() < b->size() ? -1 : a->size() > b->size() ? 1 : 0;
    }
    default:
      return a->get<bool>() == b->get<bool>() ? 0 : a->get<bool>() ? 1 : -1;
  }
}

struct query_run::state {
  filter f;
  query_options options;
  bool count_only = false;
  bool assume_matches = false;
  uint64_t examined = 0;
  uint64_t matched = 0;

  struct candidate {
    uint64_t order;            // position in key order: the tie-breaker that keeps sorts stable
    std::vector<json> values;  // of the sort fields; null for missing
    std::string key;
    std::string record;
  };
  std::vector<candidate> kept;
  uint64_t held_bytes = 0;  // of the keys and records in `kept`

  static uint64_t size_of(const candidate& c) { return c.key.size() + c.record.size(); }

  /// offset + limit, or "all" when there is no limit.
  uint64_t wanted() const {
    if (options.limit == 0) return std::numeric_limits<uint64_t>::max();
    uint64_t sum = options.offset + options.limit;
    return sum < options.offset ? std::numeric_limits<uint64_t>::max() : sum;
  }

  bool before(const candidate& x, const candidate& y) const {
    for (size_t i = 0; i < options.sort.size(); ++i) {
      int c = compare_for_sort(&x.values[i], &y.values[i]) * options.sort[i].second;
      if (c != 0) return c < 0;
    }
    return x.order < y.order;
  }

  void trim_to(uint64_t n) {
    if (kept.size() <= n) return;
    auto cmp = [this](const candidate& x, const candidate& y) { return before(x, y); };
    std::nth_element(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(n), kept.end(), cmp);
    for (auto it = kept.begin() + static_cast<std::ptrdiff_t>(n); it != kept.end(); ++it)
      held_bytes -= size_of(*it);
    kept.resize(n);
  }
};

query_run::query_run(filter f, query_options options, bool count_only)
    : state_(std::make_unique<state>()) {
  state_->f = std::move(f);
  state_->options = std::move(options);
  state_->count_only = count_only;
}

query_run::~query_run() = default;
query_run::query_run(query_run&&) noexcept = default;
query_run& query_run::operator=(query_run&&) noexcept = default;

void query_run::add_matches(uint64_t n) {
  state_->matched += n;
}

void query_run::assume_matches() {
  state_->assume_matches = true;
}

uint64_t query_run::examined() const {
  return state_->examined;
}
uint64_t query_run::matched() const {
  return state_->matched;
}
uint64_t query_run::held_bytes() const {
  return state_->held_bytes;
}

result<bool> query_run::add(std::string_view key, std::string_view record) {
  auto& s = *state_;
  ++s.examined;
  bool sorted = !s.options.sort.empty();
  if (!s.count_only && !sorted && s.matched >= s.wanted()) return false;
  json doc;
  bool check = !s.f.matches_all() && !s.assume_matches;
  if (check || (!s.count_only && sorted)) {
    auto view = decode_record(record);
    if (!view.ok()) return view.error();
    auto decoded = decode_document(view->data_msgpack);
    if (!decoded.ok()) return decoded.error();
    doc = std::move(*decoded);
  }
  if (check) {
    auto matches = s.f.matches(doc);
    if (!matches.ok()) return matches.error();
    if (!*matches) return true;
  }
  uint64_t order = s.matched++;
  if (s.count_only) return true;
  state::candidate c{order, {}, std::string(key), std::string(record)};
  for (const auto& [path, direction] : s.options.sort) {
    const json* v = find_path(doc, path);
    c.values.push_back(v ? *v : json());
  }
  s.held_bytes += state::size_of(c);
  s.kept.push_back(std::move(c));
  if (!sorted) return s.matched < s.wanted();
  // Sorted with a limit: the buffer holds at most twice what the answer needs.
  uint64_t wanted = s.wanted();
  if (wanted <= std::numeric_limits<uint64_t>::max() / 2 && s.kept.size() >= 2 * wanted)
    s.trim_to(wanted);
  return true;
}

result<query_results> query_run::finish() {
  auto& s = *state_;
  query_results out;
  if (s.count_only) return out;
  if (!s.options.sort.empty()) {
    s.trim_to(s.wanted());
    std::sort(
        s.kept.begin(), s.kept.end(),
        [&s](const state::candidate& x, const state::candidate& y) { return s.before(x, y); });
  }
  projection keep;
  for (const auto& path : s.options.project) keep.add(path);
  uint64_t end = std::min<uint64_t>(s.kept.size(), s.wanted());
  for (uint64_t i = s.options.offset; i < end; ++i) {
    auto& c = s.kept[i];
    if (!s.options.project.empty())
      if (auto st = project_record(keep, c.record); !st.ok()) return st;
    out.keys.push_back(std::move(c.key));
    out.records.push_back(std::move(c.record));
  }
  s.kept.clear();
  s.held_bytes = 0;
  return out;
}

bool query_run::incremental() const {
  return state_->options.sort.empty() && !state_->count_only;
}

uint64_t query_run::ready() const {
  auto& s = *state_;
  if (s.kept.empty()) return 0;
  uint64_t first = s.kept.front().order;  // kept in key order without a sort
  uint64_t before_offset = s.options.offset > first ? s.options.offset - first : 0;
  return s.kept.size() - std::min<uint64_t>(s.kept.size(), before_offset);
}

result<query_results> query_run::take(uint64_t max, uint64_t max_bytes) {
  auto& s = *state_;
  if (!incremental()) return status(errc::internal, "query_run::take on a sorted or counting run");
  projection keep;
  for (const auto& path : s.options.project) keep.add(path);
  query_results out;
  uint64_t bytes = 0;
  size_t used = 0;
  uint64_t released = 0;
  for (; used < s.kept.size(); ++used) {
    auto& c = s.kept[used];
    if (c.order < s.options.offset) {  // skipped by the offset
      released += state::size_of(c);
      continue;
    }
    if (out.keys.size() >= max || (!out.keys.empty() && bytes >= max_bytes)) break;
    released += state::size_of(c);
    if (!s.options.project.empty())
      if (auto st = project_record(keep, c.record); !st.ok()) return st;
    bytes += c.key.size() + c.record.size();
    out.keys.push_back(std::move(c.key));
    out.records.push_back(std::move(c.record));
  }
  s.kept.erase(s.kept.begin(), s.kept.begin() + static_cast<std::ptrdiff_t>(used));
  s.held_bytes -= released;
  return out;
}

}  // namespace eventbase::protocol
