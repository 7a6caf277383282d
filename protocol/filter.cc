// The query filter: compiling a filter object into a tree of conditions (with the bounds of the
// header), resolving dotted paths in a document, and evaluating the operators on what they reach.
#include "protocol/filter.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/key_pattern.hpp"
#include "protocol/query.hpp"
#include "protocol/utf8.hpp"

namespace eventbase::protocol {

using json = nlohmann::ordered_json;

namespace {

enum class op { eq, ne, gt, gte, lt, lte, in, nin, all, exists, not_, regex, sw };

/// One operator applied to a field's values.
struct condition {
  op kind = op::eq;
  json operand;                // $eq $ne $gt... $sw: the value; $in $nin $all: the array
  bool flag = false;           // $exists
  key_pattern pattern;         // $regex
  std::vector<condition> sub;  // $not: the operator object, all of which must hold
  // $in $nin $all: the positions in `operand` of its scalar values, in sort order, and of its
  // objects and arrays; a value meets a list of 100,000 in log time, not in 100,000 steps.
  std::vector<size_t> scalars, structured;
};

bool is_scalar(const json& v) {
  return !v.is_structured();
}

/// Orders scalars as `compare_for_sort` does: by type, then value (1 and 1.0 alike), so that
/// order-equal scalars are exactly the json_equal ones.
bool scalar_less(const json& a, const json& b) {
  return compare_for_sort(&a, &b) < 0;
}

/// Sorts the list operand of $in, $nin or $all into `c.scalars` and `c.structured`.
void index_list(condition& c) {
  for (size_t i = 0; i < c.operand.size(); ++i)
    (is_scalar(c.operand[i]) ? c.scalars : c.structured).push_back(i);
  std::sort(c.scalars.begin(), c.scalars.end(),
            [&](size_t a, size_t b) { return scalar_less(c.operand[a], c.operand[b]); });
}

/// Whether the list operand of `c` holds a value json_equal to `v`.
bool list_holds(const condition& c, const json& v) {
  if (is_scalar(v)) {
    auto it = std::lower_bound(c.scalars.begin(), c.scalars.end(), v, [&](size_t i, const json& x) {
      return scalar_less(c.operand[i], x);
    });
    return it != c.scalars.end() && !scalar_less(v, c.operand[*it]);
  }
  return std::any_of(c.structured.begin(), c.structured.end(),
                     [&](size_t i) { return json_equal(c.operand[i], v); });
}

/// Longest part of a filter quoted in an error message, in bytes.
constexpr size_t kMaxQuotedBytes = 100;

/// `text` for an error message: at most kMaxQuotedBytes bytes, valid UTF-8.
std::string quoted(const std::string& text) {
  std::string cut = text.substr(0, kMaxQuotedBytes);
  // The cut may split a character, and the text may not be UTF-8: such bytes become U+FFFD.
  size_t bad = first_invalid_utf8(cut);
  std::string repaired;
  std::string out(replace_invalid_utf8(cut, bad, repaired));
  if (text.size() > kMaxQuotedBytes) out += "...";
  return "'" + out + "'";
}

status invalid(const std::string& what) {
  return status(errc::invalid_argument, "filter: " + what);
}

}  // namespace

/// A filter object: the conditions on its fields and its logical branches, all of which must hold.
struct filter::node {
  struct field {
    std::string path_text;
    std::vector<std::string> path;
    std::vector<condition> conditions;
  };
  struct logical {
    enum { and_, or_, nor } kind;
    std::vector<node> branches;
  };
  std::vector<field> fields;
  std::vector<logical> logicals;
  json spec;  // set on the root only
};

namespace {

using node = filter::node;

/// Compiles one filter object, counting clauses against the limits.
class compiler {
 public:
  status compile_object(const json& spec, node& out) {
    if (!spec.is_object()) return invalid("a filter must be an object, not " + type_of(spec));
    for (const auto& [name, value] : spec.items()) {
      if (auto st = count_clause(); !st.ok()) return st;
      if (!name.empty() && name[0] == '$') {
        if (auto st = compile_logical(name, value, out); !st.ok()) return st;
        continue;
      }
      node::field f;
      f.path_text = name;
      if (auto st = split_field_path(name, f.path); !st.ok()) return st;
      if (auto st = compile_conditions(name, value, f.conditions); !st.ok()) return st;
      out.fields.push_back(std::move(f));
    }
    return status::OK();
  }

 private:
  static std::string type_of(const json& v) { return v.type_name(); }

  status count_clause() {
    if (++clauses_ > kMaxFilterClauses)
      return invalid("more than " + std::to_string(kMaxFilterClauses) + " clauses");
    return status::OK();
  }

