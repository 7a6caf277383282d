// Fast conversions between JSON and msgpack for the hot paths. JSON -> msgpack: SAX events from
// nlohmann's parser written straight into msgpack bytes, with no JSON tree in between. Decoding an
// event on the hot path this way is several times cheaper than parsing it into nlohmann::json and
// converting that. msgpack -> JSON: an order-keeping tree (nlohmann::ordered_json), the one way
// Eventbase builds document trees from bytes (protocol/document.hpp parses text through it).
// Both keep the members of objects in the order they come in.
//
// Maps and arrays are written with 32-bit length headers (patched when they end), a valid
// encoding that every msgpack reader accepts; scalars use their shortest form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace eventbase::protocol {

/// Decodes one msgpack value into JSON with msgpack-c's parser, which hands strings over whole
/// (nlohmann's from_msgpack reads them byte by byte). Maps keep the order of their keys; a key
/// that appears twice in one map keeps its first position and takes its last value, as
/// JavaScript's JSON.parse does. Linear in the input (n log n for maps with many keys), with
/// memory bounded by the input's size, whatever the counts in the input claim. False when
/// `bytes` is not exactly one valid value of the kinds JSON has (map keys must be strings), or
/// nests deeper than `max_depth` levels.
bool msgpack_to_json(std::string_view bytes, nlohmann::ordered_json& out, size_t max_depth);

/// Writes JSON parse events as msgpack. Refuses (returns false from start_object/start_array)
/// to nest containers deeper than `max_depth`.
class msgpack_builder {
 public:
  msgpack_builder(std::string& out, size_t max_depth) : out_(out), max_depth_(max_depth) {}

  // The SAX interface of nlohmann::json (only the events JSON text produces).
  bool null();
  bool boolean(bool value);
  bool number_integer(int64_t value);
  bool number_unsigned(uint64_t value);
  bool number_float(double value, const std::string& text);
  bool string(std::string& value);
  bool key(std::string& value);
  bool start_object(std::size_t size);
  bool end_object();
  bool start_array(std::size_t size);
  bool end_array();
  // The rest of the SAX interface, so that a builder can be handed to sax_parse directly: JSON
  // text has no binary values, and a parse error ends the parse.
  template <class Binary>
  bool binary(Binary&) {
    return false;
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception&) {
    return false;
  }

  /// True once a complete value was written.
  bool complete() const { return started_ && open_.empty(); }
  size_t depth() const { return open_.size(); }
  /// True once a container was refused for its depth.
  bool too_deep() const { return too_deep_; }

 private:
  void begin_value();  // counts an element of the enclosing array
  bool open_container(uint8_t marker, bool is_map);
  void close_container();

  struct container {
    size_t header;  // offset of the 32-bit count
    uint32_t count;
    bool is_map;
  };
  std::string& out_;
  std::vector<container> open_;
  size_t max_depth_;
  bool started_ = false;
  bool too_deep_ = false;
};

}  // namespace eventbase::protocol
