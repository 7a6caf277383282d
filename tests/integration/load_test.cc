#define CAF_SUITE load
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "eventbase/eventbase.hpp"
#include "support/nats_fixture.hpp"

using namespace eventbase;
using namespace eventbase::test;
using json = nlohmann::ordered_json;  // documents keep their key order

namespace {

// Completions that arrive on Eventbase's threads, counted for the test's thread to wait on.
class completions {
 public:
  // Runs `record` under the lock and counts one completion.
  template <class F>
  void add(F&& record) {
    std::lock_guard<std::mutex> guard(mutex_);
    record();
    ++done_;
    changed_.notify_all();
  }

  void wait_for(int n) {
    std::unique_lock<std::mutex> guard(mutex_);
    changed_.wait(guard, [&] { return done_ == n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int done_ = 0;
};

}  // namespace

CAF_TEST(1000 puts with 64 in flight are all applied and readable) {
  temp_dir dir;
  auto db = stream::open(make_config(unique_name("load"), dir)).value();
  constexpr int total = 1000;
  constexpr int window = 64;
  std::mutex m;
  std::condition_variable cv;
  int in_flight = 0;
  int done = 0;
  std::vector<std::string> failures;
  for (int i = 0; i < total; ++i) {
    {
      std::unique_lock<std::mutex> guard(m);
      cv.wait(guard, [&] { return in_flight < window; });
      ++in_flight;
    }
    db.put_async("key" + std::to_string(i), json{{"value", i}}, [&, i](result<document> r) {
      std::lock_guard<std::mutex> guard(m);
      if (!r.ok())
        failures.push_back(std::to_string(i) + ": " + r.error().to_string());
      else if (r->data != json{{"value", i}})
        failures.push_back(std::to_string(i) + ": wrong data " + r->data.dump());
      --in_flight;
      ++done;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> guard(m);
    cv.wait(guard, [&] { return done == total; });
  }
  CAF_CHECK_EQUAL(failures, std::vector<std::string>{});
  CAF_CHECK_EQUAL(db.keys().value().size(), static_cast<size_t>(total));
  for (int i = 0; i < total; ++i) {
    if (data_of(db, "key" + std::to_string(i)) != json{{"value", i}}) {
      CAF_FAIL("key" << i << " not readable");
    }
  }
  db.close();
}

// put_async calls made together travel to the stream as batches; each call still gets its own
// outcome, a bad one among them fails alone.
CAF_TEST(concurrent put_async calls each get their own outcome) {
  temp_dir dir;
  auto db = stream::open(make_config(unique_name("burst"), dir)).value();
  const int total = 300;
  completions done;
  std::vector<std::string> outcomes(total);
  for (int i = 0; i < total; ++i) {
    // Every 50th key is empty: invalid.
    std::string key = i % 50 == 7 ? "" : "key" + std::to_string(i);
    db.put_async(key, json{{"value", i}}, [&, i](result<document> r) {
      done.add([&] {
        outcomes[i] =
            r.ok() ? r->data.dump() : "error " + std::to_string(static_cast<int>(r.error().code()));
      });
    });
  }
  done.wait_for(total);
  std::string invalid = "error " + std::to_string(static_cast<int>(errc::invalid_argument));
  for (int i = 0; i < total; ++i) {
    std::string expected = i % 50 == 7 ? invalid : json{{"value", i}}.dump();
    CAF_CHECK_EQUAL(outcomes[i], expected);
  }
  CAF_CHECK_EQUAL(db.keys().value().size(), static_cast<size_t>(total - total / 50));
  db.close();
}

// Erases travel with the puts in call order: a put called after an erase of its key is never
// applied before that erase.
CAF_TEST(put_async and erase_async of one key apply in call order) {
  temp_dir dir;
  auto db = stream::open(make_config(unique_name("order"), dir)).value();
  const int total = 200;
  completions done;
  std::vector<uint64_t> changes(total, 0);
  std::vector<std::string> failures;
  for (int i = 0; i < total; ++i) {
    db.put_async("k", json{{"v", i}}, [&, i](result<document> r) {
      done.add([&] {
        if (r.ok())
          changes[i] = r->meta.changes;
        else
          failures.push_back(r.error().to_string());
      });
    });
    if (i % 10 == 9)
      db.erase_async("k", [&](result<uint64_t> r) {
        done.add([&] {
          if (!r.ok()) failures.push_back(r.error().to_string());
        });
      });
  }
  done.wait_for(total + total / 10);
  CAF_CHECK_EQUAL(failures, std::vector<std::string>{});
  // Each erase ends the key: the put after it starts its count again.
  for (int i = 0; i < total; ++i) CAF_CHECK_EQUAL(changes[i], static_cast<uint64_t>(i % 10 + 1));
  CAF_CHECK(!db.get("k").value().has_value());  // the last call was an erase
  db.close();
}

CAF_TEST(concurrent puts of one key are applied in order) {
  temp_dir dir;
  auto db = stream::open(make_config(unique_name("hotkey"), dir)).value();
  std::mutex m;
  std::condition_variable cv;
  int done = 0;
  std::vector<uint64_t> changes(50);
  for (int i = 0; i < 50; ++i) {
    db.put_async("hot", json{{"v", i}}, [&, i](result<document> r) {
      std::lock_guard<std::mutex> guard(m);
      changes[i] = r.ok() ? r->meta.changes : 0;
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> guard(m);
  cv.wait(guard, [&] { return done == 50; });
  // Each put saw the one before it: changes count 1..50 in request order.
  for (int i = 0; i < 50; ++i) CAF_CHECK_EQUAL(changes[i], static_cast<uint64_t>(i + 1));
  CAF_CHECK_EQUAL(data_of(db, "hot"), json({{"v", 49}}));
  db.close();
}
