// The HTTP endpoint of eventbase-server (--http=ADDR:PORT, README "Health and metrics"):
//   GET /healthz  200 {"status":"ok"} when the health function says OK; 503
//                 {"status":"unavailable","reason":"..."} otherwise
//   GET /metrics  200 with the metrics function's text (Prometheus' text format, 0.0.4); 503
//                 when it fails
// Anything else gets 404 (or 400/405 from cpp-httplib) with a short body.
//
// Every request is treated as hostile. The endpoint runs on threads of its own (never CAF's):
// one accepting, `threads` serving, with at most `queue` accepted connections waiting for a
// thread (beyond that the kernel's listen backlog holds them, then refuses them); requests have
// no body (at most 1 KiB is read), the request line and headers at most 8 KiB each (cpp-httplib's
// compiled limits); every read and write times out after `io_timeout`, and a connection is shut
// down after `connection_limit` whatever it does, so a client that trickles bytes holds a thread
// for at most that long. /healthz answers from a result at most a second old, so a flood of
// health checks costs at most one probe per second. Functions are called on the endpoint's
// threads, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "eventbase/status.hpp"

namespace eventbase::api {

struct http_options {
  std::string host = "127.0.0.1";  // resolved by the caller's rules (eventbase-server: --http)
  uint16_t port = 0;               // 0: any free port
  size_t threads = 2;
  size_t queue = 16;
  std::chrono::milliseconds io_timeout{std::chrono::seconds(2)};
  std::chrono::milliseconds connection_limit{std::chrono::seconds(10)};
};

/// "ADDR:PORT" ("[IPv6]:PORT" for IPv6) -> host and port; invalid_argument naming what is wrong.
result<std::pair<std::string, uint16_t>> parse_http_address(const std::string& text);

class http_endpoint {
 public:
  using health_function = std::function<status()>;
  using metrics_function = std::function<result<std::string>()>;

  /// Binds and starts serving; unavailable when the address cannot be bound.
  static result<std::unique_ptr<http_endpoint>> start(const http_options& options,
                                                      health_function health,
                                                      metrics_function metrics);

  /// Stops accepting, shuts down open connections, waits for the threads. Idempotent.
  void stop();
  ~http_endpoint();

  uint16_t port() const;

  struct impl;

 private:
  explicit http_endpoint(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace eventbase::api
