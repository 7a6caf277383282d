// Document checks (see document.hpp).
#include "protocol/document.hpp"

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

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

}  // namespace

status too_deep_error() {
  return status(errc::invalid_argument,
                "the document nests deeper than " + std::to_string(kMaxDocumentDepth) + " levels");
}

status validate_document(std::string_view text) {
  depth_checker checker;
  if (nlohmann::json::sax_parse(text.begin(), text.end(), &checker)) return status::OK();
  if (checker.too_deep) return too_deep_error();
  return status(errc::invalid_argument, "the document is not valid JSON");
}

result<nlohmann::json> parse_document(std::string_view text) {
  if (auto st = validate_document(text); !st.ok()) return st;
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

size_t document_depth(const nlohmann::json& value, size_t limit) {
  size_t deepest = 0;
  std::vector<std::pair<const nlohmann::json*, size_t>> pending{{&value, 0}};
  while (!pending.empty()) {
    auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace eventbase::protocol
