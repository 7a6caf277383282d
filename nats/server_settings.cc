// The nats-server program's release and sync settings (see nats/server_settings.hpp).
#include "nats/server_settings.hpp"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <tuple>

namespace eventbase::nats {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string trimmed(const std::string& text) {
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// Reads a number of at most 6 digits at `pos` (advanced past it); false when there is none.
bool read_number(const std::string& text, size_t& pos, int& out) {
  size_t start = pos;
  int value = 0;
  while (pos < text.size() && is_digit(text[pos]) && pos - start < 6)
    value = value * 10 + (text[pos++] - '0');
  if (pos == start || (pos < text.size() && is_digit(text[pos]))) return false;
  out = value;
  return true;
}

auto key(const server_version& v) {
  return std::tie(v.major, v.minor, v.patch);
}

}  // namespace

std::string server_version::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

bool operator==(const server_version& a, const server_version& b) {
  return key(a) == key(b);
}
bool operator!=(const server_version& a, const server_version& b) {
  return !(a == b);
}
bool operator<(const server_version& a, const server_version& b) {
  return key(a) < key(b);
}
bool operator<=(const server_version& a, const server_version& b) {
  return !(b < a);
}
bool operator>(const server_version& a, const server_version& b) {
  return b < a;
}
bool operator>=(const server_version& a, const server_version& b) {
  return !(a < b);
}

result<server_version> parse_server_version(const std::string& output) {
  static const std::string kPrefix = "nats-server: ";
  auto text = trimmed(output);
  auto bad = [&] {
    return status(errc::invalid_argument, "'" + text.substr(0, 200) +
                                              "' is not a nats-server version (expected "
                                              "'nats-server: vMAJOR.MINOR.PATCH')");
  };
  if (text.compare(0, kPrefix.size(), kPrefix) != 0) return bad();
  size_t pos = kPrefix.size();
  if (pos < text.size() && text[pos] == 'v') ++pos;
  server_version v;
  if (!read_number(text, pos, v.major) || pos >= text.size() || text[pos++] != '.' ||
      !read_number(text, pos, v.minor) || pos >= text.size() || text[pos++] != '.' ||
      !read_number(text, pos, v.patch))
    return bad();
  if (pos < text.size() && text[pos] != '-' && text[pos] != '+') return bad();
  return v;
}

status check_sync(const std::string& sync) {
  if (sync.empty() || sync == "always") return status::OK();
  auto bad = [&](const std::string& why) {
    return status(errc::invalid_argument,
                  "'" + sync.substr(0, 100) + "' is not a JetStream sync setting" + why +
                      ": use always, or a duration of digits followed by ms, s, m or h (e.g. "
                      "10s, 2m)");
  };
  size_t digits = 0;
  while (digits < sync.size() && is_digit(sync[digits])) ++digits;
  std::string unit = sync.substr(digits);
  int64_t unit_ns = 0;
  if (unit == "ms")
    unit_ns = 1000000;
  else if (unit == "s")
    unit_ns = 1000000000;
  else if (unit == "m")
    unit_ns = int64_t{60} * 1000000000;
  else if (unit == "h")
    unit_ns = int64_t{3600} * 1000000000;
  if (digits == 0 || unit_ns == 0) return bad("");
  // nats-server holds the interval in nanoseconds (Go's time.Duration, 64 bits); 0 would mean
  // its default.
  if (digits > 18) return bad(" (too long)");
  int64_t count = std::strtoll(sync.substr(0, digits).c_str(), nullptr, 10);
  if (count == 0) return bad(" (zero would mean nats-server's default)");
  if (count > std::numeric_limits<int64_t>::max() / unit_ns) return bad(" (too long)");
  return status::OK();
}

std::string sync_interval_setting(const std::string& sync, const server_version& version) {
  if (sync.empty() || version < kSyncIntervalSince) return "";
  if (sync == "always") return "  sync_interval: always\n";
  return "  sync_interval: \"" + sync + "\"\n";
}

std::string default_server_executable() {
  const char* named = std::getenv("EVENTBASE_NATS_SERVER");
  return named != nullptr && *named != '\0' ? named : "nats-server";
}

result<server_version> parse_info_version(const std::string& line) {
  // The line is "INFO " and a JSON object; "version" is a string in it. A plain search is
  // enough (no other member holds the text "version":"): the INFO comes from the server.
  static const std::string kKey = "\"version\":\"";
  auto head = trimmed(line);
  auto at = head.find(kKey);
  if (head.compare(0, 5, "INFO ") != 0 || at == std::string::npos)
    return status(errc::invalid_argument,
                  "not a NATS server's INFO line: '" + head.substr(0, 80) + "'");
  auto begin = at + kKey.size();
  auto end = head.find('"', begin);
  if (end == std::string::npos)
    return status(errc::invalid_argument, "an INFO line without an end to its version");
  return parse_server_version("nats-server: v" + head.substr(begin, end - begin));
}

status require(const server_version& found, const server_version& needed,
               const std::string& feature) {
  if (found >= needed) return status::OK();
  return status(errc::unavailable, feature + " needs nats-server " + needed.to_string() +
                                       " or newer; the server is " + found.to_string());
}

}  // namespace eventbase::nats
