// JSON text <-> msgpack on the hot paths (see json_msgpack.hpp).
#include "protocol/json_msgpack.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

namespace eventbase::protocol {
namespace {

struct sink {
  std::string& out;
  void write(const char* data, size_t size) { out.append(data, size); }
};

}  // namespace

void msgpack_builder::begin_value() {
  started_ = true;
  if (!open_.empty() && !open_.back().is_map) ++open_.back().count;
}

bool msgpack_builder::null() {
  begin_value();
  out_.push_back(static_cast<char>(0xc0));
  return true;
}

bool msgpack_builder::boolean(bool value) {
  begin_value();
  out_.push_back(static_cast<char>(value ? 0xc3 : 0xc2));
  return true;
}

bool msgpack_builder::number_integer(int64_t value) {
  begin_value();
  sink s{out_};
  msgpack::packer<sink>(s).pack_int64(value);
  return true;
}

bool msgpack_builder::number_unsigned(uint64_t value) {
  begin_value();
  sink s{out_};
  msgpack::packer<sink>(s).pack_uint64(value);
  return true;
}

bool msgpack_builder::number_float(double value, const std::string&) {
  begin_value();
  // msgpack-c's pack_double writes integral values as integers, but it converts 2^64 (the
  // double nearest UINT64_MAX, which its range check admits) to uint64_t: undefined behaviour.
  // 2^64 and beyond are written as float64 here, as pack_double writes every other non-integer.
  if (value >= 0x1p64) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    out_.push_back(static_cast<char>(0xcb));
    for (int shift = 56; shift >= 0; shift -= 8)
      out_.push_back(static_cast<char>((bits >> shift) & 0xFF));
    return true;
  }
  sink s{out_};
  msgpack::packer<sink>(s).pack_double(value);
  return true;
}

bool msgpack_builder::string(std::string& value) {
  begin_value();
  sink s{out_};
  msgpack::packer<sink> p(s);
  p.pack_str(static_cast<uint32_t>(value.size()));
  p.pack_str_body(value.data(), static_cast<uint32_t>(value.size()));
  return true;
}

bool msgpack_builder::key(std::string& value) {
  ++open_.back().count;
  sink s{out_};
  msgpack::packer<sink> p(s);
  p.pack_str(static_cast<uint32_t>(value.size()));
  p.pack_str_body(value.data(), static_cast<uint32_t>(value.size()));
  return true;
}

bool msgpack_builder::open_container(uint8_t marker, bool is_map) {
  if (open_.size() >= max_depth_) {
    too_deep_ = true;
    return false;
  }
  begin_value();
  out_.push_back(static_cast<char>(marker));
  open_.push_back(container{out_.size(), 0, is_map});
  out_.append(4, '\0');
  return true;
}

void msgpack_builder::close_container() {
  container c = open_.back();
  open_.pop_back();
  for (int i = 0; i < 4; ++i)
    out_[c.header + static_cast<size_t>(i)] = static_cast<char>((c.count >> (24 - 8 * i)) & 0xFF);
}

bool msgpack_builder::start_object(std::size_t) {
  return open_container(0xdf, true);  // map 32
}

bool msgpack_builder::end_object() {
  close_container();
  return true;
}

bool msgpack_builder::start_array(std::size_t) {
  return open_container(0xdd, false);  // array 32
}

bool msgpack_builder::end_array() {
  close_container();
  return true;
}

namespace {

// Builds an ordered JSON tree from msgpack-c's parse events. `open_` holds the containers being
// filled; pointers stay valid because a container's elements are not touched while a nested one
// is open, and because no container ever reallocates: each reserves its whole count up front.
// The counts come from the input, so they are trusted only as far as the input could hold them:
// every element and every map key and value has a byte of its own, so the counts of all
// containers add up to at most the input's size, and a container that claims more is refused.
// (An ordered_map that grew would also copy every member's subtree, since its keys are const.)
class json_builder : public msgpack::null_visitor {
 public:
  using ordered = nlohmann::ordered_json;

  json_builder(ordered& root, size_t input_size, size_t max_depth)
      : root_(root), budget_(input_size), max_depth_(max_depth) {}

