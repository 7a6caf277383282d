// Validation of keys and stream names (see names.hpp).
#include "protocol/names.hpp"

#include <cstdio>
#include <string>

#include "protocol/utf8.hpp"

namespace eventbase::protocol {

bool is_valid_utf8(std::string_view text) {
  return first_invalid_utf8(text) == text.size();
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
