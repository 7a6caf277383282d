#include "protocol/names.hpp"

#include <cstdio>
#include <string>

namespace eventbase::protocol {

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) < len) return false;
    for (size_t i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += len;
  }
  return true;
}

status validate_key(std::string_view key) {
  if (key.empty()) return status(errc::invalid_argument, "key must not be empty");
  if (key.size() > kMaxKeyBytes)
    return status(errc::too_large, "key is " + std::to_string(key.size()) +
                                       " bytes, the limit is " + std::to_string(kMaxKeyBytes));
  if (!is_valid_utf8(key)) return status(errc::invalid_argument, "key is not valid UTF-8");
  return status::OK();
}

status validate_stream_name(std::string_view name) {
  if (name.empty()) return status(errc::invalid_argument, "stream name must not be empty");
  if (name.size() > kMaxStreamNameBytes)
    return status(errc::invalid_argument, "stream name is " + std::to_string(name.size()) +
                                              " bytes, the limit is " +
                                              std::to_string(kMaxStreamNameBytes));
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '.' || c == '*' || c == '>' || c == '/' || c == '\\') {
      char shown[8];
      if (u > 0x20 && u < 0x7F)
        std::snprintf(shown, sizeof shown, "%c", c);
      else
        std::snprintf(shown, sizeof shown, "\\x%02X", u);
      return status(errc::invalid_argument, "stream name '" + std::string(name) + "' contains '" +
                                                std::string(shown) +
                                                "'; allowed are printable ASCII characters "
                                                "except space . * > / \\");
    }
  }
  return status::OK();
}

}  // namespace eventbase::protocol
