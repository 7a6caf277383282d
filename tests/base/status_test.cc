// status and result<T>: building, testing and reading them (include/eventbase/status.hpp).
#define CAF_SUITE status
#include "caf/test/unit_test.hpp"

#include <string>

#include "eventbase/status.hpp"

using namespace eventbase;

CAF_TEST(OK builds an ok status and ok tests it) {
  status st = status::OK();
  CAF_CHECK(st.ok());
  CAF_CHECK(static_cast<bool>(st));
  CAF_CHECK_EQUAL(st.code(), errc::ok);
  CAF_CHECK_EQUAL(st.to_string(), "ok");
  status bad(errc::invalid_argument, "key must not be empty");
  CAF_CHECK(!bad.ok());
  CAF_CHECK_EQUAL(bad.to_string(), "invalid_argument: key must not be empty");
}

CAF_TEST(every code has a stable name) {
  CAF_CHECK_EQUAL(std::string(to_string(errc::timeout)), "timeout");
  CAF_CHECK_EQUAL(std::string(to_string(errc::not_found)), "not_found");
  // The numbers travel between nodes: they never change.
  CAF_CHECK_EQUAL(static_cast<int>(errc::invalid_argument), 1);
  CAF_CHECK_EQUAL(static_cast<int>(errc::not_found), 10);
  CAF_CHECK_EQUAL(static_cast<int>(errc::conflict), 12);
  CAF_CHECK_EQUAL(static_cast<int>(errc::compacted), 13);
  CAF_CHECK_EQUAL(std::string(to_string(errc::compacted)), "compacted");
}

CAF_TEST(a result holds a value or the reason there is none) {
  result<int> value = 42;
  CAF_CHECK(value.ok());
  CAF_CHECK_EQUAL(*value, 42);
  CAF_CHECK(value.error().ok());
  result<int> failed = status(errc::timeout, "no reply");
  CAF_CHECK(!failed.ok());
  CAF_CHECK_EQUAL(failed.error().code(), errc::timeout);
  bool threw = false;
  try {
    failed.value();
  } catch (const bad_result_access& e) {
    threw = e.error().code() == errc::timeout;
  }
  CAF_CHECK(threw);
  // An ok status is no error: a result built from one says so instead of holding nothing.
  result<int> confused = status::OK();
  CAF_CHECK(!confused.ok());
  CAF_CHECK_EQUAL(confused.error().code(), errc::internal);
  // value() of a temporary moves the value out.
  CAF_CHECK_EQUAL(result<std::string>(std::string("moved")).value(), "moved");
}