  bool visit_nil() { return place(nullptr) != nullptr; }
  bool visit_boolean(bool v) { return place(v) != nullptr; }
  bool visit_positive_integer(uint64_t v) {
    return place(static_cast<ordered::number_unsigned_t>(v)) != nullptr;
  }
  bool visit_negative_integer(int64_t v) {
    return place(static_cast<ordered::number_integer_t>(v)) != nullptr;
  }
  bool visit_float32(float v) { return place(static_cast<double>(v)) != nullptr; }
  bool visit_float64(double v) { return place(v) != nullptr; }
  bool visit_str(const char* v, uint32_t size) {
    if (in_key_) {
      key_.assign(v, size);
      return true;
    }
    return place(std::string(v, size)) != nullptr;
  }
  bool visit_bin(const char*, uint32_t) { return false; }  // not JSON
  bool visit_ext(const char*, uint32_t) { return false; }
  bool start_array(uint32_t size) {
    if (open_.size() >= max_depth_ || size > budget_) return false;
    budget_ -= size;
    auto* slot = place(ordered::array());
    if (slot == nullptr) return false;
    slot->get_ref<ordered::array_t&>().reserve(size);
    open_.push_back(slot);
    return true;
  }
  bool end_array() {
    open_.pop_back();
    return true;
  }
  bool start_map(uint32_t size) {
    if (open_.size() >= max_depth_ || size > budget_ / 2) return false;
    budget_ -= 2 * static_cast<size_t>(size);
    auto* slot = place(ordered::object());
    if (slot == nullptr) return false;
    slot->get_ref<ordered::object_t&>().reserve(size);
    open_.push_back(slot);
    return true;
  }
  bool start_map_key() {
    in_key_ = true;
    return true;
  }
  bool end_map_key() {
    in_key_ = false;
    return true;
  }
  bool end_map() {
    merge_repeated_keys(open_.back()->get_ref<ordered::object_t&>());
    open_.pop_back();
    return true;
  }
  void parse_error(size_t, size_t) {}
  void insufficient_bytes(size_t, size_t) {}

 private:
  ordered* place(ordered value) {
    if (in_key_) return nullptr;  // map keys must be strings
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    ordered* top = open_.back();
    if (top->is_array()) {
      auto& elements = top->get_ref<ordered::array_t&>();
      elements.push_back(std::move(value));
      return &elements.back();
    }
    // Repeated keys are merged when the map ends (merge_repeated_keys).
    auto& members = top->get_ref<ordered::object_t&>();
    members.emplace_back(std::move(key_), std::move(value));
    return &members.back().second;
  }

  // A key given twice keeps its first position and takes its last value, as JavaScript's
  // JSON.parse does. Linear for small maps, n log n for large ones; no cost when no key repeats
  // beyond finding that out.
  static void merge_repeated_keys(ordered::object_t& members) {
    constexpr size_t kCompareAll = 16;
    bool repeated = false;
    // (ordered_map's operator[] takes keys: index through data().)
    const auto* member = members.data();
    if (members.size() <= kCompareAll) {
      for (size_t i = 1; i < members.size() && !repeated; ++i)
        for (size_t j = 0; j < i && !repeated; ++j) repeated = member[i].first == member[j].first;
    } else {
      std::vector<std::string_view> keys;
      keys.reserve(members.size());
      for (auto& m : members) keys.emplace_back(m.first);
      std::sort(keys.begin(), keys.end());
      repeated = std::adjacent_find(keys.begin(), keys.end()) != keys.end();
    }
    if (!repeated) return;
    ordered::object_t merged;
    merged.reserve(members.size());
    std::unordered_map<std::string_view, size_t> position;  // views of `members`' keys
    for (auto& [key, value] : members) {
      auto [at, fresh] = position.emplace(key, merged.size());
      if (fresh)
        merged.emplace_back(key, std::move(value));
      else
        merged.data()[at->second].second = std::move(value);
    }
    position.clear();
    members = std::move(merged);
  }

  ordered& root_;
  size_t budget_;  // elements (map keys and values) all containers may still claim
  size_t max_depth_;
  std::vector<ordered*> open_;
  std::string key_;
  bool in_key_ = false;
};

}  // namespace

bool msgpack_to_json(std::string_view bytes, nlohmann::ordered_json& out, size_t max_depth) {
  json_builder builder(out, bytes.size(), max_depth);
  size_t offset = 0;
  if (!msgpack::parse(bytes.data(), bytes.size(), offset, builder)) return false;
  return offset == bytes.size();
}

}  // namespace eventbase::protocol
