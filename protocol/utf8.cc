// UTF-8 decoding as JavaScript does it (see utf8.hpp).
#include "protocol/utf8.hpp"

#include <cstdint>
#include <cstring>

namespace eventbase::protocol {

utf8_unit utf8_next(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return {1, true};
  size_t trail = 0;                    // continuation bytes needed
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
  if (c >= 0xC2 && c <= 0xDF) {
    trail = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    trail = 2;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    trail = 3;
    if (c == 0xF0) lo = 0x90;  // no overlong forms
    if (c == 0xF4) hi = 0x8F;  // nothing beyond U+10FFFF
  } else {
    return {1, false};  // a continuation byte, or a lead byte that never starts a character
  }
  size_t k = 1;
  for (; k <= trail && i + k < s.size(); ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
  }
  return {k, k == trail + 1};
}

size_t utf8_length(std::string_view s, size_t i) {
  utf8_unit u = utf8_next(s, i);
  return u.valid ? u.length : 0;
}

size_t first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    uint64_t word;
    while (i + 8 <= n) {
      std::memcpy(&word, s.data() + i, 8);
      if ((word & 0x8080808080808080ull) != 0) break;
      i += 8;
    }
    while (i < n && static_cast<unsigned char>(s[i]) < 0x80) ++i;
    if (i == n) break;
    utf8_unit u = utf8_next(s, i);
    if (!u.valid) return i;
    i += u.length;
  }
  return n;
}

std::string_view replace_invalid_utf8(std::string_view s, size_t bad, std::string& out) {
  out.assign(s.data(), bad);
  for (size_t i = bad; i < s.size();) {
    utf8_unit u = utf8_next(s, i);
    if (u.valid) {
      out.append(s.data() + i, u.length);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
    }
    i += u.length;
  }
  return out;
}

}  // namespace eventbase::protocol
