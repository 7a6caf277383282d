// Order-preserving encoding of index values (see index_key.hpp).
#include "protocol/index_key.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <nlohmann/json.hpp>

#include "protocol/filter.hpp"

namespace eventbase::protocol {

using json = nlohmann::ordered_json;

namespace {

constexpr char kNegative = 0x02;
constexpr char kZero = 0x03;
constexpr char kPositive = 0x04;
constexpr char kArray = 0x07;
constexpr char kFalse = 0x08;
constexpr char kTrue = 0x09;
constexpr int kExponentBias = 1100;  // exponents are in [-1074, 1024]
constexpr size_t kNumberSize = 11;   // type byte, 2 exponent bytes, 8 fraction bytes

int highest_bit(uint64_t v) {
  return 63 - __builtin_clzll(v);
}

/// The bits after the leading 1 of `v` (not 0), whose leading 1 is bit `lead`, left-aligned.
uint64_t fraction_after(uint64_t v, int lead) {
  return lead == 0 ? 0 : v << (64 - lead);
}

/// A positive magnitude 2^exponent * 1.fraction as type byte + 10 bytes; `negate` inverts them.
void append_magnitude(int exponent, uint64_t fraction, bool negative, std::string& out) {
  unsigned char bytes[10];
  auto biased = static_cast<uint16_t>(exponent + kExponentBias);
  bytes[0] = static_cast<unsigned char>(biased >> 8);
  bytes[1] = static_cast<unsigned char>(biased & 0xFF);
  for (int i = 0; i < 8; ++i) bytes[2 + i] = static_cast<unsigned char>(fraction >> (56 - 8 * i));
  out.push_back(negative ? kNegative : kPositive);
  for (unsigned char b : bytes) out.push_back(static_cast<char>(negative ? ~b : b));
}

void append_unsigned(uint64_t magnitude, bool negative, std::string& out) {
  if (magnitude == 0) {
    out.push_back(kZero);
    return;
  }
  int lead = highest_bit(magnitude);
  append_magnitude(lead, fraction_after(magnitude, lead), negative, out);
}

void append_double(double d, std::string& out) {
  if (d == 0 || std::isnan(d)) {  // NaN: no order to keep; it compares equal to every number
    out.push_back(kZero);
    return;
  }
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  bool negative = (bits >> 63) != 0;
  int exponent_bits = static_cast<int>((bits >> 52) & 0x7FF);
  uint64_t mantissa = bits & ((uint64_t{1} << 52) - 1);
  if (exponent_bits == 0x7FF) {  // infinity: above every finite magnitude
    append_magnitude(1024, 0, negative, out);
  } else if (exponent_bits == 0) {  // subnormal: mantissa * 2^-1074
    int lead = highest_bit(mantissa);
    append_magnitude(-1074 + lead, fraction_after(mantissa, lead), negative, out);
  } else {
    append_magnitude(exponent_bits - 1023, mantissa << 12, negative, out);
  }
}

void append_string_body(std::string_view s, std::string& out) {
  for (char c : s) {
    out.push_back(c);
    if (c == '\0') out.push_back(static_cast<char>(0xFF));
  }
  out.push_back('\0');
  out.push_back(0x01);
}

/// The length of an escaped string body with its terminator at the start of `bytes`; 0 if none.
size_t string_body_size(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != '\0') continue;
    if (i + 1 >= bytes.size()) return 0;
    if (bytes[i + 1] == 0x01) return i + 2;
    if (bytes[i + 1] != static_cast<char>(0xFF)) return 0;
    ++i;
  }
  return 0;
}

}  // namespace

void append_index_value(const json* value, std::string& out) {
  if (value == nullptr) {
    out.push_back(kIndexNull);
    return;
  }
  switch (value->type()) {
    case json::value_t::number_unsigned:
      append_unsigned(value->get<uint64_t>(), false, out);
      return;
    case json::value_t::number_integer: {
      auto v = value->get<int64_t>();
      append_unsigned(v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v), v < 0, out);
      return;
    }
    case json::value_t::number_float:
      append_double(value->get<double>(), out);
      return;
    case json::value_t::string:
      out.push_back(kIndexString);
      append_string_body(value->get_ref<const std::string&>(), out);
      return;
    case json::value_t::object:
      out.push_back(kIndexObject);
      for (auto it = value->begin(); it != value->end(); ++it) {
        out.push_back(0x01);
        append_string_body(it.key(), out);
        append_index_value(&it.value(), out);
      }
      out.push_back('\0');
      return;
    case json::value_t::array:
      out.push_back(kArray);
      for (const auto& element : *value) append_index_value(&element, out);
      out.push_back('\0');
      return;
    case json::value_t::boolean:
      out.push_back(value->get<bool>() ? kTrue : kFalse);
      return;
    default:  // null (documents hold no binary values; a discarded value reads as null)
      out.push_back(kIndexNull);
      return;
  }
}

std::string index_value(const json& value) {
  std::string out;
  append_index_value(&value, out);
  return out;
}

std::string index_string_prefix(std::string_view prefix) {
  std::string out(1, kIndexString);
  append_string_body(prefix, out);
  out.resize(out.size() - 2);  // without the terminator
  return out;
}

size_t index_value_size(std::string_view bytes) {
  if (bytes.empty()) return 0;
  switch (bytes[0]) {
    case kIndexNull:
    case kZero:
    case kFalse:
    case kTrue:
      return 1;
    case kNegative:
    case kPositive:
      return bytes.size() >= kNumberSize ? kNumberSize : 0;
    case kIndexString: {
      size_t body = string_body_size(bytes.substr(1));
      return body == 0 ? 0 : 1 + body;
    }
    case kIndexObject:
    case kArray: {
      size_t at = 1;
      while (true) {
        if (at >= bytes.size()) return 0;
        if (bytes[at] == '\0') return at + 1;
        if (bytes[0] == kIndexObject) {
          if (bytes[at] != 0x01) return 0;
          size_t name = string_body_size(bytes.substr(at + 1));
          if (name == 0) return 0;
          at += 1 + name;
        }
        size_t element = index_value_size(bytes.substr(at));
        if (element == 0) return 0;
        at += element;
      }
    }
    default:
      return 0;
  }
}

std::string prefix_successor(std::string bytes) {
  while (!bytes.empty()) {
    auto last = static_cast<unsigned char>(bytes.back());
    if (last != 0xFF) {
      bytes.back() = static_cast<char>(last + 1);
      return bytes;
    }
    bytes.pop_back();
  }
  return bytes;
}

bool index_entries(const json& doc, const std::vector<std::string>& path,
                   std::vector<std::string>& out) {
  // Multikey when the path, followed through objects, meets an array.
  bool multikey = false;
  const json* at = &doc;
  for (const auto& step : path) {
    if (!at->is_object()) break;
    auto it = at->find(step);
    if (it == at->end()) break;
    at = &*it;
    if (at->is_array()) {
      multikey = true;
      break;
    }
  }
  size_t first = out.size();
  std::vector<const json*> values;
  resolve_field(doc, path, values);
  if (values.empty()) append_index_value(nullptr, out.emplace_back());
  for (const json* v : values) {
    if (v->is_array()) {
      for (const auto& element : *v) append_index_value(&element, out.emplace_back());
    } else {
      append_index_value(v, out.emplace_back());
    }
  }
  auto begin = out.begin() + static_cast<std::ptrdiff_t>(first);
  std::sort(begin, out.end());
  out.erase(std::unique(begin, out.end()), out.end());
  return multikey;
}

}  // namespace eventbase::protocol
