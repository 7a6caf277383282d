// Atomic batches as JSON lines (see batch.hpp).
#include "protocol/batch.hpp"

#include <unordered_set>

#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/event.hpp"
#include "protocol/js_json.hpp"
#include "protocol/names.hpp"

namespace eventbase::protocol {
namespace {

using json = nlohmann::ordered_json;

status line_error(size_t line, const std::string& what) {
  return status(errc::invalid_argument, "line " + std::to_string(line) + ": " + what);
}

status too_many() {
  return status(errc::too_large, "a batch holds at most " + std::to_string(kMaxBatchWrites) +
                                     " writes (JetStream's limit); this one has more");
}

// The checks shared by both forms: the key, the TTL, the conditions an operation can take.
status check_op(const batch_op& op) {
  if (auto bad = validate_key(op.key); !bad.ok()) return bad;
  if (op.what == batch_op::kind::erase && op.condition.what == write_condition::kind::if_absent)
    return status(errc::invalid_argument, "a delete's condition can only be ifRevision");
  if (op.what == batch_op::kind::erase && op.ttl_seconds != 0)
    return status(errc::invalid_argument, "a delete takes no ttl");
  if (op.ttl_seconds > kMaxTtlSeconds)
    return status(errc::invalid_argument,
                  "a TTL must be within 1.." + std::to_string(kMaxTtlSeconds) + " seconds");
  return status::OK();
}

// A positive integer member, or why not.
result<uint64_t> positive(const json& value, const char* name) {
  if (value.is_number_unsigned() && value.get<uint64_t>() > 0) return value.get<uint64_t>();
  return status(errc::invalid_argument, std::string("\"") + name + "\" takes a positive integer");
}

result<batch_op> parse_line(std::string_view text) {
  auto parsed = parse_json(text, kMaxDocumentDepth + 1);
  if (!parsed.ok()) return parsed.error();
  const json& line = *parsed;
  if (!line.is_object()) return status(errc::invalid_argument, "a write is a JSON object");
  batch_op op;
  bool has_data = false, if_revision = false, if_absent = false;
  for (auto it = line.begin(); it != line.end(); ++it) {
    const auto& name = it.key();
    const auto& value = it.value();
    if (name == "op") {
      if (value == "put") {
        op.what = batch_op::kind::put;
      } else if (value == "delete") {
        op.what = batch_op::kind::erase;
      } else {
        return status(errc::invalid_argument, "\"op\" is \"put\" or \"delete\"");
      }
    } else if (name == "key") {
      if (!value.is_string()) return status(errc::invalid_argument, "\"key\" is a string");
      op.key = value.get<std::string>();
    } else if (name == "data") {
      has_data = true;
      if (auto st = stringify(value, op.data); !st.ok()) return st;
    } else if (name == "ifRevision") {
      auto r = positive(value, "ifRevision");
      if (!r.ok()) return r.error();
      op.condition = write_condition::if_revision(*r);
      if_revision = true;
    } else if (name == "ifAbsent") {
      if (value != true) return status(errc::invalid_argument, "\"ifAbsent\" takes true");
      op.condition = write_condition::if_absent();
      if_absent = true;
    } else if (name == "ttl") {
      auto s = positive(value, "ttl");
      if (!s.ok()) return s.error();
      op.ttl_seconds = *s;
    } else {
      return status(errc::invalid_argument, "unknown member \"" + name + "\"");
    }
  }
  if (!line.contains("op")) return status(errc::invalid_argument, "no \"op\"");
  if (!line.contains("key")) return status(errc::invalid_argument, "no \"key\"");
  if (if_revision && if_absent)
    return status(errc::invalid_argument, "ifRevision and ifAbsent exclude each other");
  if (op.what == batch_op::kind::put && !has_data)
    return status(errc::invalid_argument, "a put needs \"data\"");
  if (op.what == batch_op::kind::erase && has_data)
    return status(errc::invalid_argument, "a delete takes no \"data\"");
  if (auto st = check_op(op); !st.ok()) return st;
  return op;
}

}  // namespace

result<std::vector<batch_op>> parse_batch(std::string_view text) {
  // Counted first: a peer's 10,000-line batch is refused without parsing any of it.
  size_t writes = 0;
  for (size_t at = 0; at < text.size();) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    if (text.substr(at, end - at).find_first_not_of(" \t\r") != std::string_view::npos &&
        ++writes > kMaxBatchWrites)
      return too_many();
    at = end + 1;
  }
  std::vector<batch_op> ops;
  ops.reserve(writes);
  std::unordered_set<std::string> keys;
  size_t number = 0;
  for (size_t at = 0; at < text.size();) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(at, end - at);
    at = end + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto op = parse_line(line);
    if (!op.ok()) return line_error(number, op.error().message());
    if (!keys.insert(op->key).second)
      return line_error(number, "key '" + op->key + "' is written twice in the batch");
    ops.push_back(std::move(*op));
  }
  if (ops.empty()) return status(errc::invalid_argument, "the batch holds no writes");
  return ops;
}

status validate_batch(std::vector<batch_op>& ops) {
  if (ops.empty()) return status(errc::invalid_argument, "the batch holds no writes");
  if (ops.size() > kMaxBatchWrites) return too_many();
  std::unordered_set<std::string> keys;
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    auto fail = [&](const status& st) {
      return status(st.code(), "write " + std::to_string(i + 1) + ": " + st.message());
    };
    if (auto st = check_op(op); !st.ok()) return fail(st);
    if (op.what == batch_op::kind::put) {
      auto canonical = canonical_document(op.data);
      if (!canonical.ok()) return fail(canonical.error());
      op.data = std::move(*canonical);
    } else {
      op.data.clear();
    }
    if (!keys.insert(op.key).second)
      return fail(
          status(errc::invalid_argument, "key '" + op.key + "' is written twice in the batch"));
  }
  return status::OK();
}

std::string batch_lines(const std::vector<batch_op>& ops) {
  std::string out;
  for (const auto& op : ops) {
    out += op.what == batch_op::kind::put ? R"({"op":"put","key":)" : R"({"op":"delete","key":)";
    append_js_string(op.key, out, invalid_utf8::replace);
    if (op.what == batch_op::kind::put) out += ",\"data\":" + op.data;
    if (op.condition.what == write_condition::kind::if_revision)
      out += ",\"ifRevision\":" + std::to_string(op.condition.revision);
    if (op.condition.what == write_condition::kind::if_absent) out += ",\"ifAbsent\":true";
    if (op.ttl_seconds > 0) out += ",\"ttl\":" + std::to_string(op.ttl_seconds);
    out += "}\n";
  }
  return out;
}

}  // namespace eventbase::protocol
