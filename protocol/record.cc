// Records: encoding and decoding (see record.hpp).
#include "protocol/record.hpp"

#include <limits>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "protocol/document.hpp"
#include "protocol/json_msgpack.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase::protocol {
namespace {

// msgpack-c packs into any type with write(const char*, size_t).
struct string_sink {
  std::string& out;
  void write(const char* data, size_t size) { out.append(data, size); }
};

// Reads the header array without allocating (msgpack-c's SAX-style parser).
struct header_visitor : msgpack::null_visitor {
  int64_t values[5] = {0, 0, 0, 0, 0};
  bool negative[5] = {false, false, false, false, false};
  uint32_t size = 0;
  uint32_t seen = 0;
  bool well_formed = true;
  int depth = 0;

  bool start_array(uint32_t n) {
    size = n;
    well_formed = well_formed && ++depth == 1;
    return well_formed;
  }
  bool end_array() {
    --depth;
    return true;
  }
  bool visit_positive_integer(uint64_t v) {
    if (seen >= 5 || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return well_formed = false;
    values[seen++] = static_cast<int64_t>(v);
    return true;
  }
  bool visit_negative_integer(int64_t v) {
    if (seen >= 5) return well_formed = false;
    negative[seen] = true;
    values[seen++] = v;
    return true;
  }
  // Anything else in the header is malformed.
  bool visit_nil() { return well_formed = false; }
  bool visit_boolean(bool) { return well_formed = false; }
  bool visit_float32(float) { return well_formed = false; }
  bool visit_float64(double) { return well_formed = false; }
  bool visit_str(const char*, uint32_t) { return well_formed = false; }
  bool visit_bin(const char*, uint32_t) { return well_formed = false; }
  bool visit_ext(const char*, uint32_t) { return well_formed = false; }
  bool start_map(uint32_t) { return well_formed = false; }
  void parse_error(size_t, size_t) { well_formed = false; }
  void insufficient_bytes(size_t, size_t) { well_formed = false; }
};

}  // namespace

std::string encode_record(const meta& m, uint64_t sequence, std::string_view data_msgpack) {
  std::string out;
  out.reserve(data_msgpack.size() + 40);
  string_sink sink{out};
  msgpack::packer<string_sink> packer(sink);
  packer.pack_array(5);
  packer.pack_uint64(kRecordFormat);
  packer.pack_int64(m.date_created_ms);
  packer.pack_int64(m.date_modified_ms);
  packer.pack_uint64(m.changes);
  packer.pack_uint64(sequence);
  out.append(data_msgpack);
  return out;
}

result<record_view> decode_record(std::string_view bytes) {
  header_visitor header;
  size_t offset = 0;
  if (!msgpack::parse(bytes.data(), bytes.size(), offset, header) || !header.well_formed ||
      header.seen == 0)
    return status(errc::corrupt, "record has no header");
  if (header.negative[0] || static_cast<uint64_t>(header.values[0]) != kRecordFormat)
    return status(errc::corrupt,
                  "record format " + std::to_string(header.values[0]) + " is not supported");
  if (header.size != 5 || header.seen != 5 || header.negative[3] || header.negative[4])
    return status(errc::corrupt, "record header is malformed");
  if (offset >= bytes.size()) return status(errc::corrupt, "record has no document");
  record_view view;
  view.m.date_created_ms = header.values[1];
  view.m.date_modified_ms = header.values[2];
  view.m.changes = static_cast<uint64_t>(header.values[3]);
  view.sequence = static_cast<uint64_t>(header.values[4]);
  view.data_msgpack = bytes.substr(offset);
  return view;
}

result<nlohmann::ordered_json> decode_document(std::string_view data_msgpack) {
  nlohmann::ordered_json doc;
  if (!msgpack_to_json(data_msgpack, doc, kMaxDocumentDepth))
    return status(errc::corrupt, "stored document is not valid msgpack (or nests deeper than " +
                                     std::to_string(kMaxDocumentDepth) + " levels)");
  return doc;
}

void append_msgpack(const nlohmann::ordered_json& value, std::string& out) {
  nlohmann::ordered_json::to_msgpack(value, nlohmann::detail::output_adapter<char>(out));
}

nlohmann::json meta_to_json(const meta& m) {
  return nlohmann::json{{"dateCreated", format_iso8601_ms(m.date_created_ms)},
                        {"dateModified", format_iso8601_ms(m.date_modified_ms)},
                        {"changes", m.changes}};
}

}  // namespace eventbase::protocol
