// The event codec: what travels on the JetStream stream (doc/wire-format.md), byte-compatible with
// the JavaScript library so that JS and C++ nodes can share a stream.
//
//   subject  <stream>.<base64(key)>-put      payload {"type":"PUT","id":<key>,"data":<json>,
//                                                      "timestamp":<ms>,"meta":{...}}
//   subject  <stream>.<base64(key)>-delete   payload {"type":"DELETE","id":<key>,"timestamp":<ms>}
//
// "meta" is an Eventbase addition that JS readers ignore: the writer's view of the key's
// metadata ({"changes":N} and, for an existing key, "dateCreated"). Replicas take `changes` and
// `dateCreated` from it, so every replica agrees even when compaction has removed earlier events
// of the key; events without it (written by JS nodes) are counted from the replica's own state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "eventbase/status.hpp"
#include "protocol/record.hpp"

namespace eventbase::protocol {

enum class event_type : uint8_t { put, erase };

/// The writer's metadata carried in a PUT event.
struct carried_meta {
  uint64_t changes = 0;                 // 0: absent (event written by a JS node)
  std::optional<int64_t> date_created;  // absent: the key is new, created = this event's time
};

std::string put_subject(std::string_view stream, std::string_view key);
std::string delete_subject(std::string_view stream, std::string_view key);

/// The payload of a PUT. `data_json` must be valid JSON text (the caller validates it); `key`
/// must be valid UTF-8.
std::string encode_put_payload(std::string_view key, std::string_view data_json,
                               int64_t timestamp_ms, const carried_meta& meta);

std::string encode_delete_payload(std::string_view key, int64_t timestamp_ms);

/// An event as read from the stream, with its document already converted to msgpack (the
/// storage format), so that applying it needs no further parsing.
struct decoded_event {
  event_type type = event_type::put;
  std::string key;
  std::string data_msgpack;  // PUT only: the document as msgpack; `null` when absent
  int64_t timestamp_ms = 0;  // the writer's clock; metadata uses the JetStream time instead
  carried_meta meta;
};

/// What a writer carries in a PUT of a key whose current record has metadata `previous`
/// (nullptr: the key is absent).
carried_meta carry_meta(const meta* previous);

/// The metadata a replica stores when it applies a PUT at JetStream time `event_time_ms`.
/// With carried metadata (Eventbase writers) the result depends only on the event, so every
/// replica agrees; without it (JS writers) it continues from `previous` as the JS library does.
meta meta_after_put(const meta* previous, const carried_meta& carried, int64_t event_time_ms);

/// Decodes a payload. Never throws: malformed input (not JSON, not an object, unknown "type",
/// missing or empty or non-string "id") yields corrupt with the reason.
result<decoded_event> decode_event(std::string_view payload);

}  // namespace eventbase::protocol
