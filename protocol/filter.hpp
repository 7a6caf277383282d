// The query filter: a MongoDB-style filter object (as the JavaScript library's 3.x `query`,
// `count` and `subscribe(filter)` take it) compiled once into a matcher over documents.
//
// Language (where the JavaScript library is silent, MongoDB's semantics):
// - `{field: value}` is `{field: {$eq: value}}`; several members of one object must all hold.
// - A field is a dotted path ("address.zip") into nested objects; a document that is not an
//   object has no fields. A step into an array descends
//   into each element that is an object, or, for a step that is a decimal number, into the
//   element at that index as well ("tags.0"). A field whose value is an array matches an
//   operator when the array itself or any of its elements does (`{tags: "a"}` matches
//   `{"tags":["a","b"]}`).
// - Field operators: $eq $ne $gt $gte $lt $lte $in $nin $all $exists $not $regex $sw. An object
//   whose first member starts with '$' is an operator object; all its members must then be
//   operators. Any other object is a value compared for equality.
//   - $eq: equal JSON values; numbers by value (1 equals 1.0), objects regardless of member
//     order, arrays element by element. `{$eq: null}` also matches a missing field.
//   - $ne, $nin, $not: the negation of $eq, $in and the operator object; they match a missing
//     field.
//   - $gt $gte $lt $lte: the operand is a number or a string; a number compares with numbers, a
//     string with strings by code point; values of other types never match.
//   - $in: an array of values, matches when $eq matches one of them. $all: an array of values,
//     matches when $eq matches every one of them (an empty $all matches nothing).
//   - $exists: true or false, whether the path reaches any value (null included).
//   - $not: an operator object.
//   - $regex: a pattern string in the key_pattern dialect (protocol/key_pattern.hpp) with its
//     limits, searched in string values. $sw: a string, matches string values starting with it.
// - Logical operators at the top level of any filter object: $and, $or, $nor, each a non-empty
//   array of filter objects.
//
// Filters come from peers and clients, so they are hostile input: compiling one refuses a filter
// nested deeper than kMaxFilterDepth levels, with more than kMaxFilterClauses operators and
// fields, or with more than kMaxFilterValues JSON values in all, and every regex is compiled
// under key_pattern's limits. Errors are invalid_argument naming the offending part:
// "filter: unknown operator '$foo' at 'age'".
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "eventbase/status.hpp"

namespace eventbase::protocol {

/// The deepest nesting a filter may have (arrays and objects count one level each).
inline constexpr size_t kMaxFilterDepth = 64;
/// The most field conditions, operators and logical branches one filter may hold.
inline constexpr size_t kMaxFilterClauses = 1024;
/// The most JSON values (every node of the filter's tree, $in lists included) one filter may hold.
inline constexpr size_t kMaxFilterValues = 100'000;

/// A compiled filter. Copies are cheap and share the compiled form; `matches` may be called from
/// several threads at once.
class filter {
 public:
  /// The empty filter `{}`: matches every document.
  filter();

  /// The compiled `spec`, or invalid_argument naming the offending part.
  static result<filter> compile(const nlohmann::ordered_json& spec);

  /// The filter given as JSON text ("" for `{}`), parsed within kMaxDocumentDepth and compiled:
  /// how filters arrive from peers. invalid_argument "filter: ..." for text that is no JSON.
  static result<filter> parse(const std::string& text);

  /// Whether `doc` matches. invalid_argument "regex too complex: ..." when a $regex hit one of
  /// key_pattern's match limits (the answer is then unknown).
  result<bool> matches(const nlohmann::ordered_json& doc) const;

  /// True for a filter without conditions (`{}`), which matches every document.
  bool matches_all() const;

  /// The filter as it was given.
  const nlohmann::ordered_json& spec() const;

  struct node;  // in filter.cc

 private:
  explicit filter(std::shared_ptr<const node> root) : root_(std::move(root)) {}
  std::shared_ptr<const node> root_;  // never null
};

/// Appends the steps of the dotted field path `text` to `out`; invalid_argument "filter: empty
/// step in field path '...'" for "", "a..b", ".a" or "a.".
status split_field_path(const std::string& text, std::vector<std::string>& out);

/// Appends to `out` the values the dotted field `path` reaches in `doc` as filters resolve it
/// (see above: through objects, and through arrays into their object elements and at numeric
/// steps); nothing when `doc` is not an object. The pointers point into `doc`.
void resolve_field(const nlohmann::ordered_json& doc, const std::vector<std::string>& path,
                   std::vector<const nlohmann::ordered_json*>& out);

/// The order of two numbers (-1, 0, 1), exact across integer, unsigned and floating values.
/// Both must be numbers.
int compare_numbers(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b);

/// Equality of JSON values as the filter's $eq: numbers by value, objects regardless of member
/// order. Recursion is bounded by the shallower of the two values.
bool json_equal(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b);

}  // namespace eventbase::protocol
