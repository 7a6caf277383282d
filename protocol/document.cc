// Document checks and parsing (see document.hpp).
#include "protocol/document.hpp"

#include <string>

#include <nlohmann/json.hpp>

#include "protocol/js_json.hpp"
#include "protocol/json_msgpack.hpp"

namespace eventbase::protocol {
namespace {

// A SAX consumer that only counts the nesting depth and aborts beyond the limit.
struct depth_checker {
  size_t depth = 0;
  bool too_deep = false;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(int64_t) { return true; }
  bool number_unsigned(uint64_t) { return true; }
  bool number_float(double, const std::string&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(nlohmann::json::binary_t&) { return true; }
  bool key(std::string&) { return true; }
  bool start_object(std::size_t) { return open(); }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

  bool open() {
    if (++depth > kMaxDocumentDepth) too_deep = true;
    return !too_deep;
  }
  bool close() {
    --depth;
    return true;
  }
};

status not_json() {
  return status(errc::invalid_argument, "the document is not valid JSON");
}

}  // namespace

status too_deep_error() {
  return status(errc::invalid_argument,
                "the document nests deeper than " + std::to_string(kMaxDocumentDepth) + " levels");
}

status validate_document(std::string_view text) {
  depth_checker checker;
  if (nlohmann::json::sax_parse(text.begin(), text.end(), &checker)) return status::OK();
  if (checker.too_deep) return too_deep_error();
  return not_json();
}

result<nlohmann::ordered_json> parse_json(std::string_view text, size_t max_depth) {
  // Text -> msgpack (SAX, no tree) -> tree: the msgpack has the exact count of every container,
  // so the tree is built without growing any of them (json_msgpack.hpp).
  std::string packed;
  msgpack_builder builder(packed, max_depth);
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &builder))
    return builder.too_deep() ? too_deep_error() : not_json();
  nlohmann::ordered_json out;
  if (!msgpack_to_json(packed, out, max_depth))
    return status(errc::internal, "a parsed document did not convert to a tree");
  return out;
}

result<nlohmann::ordered_json> parse_document(std::string_view text) {
  return parse_json(text, kMaxDocumentDepth);
}

result<std::string> canonical_document(std::string_view text) {
  auto doc = parse_document(text);
  if (!doc.ok()) return doc.error();
  std::string out;
  out.reserve(text.size());
  if (auto st = stringify(*doc, out); !st.ok()) return st;
  return out;
}

}  // namespace eventbase::protocol
