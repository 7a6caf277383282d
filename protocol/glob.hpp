// The subscription filter: a glob over the whole key in which every '*' matches any
// run of characters (including none) and every other character matches itself. There is no
// escape: a literal '*' in a key is matched by '*' as well. Matching is anchored at both ends.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace eventbase::protocol {

class glob {
 public:
  explicit glob(std::string pattern);

  bool matches(std::string_view key) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  // The literal runs between stars. With at least one star, the first run must be a prefix of
  // the key, the last a suffix, and the others appear in order between them.
  std::vector<std::string> parts_;
  bool has_star_ = false;
};

}  // namespace eventbase::protocol
