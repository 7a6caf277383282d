// The logging facade (include/eventbase/log.hpp): levels, the sink, and that a disabled level
// costs no formatting.
#define CAF_SUITE log
#include "caf/test/unit_test.hpp"

#include <string>
#include <vector>

#include "eventbase/log.hpp"

using namespace eventbase;

namespace {

struct captured {
  log::level lvl;
  std::string component;
  std::string message;
};

// Captures what is logged while it lives; restores stderr and the level after.
struct capture {
  std::vector<captured> lines;
  capture() {
    log::set_sink([this](log::level lvl, std::string_view component, std::string_view message) {
      lines.push_back({lvl, std::string(component), std::string(message)});
    });
  }
  ~capture() {
    log::set_sink(nullptr);
    log::set_level(log::level::warning);
  }
};

}  // namespace

CAF_TEST(lines at or above the level reach the sink) {
  capture out;
  log::set_level(log::level::warning);
  EB_LOG_ERROR("test", "an error " << 1);
  EB_LOG_WARN("test", "a warning");
  EB_LOG_INFO("test", "info is below the level");
  CAF_REQUIRE_EQUAL(out.lines.size(), 2u);
  CAF_CHECK_EQUAL(out.lines[0].message, "an error 1");
  CAF_CHECK_EQUAL(out.lines[0].component, "test");
  CAF_CHECK(out.lines[1].lvl == log::level::warning);
  log::set_level(log::level::debug);
  EB_LOG_DEBUG("test", "now debug too");
  CAF_CHECK_EQUAL(out.lines.size(), 3u);
}

CAF_TEST(a disabled line does not evaluate its message) {
  capture out;
  log::set_level(log::level::error);
  int evaluated = 0;
  auto costly = [&] {
    ++evaluated;
    return "x";
  };
  EB_LOG_INFO("test", costly());
  CAF_CHECK_EQUAL(evaluated, 0);
  CAF_CHECK(!log::enabled(log::level::info));
  CAF_CHECK(log::enabled(log::level::error));
}
