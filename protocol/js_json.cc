// JSON.stringify's output format (see js_json.hpp).
#include "protocol/js_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <system_error>

#include <nlohmann/json.hpp>

#include "protocol/utf8.hpp"

namespace eventbase::protocol {
namespace {

using ordered = nlohmann::ordered_json;

template <class Int>
void append_integer(Int value, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

// Appends `text`, known to be valid UTF-8, with JSON.stringify's escapes.
void append_escaped(std::string_view text, std::string& out) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the bytes not yet appended
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
        break;
    }
  }
  out.append(text.data() + run, text.size() - run);
  out += '"';
}

status not_utf8() {
  return status(errc::invalid_argument, "the document has a string that is not valid UTF-8");
}

status write(const ordered& value, std::string& out, invalid_utf8 policy, size_t depth_left) {
  switch (value.type()) {
    case ordered::value_t::null:
      out += "null";
      return status::OK();
    case ordered::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return status::OK();
    case ordered::value_t::number_integer:
      append_integer(value.get<ordered::number_integer_t>(), out);
      return status::OK();
    case ordered::value_t::number_unsigned:
      append_integer(value.get<ordered::number_unsigned_t>(), out);
      return status::OK();
    case ordered::value_t::number_float:
      append_js_number(value.get<double>(), out);
      return status::OK();
    case ordered::value_t::string:
      if (!append_js_string(value.get_ref<const ordered::string_t&>(), out, policy))
        return not_utf8();
      return status::OK();
    case ordered::value_t::array: {
      if (depth_left == 0) return too_deep_error();
      out += '[';
      bool first = true;
      for (const auto& element : value.get_ref<const ordered::array_t&>()) {
        if (!first) out += ',';
        first = false;
        if (auto st = write(element, out, policy, depth_left - 1); !st.ok()) return st;
      }
      out += ']';
      return status::OK();
    }
    case ordered::value_t::object: {
      if (depth_left == 0) return too_deep_error();
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.get_ref<const ordered::object_t&>()) {
        if (!first) out += ',';
        first = false;
        if (!append_js_string(key, out, policy)) return not_utf8();
        out += ':';
        if (auto st = write(member, out, policy, depth_left - 1); !st.ok()) return st;
      }
      out += '}';
      return status::OK();
    }
    case ordered::value_t::binary:
      return status(errc::invalid_argument,
                    "the document holds a binary value, which JSON cannot express");
    case ordered::value_t::discarded:
      break;
  }
  return status(errc::invalid_argument, "the document is not a JSON value");
}

}  // namespace

status stringify(const nlohmann::ordered_json& value, std::string& out, invalid_utf8 policy,
                 size_t max_depth) {
  return write(value, out, policy, max_depth);
}

void append_js_number(double value, std::string& out) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  if (value == 0) {  // both zeros
    out += '0';
    return;
  }
  // The shortest digits that read back as `value` (Ryu, as JavaScript engines choose them):
  // "d.ddde+XX" or "de-XX".
  char buf[40];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view text(buf, static_cast<size_t>(end - buf));
  if (text.front() == '-') {
    out += '-';
    text.remove_prefix(1);
  }
  size_t e = text.find('e');
  std::string_view mantissa = text.substr(0, e);
  std::string digits;
  digits += mantissa.front();
  if (mantissa.size() > 2) digits.append(mantissa.substr(2));  // after "d."
  int exponent = std::atoi(std::string(text.substr(e + 1)).c_str());
  // ECMAScript Number::toString: value = 0.digits x 10^n, k digits.
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<size_t>(n));
    out += '.';
    out.append(digits, static_cast<size_t>(n), std::string::npos);
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out += digits.front();
    if (k > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    append_integer(std::abs(n - 1), out);
  }
}

bool append_js_string(std::string_view text, std::string& out, invalid_utf8 policy) {
  size_t bad = first_invalid_utf8(text);
  if (bad == text.size()) {
    append_escaped(text, out);
    return true;
  }
  if (policy == invalid_utf8::refuse) return false;
  std::string repaired;
  append_escaped(replace_invalid_utf8(text, bad, repaired), out);
  return true;
}

}  // namespace eventbase::protocol
