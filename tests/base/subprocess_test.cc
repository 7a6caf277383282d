// Child processes (base/subprocess.hpp): output lines, input, exit codes, signals, awaiting a
// line with a deadline.
#define CAF_SUITE subprocess
#include "caf/test/unit_test.hpp"

#include <signal.h>

#include "base/subprocess.hpp"

using namespace eventbase;

CAF_TEST(a command runs to completion with its output lines and exit code) {
  auto r = subprocess::run({"sh", "-c", "echo one; echo two; echo err >&2; exit 3"}).value();
  CAF_CHECK_EQUAL(r.exit_code, 3);
  CAF_CHECK_EQUAL(r.out, (std::vector<std::string>{"one", "two"}));
  CAF_CHECK_EQUAL(r.err, (std::vector<std::string>{"err"}));
}

CAF_TEST(input reaches the child and the last line needs no newline) {
  auto r = subprocess::run({"sh", "-c", "cat; printf tail"}, std::chrono::seconds(10), {},
                           "first\nsecond\n")
               .value();
  CAF_CHECK_EQUAL(r.out, (std::vector<std::string>{"first", "second", "tail"}));
}

CAF_TEST(the environment is passed and extended) {
  auto r = subprocess::run({"sh", "-c", "echo $EB_TEST_VALUE"}, std::chrono::seconds(10),
                           {"EB_TEST_VALUE=42"})
               .value();
  CAF_CHECK_EQUAL(r.out, std::vector<std::string>{"42"});
}

CAF_TEST(a line can be awaited and a signal ends the child) {
  auto p = subprocess::start({"sh", "-c", "echo ready; exec sleep 60"}).value();
  auto line = p->wait_for_stdout([](const std::string& l) { return l == "ready"; },
                                 std::chrono::seconds(10));
  CAF_CHECK(line.has_value());
  CAF_CHECK(!p->wait(std::chrono::milliseconds(0)).has_value());  // still running
  p->signal(SIGTERM);
  CAF_CHECK_EQUAL(p->wait(std::chrono::seconds(10)).value_or(-1), 128 + SIGTERM);
}

CAF_TEST(a missing executable and a command that runs too long are errors) {
  auto missing = subprocess::start({"no-such-program-eventbase"});
  CAF_REQUIRE(!missing.ok());
  CAF_CHECK_EQUAL(missing.error().code(), errc::not_found);
  auto slow = subprocess::run({"sleep", "60"}, std::chrono::milliseconds(100));
  CAF_REQUIRE(!slow.ok());
  CAF_CHECK_EQUAL(slow.error().code(), errc::timeout);
}
