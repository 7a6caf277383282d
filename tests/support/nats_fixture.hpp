// Integration-test support: a real nats-server with JetStream on a free loopback port and a
// temporary store, started once per test process and stopped at exit; unique stream names; a
// raw NATS client for what tests do behind Eventbase's back; and a collector that awaits
// asynchronous callbacks with a deadline instead of sleeping.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eventbase/eventbase.hpp"
#include "nats/embedded_server.hpp"
#include "support/temp_dir.hpp"

namespace eventbase::test {

/// The process-wide test server (started on first use).
nats::embedded_server& nats_server();

/// nats_options for the test server.
nats_options test_nats();

/// "prefix-<pid>-<counter>": unique across tests and test processes sharing a server.
std::string unique_name(const std::string& prefix);

/// A stream_config for `name` on the test server with a data path under `dir`.
stream_config make_config(const std::string& name, const temp_dir& dir,
                          const std::string& sub = "node1");

/// The document stored under `key` (null when absent or on error). Returns a value: CAF's
/// check macros bind their arguments by reference, so they must not get references into
/// temporaries such as `db.get(k).value().value().data`.
nlohmann::json data_of(stream& db, const std::string& key);

/// The metadata of `key` (changes 0 when absent).
meta meta_of(stream& db, const std::string& key);

/// A plain NATS client (cnats) for publishing and subscribing behind Eventbase's back.
class raw_client {
 public:
  raw_client();
  ~raw_client();
  void publish(const std::string& subject, const std::string& payload);
  /// Collects the payloads of every message on `subject`.
  void subscribe(const std::string& subject);
  /// Waits until at least `n` messages arrived (or the deadline passed); returns them.
  std::vector<std::string> wait_for(
      size_t n, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  std::vector<std::string> received();
  /// A JetStream API request, answered synchronously (test code may block).
  std::string request(const std::string& subject, const std::string& body);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/// Thread-safe list of T with a blocking wait for a count.
template <class T>
class collector {
 public:
  void add(T item) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      items_.push_back(std::move(item));
    }
    cv_.notify_all();
  }

  /// Waits until `n` items arrived or `timeout` passed; returns what arrived.
  std::vector<T> wait_for(size_t n,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    std::unique_lock<std::mutex> guard(mutex_);
    cv_.wait_for(guard, timeout, [&] { return items_.size() >= n; });
    return items_;
  }

  std::vector<T> items() {
    std::lock_guard<std::mutex> guard(mutex_);
    return items_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

}  // namespace eventbase::test
