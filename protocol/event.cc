// The event codec (see event.hpp).
#include "protocol/event.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "protocol/base64.hpp"
#include "protocol/document.hpp"
#include "protocol/js_json.hpp"
#include "protocol/json_msgpack.hpp"
#include "protocol/record.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase::protocol {
namespace {

using json = nlohmann::json;

std::string key_subject(std::string_view stream, std::string_view key, std::string_view suffix) {
  std::string subject;
  subject.reserve(stream.size() + 1 + (key.size() + 2) / 3 * 4 + suffix.size());
  subject.append(stream);
  subject += '.';
  subject += base64_encode(key);
  subject.append(suffix);
  return subject;
}

// The key as a JSON string. Keys are valid UTF-8 when written here; a foreign key that is not
// is written as a JavaScript decoder would read it.
void append_key(std::string_view key, std::string& out) {
  append_js_string(key, out, invalid_utf8::replace);
}

status corrupt(std::string reason) {
  return status(errc::corrupt, std::move(reason));
}

}  // namespace

std::string put_subject(std::string_view stream, std::string_view key) {
  return key_subject(stream, key, "-put");
}

std::string delete_subject(std::string_view stream, std::string_view key) {
  return key_subject(stream, key, "-delete");
}

std::string encode_put_payload(std::string_view key, std::string_view data_json,
                               int64_t timestamp_ms) {
  std::string out;
  out.reserve(data_json.size() + key.size() + 64);
  out += R"({"type":"PUT","id":)";
  append_key(key, out);
  out += R"(,"data":)";
  out.append(data_json);
  out += R"(,"timestamp":)";
  out += std::to_string(timestamp_ms);
  out += '}';
  return out;
}

std::string encode_delete_payload(std::string_view key, int64_t timestamp_ms) {
  std::string out = R"({"type":"DELETE","id":)";
  append_key(key, out);
  out += R"(,"timestamp":)";
  out += std::to_string(timestamp_ms);
  out += '}';
  return out;
}

std::string_view put_payload_document(std::string_view payload) {
  // The key before it is a JSON string, in which a quote is always escaped: the first
  // `,"data":` is the member's. The document may hold `,"timestamp":`, the last one is ours.
  constexpr std::string_view kData = R"(,"data":)", kTimestamp = R"(,"timestamp":)";
  size_t begin = payload.find(kData);
  size_t end = payload.rfind(kTimestamp);
  if (begin == std::string_view::npos || end == std::string_view::npos ||
      end < begin + kData.size())
    return {};
  begin += kData.size();
  return payload.substr(begin, end - begin);
}

header_list meta_headers(const carried_meta& meta) {
  header_list out;
  out.emplace_back(kChangesHeader, std::to_string(meta.changes));
  if (meta.date_created)
    out.emplace_back(kDateCreatedHeader, format_iso8601_ms(*meta.date_created));
  if (meta.base_revision)
    out.emplace_back(kBaseRevisionHeader, std::to_string(*meta.base_revision));
  return out;
}

carried_meta carry_meta(const meta* previous, uint64_t base_revision) {
  carried_meta out;
  out.base_revision = base_revision;
  if (previous == nullptr) {
    out.changes = 1;
  } else {
    out.changes = previous->changes + 1;
    out.date_created = previous->date_created_ms;
  }
  return out;
}

meta meta_after_put(const meta* previous, const carried_meta& carried, int64_t event_time_ms,
                    bool deleted_after_base) {
  meta out;
  out.date_modified_ms = event_time_ms;
  if (carried.changes > 0 && deleted_after_base) {
    out.changes = 1;  // what the writer would have carried had it seen the delete
    out.date_created_ms = event_time_ms;
  } else if (carried.changes > 0) {
    out.changes = carried.changes;
    out.date_created_ms = carried.date_created.value_or(event_time_ms);
  } else if (previous != nullptr) {
    out.changes = previous->changes + 1;
    out.date_created_ms = previous->date_created_ms;
  } else {
    out.changes = 1;
    out.date_created_ms = event_time_ms;
  }
  return out;
}

namespace {

// The writer's clock in whole milliseconds. No clock reaches beyond int64, so a timestamp that
// does is garbage from some writer: it saturates instead of wrapping (or, from a double, being
// converted with undefined behaviour).
int64_t clamp_ms(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}
int64_t clamp_ms(double v) {
  if (std::isnan(v)) return 0;  // JSON text has no NaN
  if (v >= 0x1p63) return std::numeric_limits<int64_t>::max();
  if (v < -0x1p63) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);  // truncates toward zero, as before
}

// Reads an event with nlohmann's SAX parser: the document goes straight into msgpack, nothing
// else of the payload is kept.
class event_reader {
 public:
  decoded_event ev;
  std::string problem;  // the first reason the event is invalid
  bool saw_type = false;
  bool saw_id = false;
  bool saw_data = false;

