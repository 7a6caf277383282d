// Writes that go on all the time while a test does something else: a thread of its own puts
// keys k0..k<n-1> in turn through a stream, every `delete_every`-th write a delete instead,
// until stopped. For tests of what readers and watchers see with writes going on.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "eventbase/eventbase.hpp"

namespace eventbase::test {

class background_writes {
 public:
  background_writes(stream& db, int keys, int delete_every) : keys_(keys) {
    thread_ = std::thread([this, &db, delete_every] {
      for (int i = 0; !stop_; ++i) {
        std::string key = "k" + std::to_string(i % keys_);
        bool ok = i % delete_every == delete_every - 1
                      ? db.erase(key).ok()
                      : db.put(key, nlohmann::ordered_json{{"i", i}}).ok();
        if (!ok) failed_ = true;
        ++written_;
      }
    });
  }
  ~background_writes() { stop(); }
  background_writes(const background_writes&) = delete;
  background_writes& operator=(const background_writes&) = delete;

  /// From the next write on, only keys k0..k<n-1>.
  void set_keys(int n) { keys_ = n; }

  /// Waits until `n` writes are done (20 s at most); false if they were not.
  bool await(int n) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (written_ < n && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return written_ >= n;
  }

  /// Ends the writes; true when every one of them succeeded.
  bool stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return !failed_;
  }

 private:
  std::atomic<int> keys_;
  std::atomic<int> written_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

}  // namespace eventbase::test
