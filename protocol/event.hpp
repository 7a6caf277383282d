// The event codec: what travels on the JetStream stream (doc/wire-format.md), byte-compatible with
// the JavaScript library so that JS and C++ nodes can share a stream.
//
//   subject  <stream>.<base64(key)>-put      payload {"type":"PUT","id":<key>,"data":<json>,
//                                                      "timestamp":<ms>}
//   subject  <stream>.<base64(key)>-delete   payload {"type":"DELETE","id":<key>,"timestamp":<ms>}
//
// The payload is exactly what the JS library publishes for the same event (JSON.stringify of
// those fields, in that order). Eventbase's own addition, the writer's view of the key's
// metadata, travels in NATS headers (kChangesHeader, kDateCreatedHeader) that JS readers never
// look at. Replicas take `changes` and `dateCreated` from them, so every replica agrees even when
// compaction has removed earlier events of the key; events without them (written by JS nodes)
// are counted from the replica's own state. Eventbase before this format put the same metadata
// in the body, as "meta":{"changes":N,"dateCreated":...}; such events are still read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eventbase/status.hpp"
#include "protocol/record.hpp"

namespace eventbase::protocol {

enum class event_type : uint8_t { put, erase };

/// The writer's metadata carried with a PUT event.
struct carried_meta {
  uint64_t changes = 0;                 // 0: absent (event written by a JS node)
  std::optional<int64_t> date_created;  // absent: the key is new, created = this event's time
  /// The key's revision in the writer's replica when it computed the above (that of its live
  /// record, or of its DELETE; 0: the key was unknown there). A replica that has applied a
  /// DELETE of the key after it knows the writer had not seen that delete (the PUT landed
  /// between a DELETE and the purge of the key's older PUTs): the key is then new again
  /// (meta_after_put). nullopt: not carried (an Eventbase before revisions).
  std::optional<uint64_t> base_revision;
};

/// The NATS headers that carry it: `changes` in decimal, for a key that existed `dateCreated`
/// as ISO-8601 UTC with milliseconds ("2024-12-07T10:00:00.123Z"), and the base revision in
/// decimal.
inline constexpr const char* kChangesHeader = "Eventbase-Changes";
inline constexpr const char* kDateCreatedHeader = "Eventbase-Date-Created";
inline constexpr const char* kBaseRevisionHeader = "Eventbase-Base-Revision";

/// Expiry (doc/history.md "Expiry"): a PUT with kTtlHeader (whole seconds, 1..kMaxTtlSeconds)
/// expires that long after its JetStream time; the node that finds it expired publishes a
/// DELETE with kExpiredRevisionHeader (the PUT's revision), which replicas apply only while the
/// key is still at that revision, so a later write of the key is never removed by it.
inline constexpr const char* kTtlHeader = "Eventbase-TTL";
inline constexpr const char* kExpiredRevisionHeader = "Eventbase-Expired-Revision";
/// Ten years.
inline constexpr uint64_t kMaxTtlSeconds = uint64_t{10} * 365 * 24 * 3600;

/// A message's headers as (name, value) pairs, in order (the same type as nats::headers).
using header_list = std::vector<std::pair<std::string, std::string>>;

std::string put_subject(std::string_view stream, std::string_view key);
std::string delete_subject(std::string_view stream, std::string_view key);

/// The payload of a PUT. `data_json` must be the document as JavaScript writes it
/// (canonical_document, protocol/document.hpp), so that the payload is the JS library's byte
/// for byte; `key` must be valid UTF-8.
std::string encode_put_payload(std::string_view key, std::string_view data_json,
                               int64_t timestamp_ms);

std::string encode_delete_payload(std::string_view key, int64_t timestamp_ms);

/// The document of a payload encode_put_payload wrote (the text after "data": up to the
/// timestamp); empty for anything else.
std::string_view put_payload_document(std::string_view payload);

/// The headers that carry `meta` with a PUT (kChangesHeader, and kDateCreatedHeader when set).
header_list meta_headers(const carried_meta& meta);

/// An event as read from the stream, with its document already converted to msgpack (the
/// storage format), so that applying it needs no further parsing.
struct decoded_event {
  event_type type = event_type::put;
  std::string key;
  std::string data_msgpack;       // PUT only: the document as msgpack; `null` when absent
  int64_t timestamp_ms = 0;       // the writer's clock; metadata uses the JetStream time instead
  carried_meta meta;              // from the headers, else from a "meta" member of the body
  bool meta_in_body = false;      // the body has a "meta" member (an earlier Eventbase wrote it)
  std::string meta_problem;       // why metadata headers were ignored; empty when they were not
  uint64_t ttl_seconds = 0;       // PUT: kTtlHeader; 0: does not expire
  uint64_t expired_revision = 0;  // DELETE: kExpiredRevisionHeader; 0: a plain delete
};

/// What a writer carries in a PUT of a key whose current record has metadata `previous`
/// (nullptr: the key is absent) and whose revision in its replica is `base_revision`.
carried_meta carry_meta(const meta* previous, uint64_t base_revision);

/// The metadata a replica stores when it applies a PUT at JetStream time `event_time_ms`.
/// With carried metadata (Eventbase writers) the result depends only on the event and on
/// `deleted_after_base` (the replica applied a DELETE of the key after the writer's base
/// revision: the key starts anew), so every replica agrees; without it (JS writers) it
/// continues from `previous` as the JS library does.
meta meta_after_put(const meta* previous, const carried_meta& carried, int64_t event_time_ms,
                    bool deleted_after_base = false);

/// Decodes a payload and the metadata headers of its message. Never throws: a malformed payload
/// (not JSON, not an object, unknown "type", missing or empty or non-string "id", a document
/// nested deeper than kMaxDocumentDepth) yields corrupt with the reason. Metadata headers that
/// do not parse (a changes count that is not a positive decimal number, a date that is not
/// ISO-8601 with milliseconds, a date without a count) do not make the event malformed: they are
/// ignored, `meta_problem` says why, and the event applies as a JS writer's would.
result<decoded_event> decode_event(std::string_view payload, const header_list& headers = {});

/// The payload as subscribers get it: `payload` itself, except for an event with a "meta"
/// member in its body (written by an earlier Eventbase), which is written anew without it (the
/// JS library's fields, in its order), so that subscribers see the same fields whoever wrote a
/// change. `ev` is the decoded `payload`.
std::string payload_for_subscribers(const decoded_event& ev, std::string_view payload);

}  // namespace eventbase::protocol
