#include "eventbase/status.hpp"

namespace eventbase {

const char* to_string(errc code) {
  switch (code) {
    case errc::ok:
      return "ok";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::too_large:
      return "too_large";
    case errc::closed:
      return "closed";
    case errc::not_ready:
      return "not_ready";
    case errc::timeout:
      return "timeout";
    case errc::unavailable:
      return "unavailable";
    case errc::storage:
      return "storage";
    case errc::corrupt:
      return "corrupt";
    case errc::internal:
      return "internal";
    case errc::not_found:
      return "not_found";
    case errc::unauthenticated:
      return "unauthenticated";
    case errc::conflict:
      return "conflict";
    case errc::compacted:
      return "compacted";
  }
  return "unknown";
}

std::string status::to_string() const {
  if (ok()) return "ok";
  std::string out = eventbase::to_string(code_);
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace eventbase