  bool null() {
    return scalar([&](msgpack_builder& b) { return b.null(); }, value_kind::null);
  }
  bool boolean(bool v) {
    return scalar([&](msgpack_builder& b) { return b.boolean(v); }, value_kind::other);
  }
  bool number_integer(int64_t v) {
    if (field_ == field::timestamp) ev.timestamp_ms = v;
    return scalar([&](msgpack_builder& b) { return b.number_integer(v); }, value_kind::other);
  }
  bool number_unsigned(uint64_t v) {
    if (field_ == field::timestamp) ev.timestamp_ms = clamp_ms(v);
    if (field_ == field::meta_changes) ev.meta.changes = v;
    return scalar([&](msgpack_builder& b) { return b.number_unsigned(v); }, value_kind::other);
  }
  bool number_float(double v, const std::string& text) {
    if (field_ == field::timestamp) ev.timestamp_ms = clamp_ms(v);
    return scalar([&](msgpack_builder& b) { return b.number_float(v, text); }, value_kind::other);
  }
  bool string(std::string& v) {
    if (data_ != nullptr) return forward([&](msgpack_builder& b) { return b.string(v); });
    if (skip_ == 0) {
      switch (field_) {
        case field::type:
          saw_type = true;
          if (v == "PUT")
            ev.type = event_type::put;
          else if (v == "DELETE")
            ev.type = event_type::erase;
          else
            fail("unknown event type \"" + v + "\"");
          break;
        case field::id:
          if (v.empty()) fail("event has no non-empty \"id\" string");
          saw_id = true;
          ev.key = std::move(v);
          break;
        case field::meta_created:
          ev.meta.date_created = parse_iso8601_ms(v);
          break;
        default:
          break;
      }
    }
    return scalar(nullptr, value_kind::string_value);
  }
  bool binary(nlohmann::json::binary_t&) { return true; }  // JSON text has none

  bool start_object(std::size_t n) {
    if (data_ != nullptr) return forward([&](msgpack_builder& b) { return b.start_object(n); });
    if (depth_ == 0) {
      depth_ = 1;
      return true;
    }
    if (skip_ > 0 || field_ != field::meta) return open_skip();
    in_meta_ = true;
    field_ = field::none;
    return true;
  }
  bool key(std::string& k) {
    if (data_ != nullptr) return forward([&](msgpack_builder& b) { return b.key(k); });
    if (skip_ > 0) return true;
    if (in_meta_) {
      field_ = k == "changes"       ? field::meta_changes
               : k == "dateCreated" ? field::meta_created
                                    : field::none;
      return true;
    }
    if (k == "type") {
      field_ = field::type;
    } else if (k == "id") {
      field_ = field::id;
    } else if (k == "data") {
      field_ = field::data;
      saw_data = true;
      ev.data_msgpack.clear();
      builder_ = std::make_unique<msgpack_builder>(ev.data_msgpack, kMaxDocumentDepth);
      data_ = builder_.get();
    } else if (k == "timestamp") {
      field_ = field::timestamp;
    } else if (k == "meta") {
      field_ = field::meta;
      ev.meta_in_body = true;
    } else {
      field_ = field::none;
    }
    return true;
  }
  bool end_object() {
    if (data_ != nullptr) return forward([&](msgpack_builder& b) { return b.end_object(); });
    if (skip_ > 0) return close_skip();
    if (in_meta_) {
      in_meta_ = false;
      field_ = field::none;
      return true;
    }
    depth_ = 0;  // the event ends
    return true;
  }
  bool start_array(std::size_t n) {
    if (data_ != nullptr) return forward([&](msgpack_builder& b) { return b.start_array(n); });
    if (depth_ == 0) return fail("payload is not a JSON object");
    return open_skip();
  }
  bool end_array() {
    if (data_ != nullptr) return forward([&](msgpack_builder& b) { return b.end_array(); });
    return close_skip();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    if (problem.empty()) problem = "payload is not JSON";
    return false;
  }

 private:
  enum class field { none, type, id, data, timestamp, meta, meta_changes, meta_created };
  enum class value_kind { null, string_value, other };

  bool fail(std::string why) {
    if (problem.empty()) problem = std::move(why);
    return false;
  }

  // A scalar at the event level (or inside data, or skipped).
  template <class Write>
  bool scalar(Write&& write, value_kind kind) {
    if (data_ != nullptr) return forward(std::forward<Write>(write));
    if (depth_ == 0) return fail("payload is not a JSON object");
    if (skip_ == 0) {
      if (field_ == field::type && kind != value_kind::string_value)
        return fail("event has no \"type\" string");
      if (field_ == field::id && kind != value_kind::string_value)
        return fail("event has no non-empty \"id\" string");
      if (!in_meta_ || field_ != field::none) field_ = field::none;
    }
    return true;
  }

