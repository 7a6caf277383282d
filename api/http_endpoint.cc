// The HTTP endpoint (see http_endpoint.hpp), on cpp-httplib's server with a bounded thread pool
// and a reaper that enforces the connection time limit.
#include "api/http_endpoint.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "eventbase/log.hpp"

namespace eventbase::api {
namespace {

// cpp-httplib's task queue with a fixed number of threads and a bounded queue: enqueue (on the
// accepting thread) waits while the queue is full, so connections beyond it wait in the
// kernel's backlog instead of holding descriptors here.
class bounded_pool : public httplib::TaskQueue {
 public:
  bounded_pool(size_t threads, size_t capacity) : capacity_(capacity) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [this] { return jobs_.size() < capacity_; });
    jobs_.push_back(std::move(fn));
    not_empty_.notify_one();
  }

  // Called once the accepting loop has ended: runs what is queued, then joins.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      shutting_down_ = true;
    }
    not_empty_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        not_empty_.wait(lock, [this] { return !jobs_.empty() || shutting_down_; });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        not_full_.notify_one();
      }
      job();
    }
  }

  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::function<void()>> jobs_;
  bool shutting_down_ = false;
  std::vector<std::thread> threads_;
};

uint16_t port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

}  // namespace

result<std::pair<std::string, uint16_t>> parse_http_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return status(errc::invalid_argument, "--http must be ADDR:PORT, not '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string port_text = text.substr(colon + 1);
  char* end = nullptr;
  long port = std::strtol(port_text.c_str(), &end, 10);
  if (host.empty() || port_text.empty() || *end != '\0' || port < 0 || port > 65535)
    return status(errc::invalid_argument,
                  "--http must be ADDR:PORT with a port within 0..65535, not '" + text + "'");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

struct http_endpoint::impl {
  http_options options;
  health_function health;
  metrics_function metrics;
  httplib::Server server;
  uint16_t port = 0;
  std::thread listener;
  std::atomic<bool> listen_returned{false};
  std::thread reaper;
  std::mutex mutex;  // guards what follows
  std::condition_variable wake_reaper;
  bool stopping = false;
  std::map<ino_t, std::chrono::steady_clock::time_point> first_seen;  // connection -> since
  std::mutex health_mutex;                                            // one probe at a time
  std::chrono::steady_clock::time_point health_checked;
  status health_result;
  bool health_known = false;

  // Shuts down the accepted connections of the endpoint older than the connection limit (all
  // of them when `all`): the sockets whose local port is ours and that have a peer. The serving
  // thread then sees the connection end and closes it.
  void reap(bool all) {
    auto now = std::chrono::steady_clock::now();
    std::map<ino_t, std::chrono::steady_clock::time_point> seen;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return;
    while (dirent* entry = ::readdir(dir)) {
      char* end = nullptr;
      long fd = std::strtol(entry->d_name, &end, 10);
      if (*end != '\0' || end == entry->d_name || fd == ::dirfd(dir)) continue;
      struct stat st {};
      if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
      sockaddr_storage local{}, peer{};
      socklen_t len = sizeof local;
      if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &len) != 0 ||
          port_of(local) != port)
        continue;
      len = sizeof peer;
      if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &len) != 0)
        continue;  // the listening socket
      auto known = first_seen.find(st.st_ino);
      auto since = known == first_seen.end() ? now : known->second;
      seen[st.st_ino] = since;
      if (all || now - since >= options.connection_limit) {
        if (!all) EB_LOG_INFO("http", "closing a connection open for longer than the limit");
        ::shutdown(static_cast<int>(fd), SHUT_RDWR);
      }
    }
    ::closedir(dir);
    first_seen = std::move(seen);
  }

  status cached_health() {
    std::lock_guard<std::mutex> guard(health_mutex);
    auto now = std::chrono::steady_clock::now();
    if (!health_known || now - health_checked >= std::chrono::seconds(1)) {
      health_result = health();
      health_checked = std::chrono::steady_clock::now();
      health_known = true;
    }
    return health_result;
  }

  void routes() {
    server.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      status st = cached_health();
      nlohmann::json body;
      if (st.ok()) {
        body = {{"status", "ok"}};
      } else {
        res.status = 503;
        body = {{"status", "unavailable"}, {"reason", st.message()}};
      }
      res.set_header("Cache-Control", "no-store");
      res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                      "application/json");
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      auto text = metrics();
      res.set_header("Cache-Control", "no-store");
      if (!text.ok()) {
        res.status = 503;
        res.set_content(text.error().to_string() + "\n", "text/plain; charset=utf-8");
        return;
      }
      res.set_content(std::move(*text), "text/plain; version=0.0.4; charset=utf-8");
    });
    // Called for every status from 400 on, also the 503s above: those keep their body.
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      res.set_content(std::to_string(res.status) + " (GET /healthz or /metrics)\n",
                      "text/plain; charset=utf-8");
    });
    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          res.status = 500;
          res.set_content("internal error\n", "text/plain; charset=utf-8");
        });
  }
};

result<std::unique_ptr<http_endpoint>> http_endpoint::start(const http_options& options,
                                                            health_function health,
                                                            metrics_function metrics) {
  auto p = std::make_unique<impl>();
  p->options = options;
  p->health = std::move(health);
  p->metrics = std::move(metrics);
  auto& server = p->server;
  size_t threads = std::max<size_t>(options.threads, 1);
  size_t queue = std::max<size_t>(options.queue, 1);
  server.new_task_queue = [threads, queue] { return new bounded_pool(threads, queue); };
  auto io = std::chrono::duration_cast<std::chrono::microseconds>(options.io_timeout).count();
  server.set_read_timeout(io / 1000000, io % 1000000);
  server.set_write_timeout(io / 1000000, io % 1000000);
  server.set_keep_alive_timeout(std::max<time_t>(io / 1000000, 1));
  server.set_keep_alive_max_count(10);
  server.set_payload_max_length(1024);
  server.set_tcp_nodelay(true);
  p->routes();
  int bound = options.port == 0
                  ? server.bind_to_any_port(options.host)
                  : (server.bind_to_port(options.host, options.port) ? options.port : -1);
  if (bound <= 0)
    return status(errc::unavailable, "cannot serve HTTP on " + options.host + ":" +
                                         std::to_string(options.port) +
                                         " (address in use, or not an address of this host)");
  p->port = static_cast<uint16_t>(bound);
  auto* raw = p.get();
  p->listener = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->listen_returned = true;
  });
  // stop() can end the accepting loop only once it runs.
  while (!server.is_running() && !p->listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  p->reaper = std::thread([raw] {
    std::unique_lock<std::mutex> lock(raw->mutex);
    while (!raw->stopping) {
      raw->wake_reaper.wait_for(lock, std::chrono::seconds(1));
      if (!raw->stopping) raw->reap(false);
    }
  });
  EB_LOG_INFO("http", "serving /healthz and /metrics on " << options.host << ":" << p->port);
  return std::unique_ptr<http_endpoint>(new http_endpoint(std::move(p)));
}

http_endpoint::http_endpoint(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

http_endpoint::~http_endpoint() {
  stop();
}

uint16_t http_endpoint::port() const {
  return impl_->port;
}

void http_endpoint::stop() {
  {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->wake_reaper.notify_all();
  impl_->reaper.join();
  impl_->server.stop();  // closes the listening socket; the accepting loop ends
  // Until the serving threads are done, shut down whatever connections they still hold.
  while (impl_->server.is_running()) {
    impl_->reap(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl_->listener.join();
}

}  // namespace eventbase::api
