#include "protocol/event.hpp"

#include <nlohmann/json.hpp>

#include "protocol/base64.hpp"
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

std::string json_string(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
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
                               int64_t timestamp_ms, const carried_meta& meta) {
  std::string out;
  out.reserve(data_json.size() + key.size() + 120);
  out += R"({"type":"PUT","id":)";
  out += json_string(key);
  out += R"(,"data":)";
  out.append(data_json);
  out += R"(,"timestamp":)";
  out += std::to_string(timestamp_ms);
  out += R"(,"meta":{"changes":)";
  out += std::to_string(meta.changes);
  if (meta.date_created) {
    out += R"(,"dateCreated":")";
    out += format_iso8601_ms(*meta.date_created);
    out += '"';
  }
  out += "}}";
  return out;
}

std::string encode_delete_payload(std::string_view key, int64_t timestamp_ms) {
  std::string out = R"({"type":"DELETE","id":)";
  out += json_string(key);
  out += R"(,"timestamp":)";
  out += std::to_string(timestamp_ms);
  out += '}';
  return out;
}

carried_meta carry_meta(const meta* previous) {
  carried_meta out;
  if (previous == nullptr) {
    out.changes = 1;
  } else {
    out.changes = previous->changes + 1;
    out.date_created = previous->date_created_ms;
  }
  return out;
}

meta meta_after_put(const meta* previous, const carried_meta& carried, int64_t event_time_ms) {
  meta out;
  out.date_modified_ms = event_time_ms;
  if (carried.changes > 0) {
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

result<decoded_event> decode_event(std::string_view payload) {
  json doc = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return corrupt("payload is not JSON");
  if (!doc.is_object()) return corrupt("payload is not a JSON object");
  decoded_event ev;
  auto type = doc.find("type");
  if (type == doc.end() || !type->is_string()) return corrupt("event has no \"type\" string");
  if (*type == "PUT")
    ev.type = event_type::put;
  else if (*type == "DELETE")
    ev.type = event_type::erase;
  else
    return corrupt("unknown event type " + type->dump());
  auto id = doc.find("id");
  if (id == doc.end() || !id->is_string() || id->get_ref<const std::string&>().empty())
    return corrupt("event has no non-empty \"id\" string");
  ev.key = std::move(id->get_ref<std::string&>());
  if (auto ts = doc.find("timestamp"); ts != doc.end() && ts->is_number())
    ev.timestamp_ms = ts->get<int64_t>();
  if (ev.type == event_type::put) {
    auto data = doc.find("data");
    append_msgpack(data == doc.end() ? json(nullptr) : *data, ev.data_msgpack);
    if (auto meta = doc.find("meta"); meta != doc.end() && meta->is_object()) {
      if (auto changes = meta->find("changes");
          changes != meta->end() && changes->is_number_unsigned())
        ev.meta.changes = changes->get<uint64_t>();
      if (auto created = meta->find("dateCreated"); created != meta->end() && created->is_string())
        ev.meta.date_created = parse_iso8601_ms(created->get_ref<const std::string&>());
    }
  }
  return ev;
}

}  // namespace eventbase::protocol
