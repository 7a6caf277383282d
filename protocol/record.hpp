// The binary record (doc/storage-format.md "Records"): how a document and its metadata are
// stored in RocksDB and carried in actor messages (`eventbase::entry`). One record is two msgpack
// values in a row:
//
//   [format(=1), dateCreated(ms), dateModified(ms), changes, sequence]   data
//
// The header is an array of five integers written and read with msgpack-c (one parse); `data`
// is the document as one msgpack value (written by nlohmann::json or json_msgpack.hpp, read by
// json_msgpack.hpp; both keep JSON exactly, and the members of maps in the order written).
// `sequence` is the stream sequence of the event that produced the record. Readers reject any other
// format number, so the layout can evolve behind a new one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "eventbase/status.hpp"

namespace eventbase::protocol {

inline constexpr uint64_t kRecordFormat = 1;

struct meta {
  int64_t date_created_ms = 0;
  int64_t date_modified_ms = 0;
  uint64_t changes = 0;

  bool operator==(const meta& other) const {
    return date_created_ms == other.date_created_ms && date_modified_ms == other.date_modified_ms &&
           changes == other.changes;
  }
};

std::string encode_record(const meta& m, uint64_t sequence, std::string_view data_msgpack);

/// A decoded record header; `data_msgpack` points into the bytes it was decoded from.
struct record_view {
  meta m;
  uint64_t sequence = 0;
  std::string_view data_msgpack;
};

/// corrupt when `bytes` is not a record of a known format.
result<record_view> decode_record(std::string_view bytes);

/// The document of a record as JSON, its objects' members in stored order (msgpack_to_json);
/// corrupt when the msgpack is malformed.
result<nlohmann::ordered_json> decode_document(std::string_view data_msgpack);

/// Appends `value` in msgpack to `out`, members in their order.
void append_msgpack(const nlohmann::ordered_json& value, std::string& out);

/// {"dateCreated":"...Z","dateModified":"...Z","changes":N}
nlohmann::json meta_to_json(const meta& m);

}  // namespace eventbase::protocol
