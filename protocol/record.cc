#include "protocol/record.hpp"

#include <limits>
#include <type_traits>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "protocol/json_msgpack.hpp"
#include "protocol/timestamp.hpp"

namespace eventbase::protocol {
namespace {

// msgpack-c packs into any type with write(const char*, size_t).
struct string_sink {
  std::string& out;
  void write(const char* data, size_t size) { out.append(data, size); }
};

// Reads one msgpack integer without allocating (msgpack-c's SAX-style parser).
struct integer_visitor : msgpack::null_visitor {
  bool is_integer = false;
  bool negative = false;
  uint64_t magnitude = 0;
  int64_t signed_value = 0;
  bool visit_positive_integer(uint64_t v) {
    is_integer = true;
    magnitude = v;
    return true;
  }
  bool visit_negative_integer(int64_t v) {
    is_integer = true;
    negative = true;
    signed_value = v;
    return true;
  }
  void parse_error(size_t, size_t) {}
  void insufficient_bytes(size_t, size_t) {}
};

template <class T>
bool unpack_integer(std::string_view bytes, size_t& offset, T& out) {
  integer_visitor visitor;
  if (!msgpack::parse(bytes.data(), bytes.size(), offset, visitor) || !visitor.is_integer)
    return false;
  if (visitor.negative) {
    if constexpr (std::is_signed_v<T>) {
      out = static_cast<T>(visitor.signed_value);
      return true;
    }
    return false;
  }
  if (visitor.magnitude > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
  out = static_cast<T>(visitor.magnitude);
  return true;
}

}  // namespace

std::string encode_record(const meta& m, uint64_t sequence, std::string_view data_msgpack) {
  std::string out;
  out.reserve(data_msgpack.size() + 40);
  string_sink sink{out};
  msgpack::packer<string_sink> packer(sink);
  packer.pack_uint64(kRecordFormat);
  packer.pack_int64(m.date_created_ms);
  packer.pack_int64(m.date_modified_ms);
  packer.pack_uint64(m.changes);
  packer.pack_uint64(sequence);
  out.append(data_msgpack);
  return out;
}

result<record_view> decode_record(std::string_view bytes) {
  record_view view;
  size_t offset = 0;
  uint64_t format = 0;
  if (!unpack_integer(bytes, offset, format))
    return status(errc::corrupt, "record has no format number");
  if (format != kRecordFormat)
    return status(errc::corrupt, "record format " + std::to_string(format) + " is not supported");
  if (!unpack_integer(bytes, offset, view.m.date_created_ms) ||
      !unpack_integer(bytes, offset, view.m.date_modified_ms) ||
      !unpack_integer(bytes, offset, view.m.changes) ||
      !unpack_integer(bytes, offset, view.sequence))
    return status(errc::corrupt, "record header is truncated");
  if (offset >= bytes.size()) return status(errc::corrupt, "record has no document");
  view.data_msgpack = bytes.substr(offset);
  return view;
}

result<nlohmann::json> decode_document(std::string_view data_msgpack) {
  nlohmann::json doc;
  if (!msgpack_to_json(data_msgpack, doc))
    return status(errc::corrupt, "stored document is not valid msgpack");
  return doc;
}

void append_msgpack(const nlohmann::json& value, std::string& out) {
  nlohmann::json::to_msgpack(value, nlohmann::detail::output_adapter<char>(out));
}

nlohmann::json meta_to_json(const meta& m) {
  return nlohmann::json{{"dateCreated", format_iso8601_ms(m.date_created_ms)},
                        {"dateModified", format_iso8601_ms(m.date_modified_ms)},
                        {"changes", m.changes}};
}

}  // namespace eventbase::protocol
