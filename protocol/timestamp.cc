#include "protocol/timestamp.hpp"

#include <algorithm>
#include <chrono>
#include <string>

namespace eventbase::protocol {
namespace {

// Howard Hinnant's days_from_civil / civil_from_days: exact proleptic Gregorian arithmetic
// without time zones or libc state.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool read_digits(std::string_view text, size_t pos, size_t count, unsigned& out) {
  out = 0;
  for (size_t i = 0; i < count; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  return true;
}

}  // namespace

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_iso8601_ms(int64_t ms) {
  // Floor division by days, without multiplying back (days * 86400000 leaves int64 for ms near
  // INT64_MIN, which a record header from a peer can hold).
  int64_t days = ms / 86400000;
  int64_t in_day = ms % 86400000;
  if (in_day < 0) {
    in_day += 86400000;
    --days;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  if (y < 0 || y > 9999) y = y < 0 ? 0 : 9999;  // outside ISO-8601's four digits: clamp
  // Written digit by digit: this runs for every document read (twice), and snprintf's format
  // parsing costs more than the rest of the conversion.
  char buf[24];
  auto put2 = [&](size_t at, unsigned v) {
    buf[at] = static_cast<char>('0' + v / 10);
    buf[at + 1] = static_cast<char>('0' + v % 10);
  };
  auto year = static_cast<unsigned>(y);
  put2(0, year / 100);
  put2(2, year % 100);
  buf[4] = '-';
  put2(5, m);
  buf[7] = '-';
  put2(8, d);
  buf[10] = 'T';
  put2(11, static_cast<unsigned>(in_day / 3600000));
  buf[13] = ':';
  put2(14, static_cast<unsigned>(in_day / 60000 % 60));
  buf[16] = ':';
  put2(17, static_cast<unsigned>(in_day / 1000 % 60));
  buf[19] = '.';
  auto millis = static_cast<unsigned>(in_day % 1000);
  buf[20] = static_cast<char>('0' + millis / 100);
  put2(21, millis % 100);
  buf[23] = 'Z';
  return std::string(buf, sizeof buf);
}

std::optional<int64_t> parse_iso8601_ms(std::string_view t) {
  // 0123456789012345678901234
  // YYYY-MM-DDTHH:MM:SS.mmmZ
  if (t.size() != 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
      t[16] != ':' || t[19] != '.' || t[23] != 'Z')
    return std::nullopt;
  unsigned y, mo, d, h, mi, s, ms;
  if (!read_digits(t, 0, 4, y) || !read_digits(t, 5, 2, mo) || !read_digits(t, 8, 2, d) ||
      !read_digits(t, 11, 2, h) || !read_digits(t, 14, 2, mi) || !read_digits(t, 17, 2, s) ||
      !read_digits(t, 20, 3, ms))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return std::nullopt;
  int64_t days = days_from_civil(y, mo, d);
  // Reject dates such as Feb 30 that the arithmetic would silently roll over.
  int64_t cy;
  unsigned cm, cd;
  civil_from_days(days, cy, cm, cd);
  if (cy != static_cast<int64_t>(y) || cm != mo || cd != d) return std::nullopt;
  return days * 86400000 + int64_t{h} * 3600000 + int64_t{mi} * 60000 + int64_t{s} * 1000 + ms;
}

std::optional<int64_t> parse_rfc3339_ms(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z: rewritten as the millisecond form parse_iso8601_ms reads.
  if (t.size() < 20 || t.size() > 30 || t.back() != 'Z') return std::nullopt;
  std::string ms(t.substr(0, 19));
  std::string_view fraction = t.substr(19, t.size() - 20);
  if (!fraction.empty()) {
    if (fraction.size() < 2 || fraction[0] != '.') return std::nullopt;
    fraction.remove_prefix(1);
  }
  std::string digits(fraction.substr(0, std::min<size_t>(fraction.size(), 3)));
  for (char c : fraction)
    if (c < '0' || c > '9') return std::nullopt;
  digits.resize(3, '0');
  return parse_iso8601_ms(ms + "." + digits + "Z");
}

}  // namespace eventbase::protocol
