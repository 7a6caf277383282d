// The test runner for the protocol suites (caf-test supplies main).
#include "caf/test/unit_test_impl.hpp"
