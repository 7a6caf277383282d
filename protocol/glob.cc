#include "protocol/glob.hpp"

namespace eventbase::protocol {

glob::glob(std::string pattern) : pattern_(std::move(pattern)) {
  size_t start = 0;
  for (;;) {
    size_t star = pattern_.find('*', start);
    if (star == std::string::npos) {
      parts_.push_back(pattern_.substr(start));
      break;
    }
    has_star_ = true;
    parts_.push_back(pattern_.substr(start, star - start));
    start = star + 1;
  }
}

bool glob::matches(std::string_view key) const {
  if (!has_star_) return key == pattern_;
  // parts_ has at least two entries: the text before the first star and after the last one.
  const std::string& head = parts_.front();
  const std::string& tail = parts_.back();
  if (key.size() < head.size() + tail.size()) return false;
  if (key.compare(0, head.size(), head) != 0) return false;
  if (key.compare(key.size() - tail.size(), tail.size(), tail) != 0) return false;
  // Middle parts, leftmost-first: greedy placement is optimal for '*'-only globs.
  size_t pos = head.size();
  size_t limit = key.size() - tail.size();
  for (size_t i = 1; i + 1 < parts_.size(); ++i) {
    const std::string& part = parts_[i];
    if (part.empty()) continue;
    size_t found = key.substr(0, limit).find(part, pos);
    if (found == std::string_view::npos) return false;
    pos = found + part.size();
  }
  return true;
}

}  // namespace eventbase::protocol