  template <class Write>
  bool forward(Write&& write) {
    bool ok = true;
    if constexpr (!std::is_same_v<std::decay_t<Write>, std::nullptr_t>) ok = write(*data_);
    if (!ok) return fail(data_->too_deep() ? too_deep_error().message() : "malformed document");
    if (data_->complete()) {
      data_ = nullptr;
      field_ = field::none;
    }
    return ok;
  }

  bool open_skip() {
    if (skip_ == 0 && (field_ == field::type || field_ == field::id))
      return fail(field_ == field::type ? "event has no \"type\" string"
                                        : "event has no non-empty \"id\" string");
    ++skip_;
    return true;
  }
  bool close_skip() {
    if (--skip_ == 0) field_ = field::none;
    return true;
  }

  int depth_ = 0;
  int skip_ = 0;
  bool in_meta_ = false;
  field field_ = field::none;
  std::unique_ptr<msgpack_builder> builder_;
  msgpack_builder* data_ = nullptr;  // set while the document's value is being read
};

}  // namespace

namespace {

// A header value as an error message quotes it: at most 64 bytes.
std::string excerpt(const std::string& value) {
  return value.size() <= 64 ? value : value.substr(0, 64) + "...";
}

const std::string* find_header(const header_list& headers, std::string_view name) {
  for (const auto& [key, value] : headers)
    if (key == name) return &value;
  return nullptr;
}

// The metadata headers of an event: nullopt when there are none; `problem` says why present
// ones were not usable.
std::optional<carried_meta> read_meta_headers(const header_list& headers, std::string& problem) {
  const std::string* changes = find_header(headers, kChangesHeader);
  const std::string* created = find_header(headers, kDateCreatedHeader);
  if (changes == nullptr && created == nullptr) return std::nullopt;
  carried_meta out;
  if (changes == nullptr) {
    problem = std::string(kDateCreatedHeader) + " without " + kChangesHeader;
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(changes->data(), changes->data() + changes->size(), out.changes);
  if (ec != std::errc() || end != changes->data() + changes->size() || out.changes == 0) {
    problem = std::string(kChangesHeader) + " '" + excerpt(*changes) + "' is not a positive number";
    return std::nullopt;
  }
  if (created != nullptr) {
    out.date_created = parse_iso8601_ms(*created);
    if (!out.date_created) {
      problem = std::string(kDateCreatedHeader) + " '" + excerpt(*created) +
                "' is not an ISO-8601 UTC time with milliseconds";
      return std::nullopt;
    }
  }
  if (const std::string* base = find_header(headers, kBaseRevisionHeader)) {
    uint64_t revision = 0;
    auto [at, bad] = std::from_chars(base->data(), base->data() + base->size(), revision);
    if (bad != std::errc() || at != base->data() + base->size() || base->empty()) {
      problem = std::string(kBaseRevisionHeader) + " '" + excerpt(*base) + "' is not a number";
      return std::nullopt;
    }
    out.base_revision = revision;
  }
  return out;
}

}  // namespace

result<decoded_event> decode_event(std::string_view payload, const header_list& headers) {
  event_reader reader;
  bool parsed = json::sax_parse(payload.begin(), payload.end(), &reader);
  if (!parsed || !reader.problem.empty())
    return corrupt(reader.problem.empty() ? "payload is not JSON" : reader.problem);
  if (!reader.saw_type) return corrupt("event has no \"type\" string");
  if (!reader.saw_id) return corrupt("event has no non-empty \"id\" string");
  decoded_event ev = std::move(reader.ev);
  if (auto carried = read_meta_headers(headers, ev.meta_problem)) ev.meta = *carried;
  // Expiry headers that do not parse are ignored (the event applies as a plain one).
  auto number = [&](const char* name) -> uint64_t {
    const std::string* text = find_header(headers, name);
    uint64_t value = 0;
    if (text == nullptr) return 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) return 0;
    return value;
  };
  if (ev.type == event_type::put) {
    ev.ttl_seconds = number(kTtlHeader);
    if (ev.ttl_seconds > kMaxTtlSeconds) ev.ttl_seconds = 0;
  } else {
    ev.expired_revision = number(kExpiredRevisionHeader);
  }
  if (ev.type == event_type::put) {
    if (!reader.saw_data) ev.data_msgpack.assign(1, static_cast<char>(0xc0));  // null
  } else {
    ev.data_msgpack.clear();
  }
  return ev;
}

std::string payload_for_subscribers(const decoded_event& ev, std::string_view payload) {
  if (!ev.meta_in_body) return std::string(payload);
  if (ev.type == event_type::erase) return encode_delete_payload(ev.key, ev.timestamp_ms);
  auto doc = decode_document(ev.data_msgpack);
  std::string data;
  if (!doc.ok() || !stringify(*doc, data, invalid_utf8::replace).ok()) return std::string(payload);
  return encode_put_payload(ev.key, data, ev.timestamp_ms);
}

}  // namespace eventbase::protocol
