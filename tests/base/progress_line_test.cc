// The terminal progress line (base/progress_line.hpp): silent unless enabled, rewritten in
// place, ended with a line feed.
#define CAF_SUITE progress_line
#include "caf/test/unit_test.hpp"

#include <sstream>

#include "base/progress_line.hpp"

using namespace eventbase;

CAF_TEST(a disabled line writes nothing) {
  std::ostringstream out;
  progress_line line(out, false);
  line.update("imported", 5, true);
  line.finish("imported", 5);
  CAF_CHECK_EQUAL(out.str(), "");
}

CAF_TEST(an enabled line rewrites itself and ends with a line feed) {
  std::ostringstream out;
  progress_line line(out, true, std::chrono::hours(1));
  line.update("imported", 1, true);
  line.update("imported", 2);  // within the interval: not written
  line.finish("imported", 3);
  auto text = out.str();
  CAF_CHECK_EQUAL(text.rfind("\rimported 1 (", 0), 0u);
  CAF_CHECK(text.find("\rimported 2 (") == std::string::npos);
  CAF_CHECK(text.find("\rimported 3 (") != std::string::npos);
  CAF_CHECK_EQUAL(text.back(), '\n');
  CAF_CHECK_EQUAL(progress_line::render("done", 500, std::chrono::seconds(2)),
                  "done 500 (250/s, 2.0 s)");
}