  status compile_logical(const std::string& name, const json& value, node& out) {
    node::logical l;
    if (name == "$and") {
      l.kind = node::logical::and_;
    } else if (name == "$or") {
      l.kind = node::logical::or_;
    } else if (name == "$nor") {
      l.kind = node::logical::nor;
    } else {
      return invalid("unknown top-level operator " + quoted(name));
    }
    if (!value.is_array() || value.empty())
      return invalid(name + " needs a non-empty array of filters, not " + type_of(value));
    for (const auto& branch : value) {
      node n;
      if (auto st = compile_object(branch, n); !st.ok()) return st;
      l.branches.push_back(std::move(n));
    }
    out.logicals.push_back(std::move(l));
    return status::OK();
  }

  static bool is_operator_object(const json& value) {
    if (!value.is_object() || value.empty()) return false;
    const auto& first = value.items().begin().key();
    return !first.empty() && first[0] == '$';
  }

  status compile_conditions(const std::string& path, const json& value,
                            std::vector<condition>& out) {
    if (!is_operator_object(value)) {
      condition c;
      c.kind = op::eq;
      c.operand = value;
      out.push_back(std::move(c));
      return status::OK();
    }
    for (const auto& [name, operand] : value.items()) {
      if (name.empty() || name[0] != '$')
        return invalid("field " + quoted(name) + " mixed with operators at " + quoted(path));
      if (auto st = count_clause(); !st.ok()) return st;
      condition c;
      if (auto st = compile_operator(path, name, operand, c); !st.ok()) return st;
      out.push_back(std::move(c));
    }
    return status::OK();
  }

  status compile_operator(const std::string& path, const std::string& name, const json& operand,
                          condition& c) {
    auto needs = [&](const std::string& what) {
      return invalid(name + " at " + quoted(path) + " needs " + what + ", not " + type_of(operand));
    };
    c.operand = operand;
    if (name == "$eq") {
      c.kind = op::eq;
    } else if (name == "$ne") {
      c.kind = op::ne;
    } else if (name == "$gt" || name == "$gte" || name == "$lt" || name == "$lte") {
      c.kind = name == "$gt" ? op::gt : name == "$gte" ? op::gte : name == "$lt" ? op::lt : op::lte;
      if (!operand.is_number() && !operand.is_string()) return needs("a number or a string");
    } else if (name == "$in" || name == "$nin" || name == "$all") {
      c.kind = name == "$in" ? op::in : name == "$nin" ? op::nin : op::all;
      if (!operand.is_array()) return needs("an array");
      index_list(c);
    } else if (name == "$exists") {
      c.kind = op::exists;
      if (!operand.is_boolean()) return needs("true or false");
      c.flag = operand.get<bool>();
    } else if (name == "$not") {
      c.kind = op::not_;
      if (!is_operator_object(operand)) return needs("an operator object");
      c.operand = nullptr;
      return compile_conditions(path, operand, c.sub);
    } else if (name == "$regex") {
      c.kind = op::regex;
      if (!operand.is_string()) return needs("a string");
      auto p = key_pattern::compile(operand.get<std::string>());
      if (!p.ok()) return invalid("$regex at " + quoted(path) + ": " + p.error().message());
      c.pattern = std::move(*p);
    } else if (name == "$sw") {
      c.kind = op::sw;
      if (!operand.is_string()) return needs("a string");
    } else {
      return invalid("unknown operator " + quoted(name) + " at " + quoted(path));
    }
    return status::OK();
  }

