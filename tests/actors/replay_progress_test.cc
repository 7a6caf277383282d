// Replay progress (actors/replay_progress.hpp): when lines are due, rate and time left.
#define CAF_SUITE replay_progress
#include "caf/test/unit_test.hpp"

#include "actors/replay_progress.hpp"

using namespace eventbase::actors;
using namespace std::chrono_literals;

CAF_TEST(a short replay logs nothing) {
  replay_progress p(5s);
  replay_progress::time_point t0{};
  p.start(t0, 0, 100);
  CAF_CHECK(!p.update(t0 + 1s, 50));
  CAF_CHECK(!p.update(t0 + 4s, 100));
  CAF_CHECK(!p.finish(t0 + 4s, 100));
  CAF_CHECK(!p.active());
}

CAF_TEST(a long replay logs at most once per interval with rate and time left) {
  replay_progress p(5s);
  replay_progress::time_point t0{};
  p.start(t0, 1000, 11000);
  CAF_CHECK_EQUAL(p.target(), 11000u);
  CAF_CHECK(!p.eta());  // no rate yet
  auto first = p.update(t0 + 5s, 3000);
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(*first, "3000 of 11000 events applied (27.3%), 400 events/s, about 20 s left");
  CAF_CHECK_EQUAL(p.rate(), 400.0);
  CAF_CHECK_EQUAL(p.eta()->count(), 20000);
  CAF_CHECK(!p.update(t0 + 9s, 4000));  // within 5 s of the last line
  CAF_CHECK(p.update(t0 + 10s, 5000));
  auto last = p.finish(t0 + 20s, 11000);
  CAF_REQUIRE(last);
  CAF_CHECK_EQUAL(*last, "replayed 10000 events in 20.0 s, 500 events/s");
  CAF_CHECK(!p.active());
  CAF_CHECK(!p.update(t0 + 30s, 11000));
}
