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
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eventbase/eventbase.hpp"
#include "nats/embedded_server.hpp"
#include "support/temp_dir.hpp"

namespace eventbase::test {

/// The process-wide test server (started on first use): the embedded server's default program,
/// $EVENTBASE_NATS_SERVER when set, else nats-server from PATH; JetStream's default sync.
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
nlohmann::ordered_json data_of(stream& db, const std::string& key);

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
  /// A JetStream API request, answered synchronously (test code may block). A request to a
  /// stream's subject is a JetStream publish, as the JS library's js.publish sends it (no
  /// headers), answered with the acknowledgement.
  std::string request(const std::string& subject, const std::string& body);

  /// A message as JetStream stores it.
  struct stored_message {
    uint64_t sequence = 0;
    std::string data;
    std::vector<std::pair<std::string, std::string>> headers;  // each name once, first value

    /// The first value of header `name`; nullopt when the message has none.
    std::optional<std::string> header(const std::string& name) const;
  };

  /// The last message JetStream stores on `subject` of `stream` (cnats' js_GetLastMsg, what
  /// jsm.streams.getMessage does in the JS client); nullopt when there is none.
  std::optional<stored_message> last_message(const std::string& stream, const std::string& subject);

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

/// The arguments of one call of a subscription's callback.
struct callback_args {
  std::string key;
  nlohmann::ordered_json data;
  std::optional<meta> m;
  nlohmann::ordered_json event;
};

/// Subscribes to `glob` on `db`, adding the arguments of every callback to `into`.
subscription collect(stream& db, const std::string& glob, collector<callback_args>& into);

}  // namespace eventbase::test