  size_t clauses_ = 0;
};

/// How many JSON values `value` holds, counted without recursion; stops at `limit` + 1.
size_t count_values(const json& value, size_t limit) {
  size_t count = 0;
  std::vector<const json*> pending{&value};
  while (!pending.empty() && count <= limit) {
    const json* v = pending.back();
    pending.pop_back();
    ++count;
    if (v->is_structured())
      for (const auto& child : *v) pending.push_back(&child);
  }
  return count;
}

bool is_index(const std::string& step, size_t& index) {
  if (step.empty() || step.size() > 9) return false;
  index = 0;
  for (char c : step) {
    if (c < '0' || c > '9') return false;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

/// Appends the values `path` from step `i` on reaches in `value` (see the header). Recurses once
/// per level of `value`, which documents bound (kMaxDocumentDepth).
void resolve(const json& value, const std::vector<std::string>& path, size_t i,
             std::vector<const json*>& out) {
  if (i == path.size()) {
    out.push_back(&value);
    return;
  }
  if (value.is_object()) {
    auto it = value.find(path[i]);
    if (it != value.end()) resolve(*it, path, i + 1, out);
  } else if (value.is_array()) {
    size_t index = 0;
    if (is_index(path[i], index) && index < value.size()) resolve(value[index], path, i + 1, out);
    for (const auto& element : value)
      if (element.is_object()) resolve(element, path, i, out);
  }
}

/// Whether `test` holds for one of `values` or for an element of one that is an array.
template <class Test>
bool any_value(const std::vector<const json*>& values, Test&& test) {
  for (const json* v : values) {
    if (test(*v)) return true;
    if (v->is_array())
      for (const auto& element : *v)
        if (test(element)) return true;
  }
  return false;
}

bool equals_any(const std::vector<const json*>& values, const json& operand) {
  if (values.empty()) return operand.is_null();
  return any_value(values, [&](const json& v) { return json_equal(v, operand); });
}

bool compares(const json& v, op kind, const json& operand) {
  int order;
  if (v.is_number() && operand.is_number()) {
    order = compare_numbers(v, operand);
  } else if (v.is_string() && operand.is_string()) {
    // std::string compares as unsigned bytes: UTF-8 in byte order is code point order.
    int c = v.get_ref<const std::string&>().compare(operand.get_ref<const std::string&>());
    order = c < 0 ? -1 : c > 0 ? 1 : 0;
  } else {
    return false;
  }
  switch (kind) {
    case op::gt:
      return order > 0;
    case op::gte:
      return order >= 0;
    case op::lt:
      return order < 0;
    default:
      return order <= 0;
  }
}

/// $all: whether every listed value equals one of `values` (or of their elements). The
/// scalars the field holds are sorted once, so the cost is (values + list) x log, not their
/// product.
bool all_listed_held(const std::vector<const json*>& values, const condition& c) {
  std::vector<const json*> held;
  bool nan = false;  // orders with nothing: sorting it would break std::sort's contract
  any_value(values, [&](const json& v) {
    if (is_scalar(v)) held.push_back(&v);
    nan = nan || (v.is_number_float() && std::isnan(v.get<double>()));
    return false;
  });
  if (nan)
    return std::all_of(c.operand.begin(), c.operand.end(),
                       [&](const json& listed) { return equals_any(values, listed); });
  if (values.empty()) held.push_back(nullptr);  // a missing field is null
  static const json null_value;
  for (auto& h : held)
    if (h == nullptr) h = &null_value;
  auto less = [](const json* a, const json* b) { return scalar_less(*a, *b); };
  std::sort(held.begin(), held.end(), less);
  for (size_t i : c.scalars) {
    auto it = std::lower_bound(held.begin(), held.end(), &c.operand[i], less);
    if (it == held.end() || scalar_less(c.operand[i], **it)) return false;
  }
  return std::all_of(c.structured.begin(), c.structured.end(),
                     [&](size_t i) { return equals_any(values, c.operand[i]); });
}

result<bool> holds(const std::vector<const json*>& values, const condition& c);

result<bool> holds_all(const std::vector<const json*>& values, const std::vector<condition>& cs) {
  for (const auto& c : cs) {
    auto r = holds(values, c);
    if (!r.ok() || !*r) return r;
  }
  return true;
}

result<bool> holds(const std::vector<const json*>& values, const condition& c) {
  switch (c.kind) {
    case op::eq:
      return equals_any(values, c.operand);
    case op::ne:
      return !equals_any(values, c.operand);
    case op::gt:
    case op::gte:
    case op::lt:
    case op::lte:
      return any_value(values, [&](const json& v) { return compares(v, c.kind, c.operand); });
    case op::in:
    case op::nin: {
      // Some value (or element) equal to a listed one; a missing field is null.
      bool found = values.empty()
                       ? list_holds(c, json())
                       : any_value(values, [&](const json& v) { return list_holds(c, v); });
      return c.kind == op::in ? found : !found;
    }
    case op::all:
      return !c.operand.empty() && all_listed_held(values, c);
    case op::exists:
      return values.empty() != c.flag;
    case op::not_: {
      auto r = holds_all(values, c.sub);
      if (!r.ok()) return r;
      return !*r;
    }
    case op::regex: {
      status error;
      bool found = any_value(values, [&](const json& v) {
        if (!v.is_string() || !error.ok()) return false;
        auto r = c.pattern.matches(v.get_ref<const std::string&>());
        if (!r.ok()) error = r.error();
        return r.ok() && *r;
      });
      if (!error.ok() && !found) return error;
      return found;
    }
    case op::sw: {
      const auto& prefix = c.operand.get_ref<const std::string&>();
      return any_value(values, [&](const json& v) {
        return v.is_string() &&
               v.get_ref<const std::string&>().compare(0, prefix.size(), prefix) == 0;
      });
    }
  }
  return status(errc::internal, "filter: unhandled operator");
}

result<bool> evaluate(const node& n, const json& doc) {
  std::vector<const json*> values;
  for (const auto& f : n.fields) {
    values.clear();
    resolve_field(doc, f.path, values);
    auto r = holds_all(values, f.conditions);
    if (!r.ok() || !*r) return r;
  }
  for (const auto& l : n.logicals) {
    // $and needs every branch, $or one, $nor none: stop at the first branch that decides.
    bool wanted = l.kind == node::logical::and_ ? false : true;
    bool decided = false;
    for (const auto& branch : l.branches) {
      auto r = evaluate(branch, doc);
      if (!r.ok()) return r;
      if (*r == wanted) {
        decided = true;
        break;
      }
    }
    bool holds = l.kind == node::logical::or_ ? decided : !decided;
    if (!holds) return false;
  }
  return true;
}

}  // namespace

filter::filter() : root_(std::make_shared<node>(node{{}, {}, json::object()})) {}

result<filter> filter::compile(const json& spec) {
  if (document_depth(spec, kMaxFilterDepth) > kMaxFilterDepth)
    return invalid("nests deeper than " + std::to_string(kMaxFilterDepth) + " levels");
  if (count_values(spec, kMaxFilterValues) > kMaxFilterValues)
    return invalid("holds more than " + std::to_string(kMaxFilterValues) + " values");
  auto root = std::make_shared<node>();
  compiler c;
  if (auto st = c.compile_object(spec, *root); !st.ok()) return st;
  root->spec = spec;
  return filter(std::move(root));
}

result<filter> filter::parse(const std::string& text) {
  if (text.empty()) return filter();
  auto spec = parse_json(text, kMaxDocumentDepth);
  if (!spec.ok()) return status(errc::invalid_argument, "filter: " + spec.error().message());
  return compile(*spec);
}

result<bool> filter::matches(const json& doc) const {
  return evaluate(*root_, doc);
}

bool filter::matches_all() const {
  return root_->fields.empty() && root_->logicals.empty();
}

const json& filter::spec() const {
  return root_->spec;
}

void resolve_field(const json& doc, const std::vector<std::string>& path,
                   std::vector<const json*>& out) {
  if (doc.is_object()) resolve(doc, path, 0, out);  // other documents have no fields
}

status split_field_path(const std::string& text, std::vector<std::string>& out) {
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string part = text.substr(start, dot == std::string::npos ? dot : dot - start);
    if (part.empty()) return invalid("empty step in field path " + quoted(text));
    out.push_back(std::move(part));
    if (dot == std::string::npos) return status::OK();
    start = dot + 1;
  }
}

int compare_numbers(const json& a, const json& b) {
  auto sign = [](auto x, auto y) { return x < y ? -1 : y < x ? 1 : 0; };
  if (a.is_number_float() || b.is_number_float()) {
    // long double holds every int64 and uint64 exactly (64-bit mantissa on x86-64); elsewhere
    // this is as exact as double.
    auto wide = [](const json& v) -> long double {
      if (v.is_number_float()) return v.get<double>();
      if (v.is_number_unsigned()) return static_cast<long double>(v.get<uint64_t>());
      return static_cast<long double>(v.get<int64_t>());
    };
    return sign(wide(a), wide(b));
  }
  bool a_neg = a.is_number_integer() && !a.is_number_unsigned() && a.get<int64_t>() < 0;
  bool b_neg = b.is_number_integer() && !b.is_number_unsigned() && b.get<int64_t>() < 0;
  if (a_neg != b_neg) return a_neg ? -1 : 1;
  if (a_neg) return sign(a.get<int64_t>(), b.get<int64_t>());
  return sign(a.get<uint64_t>(), b.get<uint64_t>());
}

bool json_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case json::value_t::string:
      return a.get_ref<const std::string&>() == b.get_ref<const std::string&>();
    case json::value_t::boolean:
      return a.get<bool>() == b.get<bool>();
    case json::value_t::array:
      return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), json_equal);
    case json::value_t::object: {
      if (a.size() != b.size()) return false;
      // Members sorted by name on both sides: linear after sorting whatever the member order.
      using member = std::pair<const std::string*, const json*>;
      auto sorted = [](const json& o) {
        std::vector<member> m;
        m.reserve(o.size());
        for (auto it = o.begin(); it != o.end(); ++it) m.emplace_back(&it.key(), &it.value());
        std::sort(m.begin(), m.end(),
                  [](const member& x, const member& y) { return *x.first < *y.first; });
        return m;
      };
      auto ma = sorted(a), mb = sorted(b);
      for (size_t i = 0; i < ma.size(); ++i)
        if (*ma[i].first != *mb[i].first || !json_equal(*ma[i].second, *mb[i].second)) return false;
      return true;
    }
    default:
      return true;  // null
  }
}

}  // namespace eventbase::protocol
