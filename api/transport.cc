// Eventbase's scribes, the TLS module and TCP connect (see transport.hpp).
#include "api/transport.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include <openssl/err.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/interfaces.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/session.hpp>
#include <caf/policy/tcp.hpp>

#include "eventbase/log.hpp"

namespace eventbase::api {

std::string connection_state::failure() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return failure_;
}

void connection_state::set_failure(std::string why) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (failure_.empty()) failure_ = std::move(why);
}

std::string take_ssl_errors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    const char* reason = ERR_reason_error_string(code);
    std::string item = reason != nullptr ? reason : "OpenSSL error " + std::to_string(code);
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0')
      item += std::string(" (") + data + ")";
    if (out.find(item) == std::string::npos) out += (out.empty() ? "" : "; ") + item;
  }
  return out;
}

std::string peer_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    port = ntohs(in->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

std::string explain_tls_failure(const std::string& reason, bool server) {
  auto has = [&](const char* what) { return reason.find(what) != std::string::npos; };
  std::string what;
  if (reason.empty())
    what = server ? "the peer closed the connection during the TLS handshake"
                  : "the server closed the connection during the TLS handshake";
  else if (has("certificate verify failed"))
    what = server ? "its certificate is not signed by our CA or is not valid now (expired?)"
                  : "the server's certificate is not signed by our CA or is not valid now "
                    "(expired?)";
  else if (has("peer did not return a certificate") || has("certificate required"))
    what = server ? "it presented no certificate" : "the server wants a client certificate";
  else if (has("alert"))
    what = server ? "it refused this node's certificate"
                  : "the server refused this client's certificate";
  else if (has("wrong version number") || has("http request") || has("packet length too long") ||
           has("unexpected record") || has("record layer failure"))
    what = server ? "it does not speak TLS" : "the server does not speak TLS";
  else
    return reason;
  return reason.empty() ? what : what + " (" + reason + ")";
}

namespace {

using caf::io::network::native_socket;
using caf::io::network::rw_state;

// The part both policies share: a refused connection reads as failed, so CAF's stream reports
// an I/O failure and the BASP broker cleans the connection up as after any other close.
struct bounded {
  std::shared_ptr<connection_state> state;
};

struct plain_policy : bounded {
  rw_state read_some(size_t& result, native_socket fd, void* buf, size_t len) {
    result = 0;
    if (state->refused) return rw_state::failure;
    return caf::policy::tcp::read_some(result, fd, buf, len);
  }
  rw_state write_some(size_t& result, native_socket fd, const void* buf, size_t len) {
    return caf::policy::tcp::write_some(result, fd, buf, len);
  }
  static bool must_read_more(native_socket, size_t) { return false; }
};

// libcaf_openssl's session does the TLS work. CAF's logging is compiled out in Debian's build,
// so the session leaves OpenSSL's error queue alone: after a failed call it holds the reason,
// which this policy reports once if the handshake never completed.
//
// Writes during the handshake. CAF writes its handshake message as soon as a connection
// exists; until the TLS handshake is done, the session answers every write with "0 bytes,
// try again", and CAF's stream, still wanting to write, is woken by the writable socket at
// once: libcaf_openssl's scribe spins a core for as long as a peer keeps the handshake open
// (measured: a silent connection to a TLS port cost 1.9 s of CPU per 2 s). Here the policy
// keeps such bytes itself (`held`, a few hundred bytes: CAF's handshake), tells the stream
// they were written, and sends them when the peer's next bytes have moved the handshake on.
// Later writes queue behind them, so the order on the wire is unchanged.
struct tls_policy : bounded {
  caf::openssl::session_ptr session;
  bool reported = false;
  bool handshake_done = false;  // a write went through: TLS is up
  std::string held;             // written by CAF before the handshake was done

  rw_state read_some(size_t& result, native_socket fd, void* buf, size_t len) {
    result = 0;
    if (state->refused) return rw_state::failure;
    ERR_clear_error();
    auto res = session->read_some(result, fd, buf, len);
    if (res == rw_state::success && result > 0) state->tls_established = true;
    if (res == rw_state::failure) {
      report(fd);
      return res;
    }
    // The peer's bytes may have completed the handshake: send what CAF wrote before.
    if (!held.empty() && !release_held(fd)) {
      report(fd);
      return rw_state::failure;
    }
    return res;
  }

  rw_state write_some(size_t& result, native_socket fd, const void* buf, size_t len) {
    result = 0;
    if (!held.empty()) {
      if (!release_held(fd)) {
        report(fd);
        return rw_state::failure;
      }
      if (!held.empty()) {
        if (!handshake_done) {  // still waiting for the peer: keep these bytes too
          held.append(static_cast<const char*>(buf), len);
          result = len;
        }
        return rw_state::success;  // after the handshake: the socket is full, wait for it
      }
    }
    ERR_clear_error();
    auto res = session->write_some(result, fd, buf, len);
    if (res == rw_state::failure) {
      report(fd);
    } else if (result > 0) {
      handshake_done = true;
    } else if (!handshake_done && len > 0 && res == rw_state::success) {
      held.assign(static_cast<const char*>(buf), len);  // the handshake waits for the peer
      result = len;
    }
    return res;
  }

  // Sends as much of `held` as the session takes; false on failure.
  bool release_held(native_socket fd) {
    while (!held.empty()) {
      size_t written = 0;
      ERR_clear_error();
      if (session->write_some(written, fd, held.data(), held.size()) == rw_state::failure)
        return false;
      if (written == 0) return true;
      handshake_done = true;
      held.erase(0, written);
    }
    return true;
  }

  bool must_read_more(native_socket fd, size_t threshold) {
    return session->must_read_more(fd, threshold);
  }

  void report(native_socket) {
    std::string why = take_ssl_errors();
    if (reported || state->tls_established) return;
    reported = true;
    if (!state->server) {
      state->set_failure(explain_tls_failure(why, false));
    } else if (!why.empty()) {
      state->set_failure(why);
      EB_LOG_WARN("listener", "refused TLS connection from " << state->peer << ": "
                                                             << explain_tls_failure(why, true));
    } else {
      EB_LOG_INFO("listener",
                  "TLS connection from " << state->peer << " closed before its handshake");
    }
  }
};

// CAF 0.17's caf::io::network::scribe_impl (and libcaf_openssl's, which differs only in
// launch()), over one of the policies above, with the message bound.
template <class Policy>
class bounded_scribe final : public caf::io::scribe {
 public:
  bounded_scribe(caf::io::network::default_multiplexer& mpx, native_socket fd, size_t max_message,
                 Policy policy)
      : scribe(caf::io::network::conn_hdl_from_socket(fd)),
        state_(policy.state),
        max_message_(max_message),
        stream_(mpx, fd, std::move(policy)) {}

  void configure_read(caf::io::receive_policy::config config) override {
    if (max_message_ > 0 && config.second > max_message_ && !state_->refused) {
      // Refuse before CAF resizes the read buffer to the claimed size: read nothing more, and
      // make the socket readable (end of stream) so the stream notices at once.
      state_->refused = true;
      EB_LOG_WARN("listener", "closing connection from "
                                  << state_->peer << ": it announced a message of " << config.second
                                  << " bytes, more than the limit of " << max_message_);
      ::shutdown(stream_.fd(), SHUT_RD);
      config = caf::io::receive_policy::at_most(1);
    }
    stream_.configure_read(config);
    if (!launched_) launch();
  }

  bool consume(caf::execution_unit* ctx, const void* buf, size_t num_bytes) override {
    if (state_->refused) return true;  // the stream reads no more: the failure follows
    state_->started = true;
    return scribe::consume(ctx, buf, num_bytes);
  }

  void ack_writes(bool enable) override { stream_.ack_writes(enable); }
  std::vector<char>& wr_buf() override { return stream_.wr_buf(); }
  std::vector<char>& rd_buf() override { return stream_.rd_buf(); }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  void flush() override { stream_.flush(this); }

  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string();
  }

  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }

  void add_to_loop() override { stream_.activate(this); }
  void remove_from_loop() override { stream_.passivate(); }

 private:
  void launch() {
    launched_ = true;
    stream_.start(this);
    // A TLS session may still have to send its part of the handshake (the server's reply to
    // the client hello, or the client hello itself): an empty write gets the session called
    // when the socket is writable, as libcaf_openssl's scribe does.
    if constexpr (std::is_same_v<Policy, tls_policy>) stream_.force_empty_write(this);
  }

  std::shared_ptr<connection_state> state_;
  size_t max_message_;
  bool launched_ = false;
  caf::io::network::stream_impl<Policy> stream_;
};

// See make_tls_module.
class tls_module final : public caf::actor_system::module {
 public:
  explicit tls_module(caf::actor_system& sys) : sys_(sys) {}

  void init(caf::actor_system_config& cfg) override {
    if (!tls_configured(cfg)) return;
    if (!sys_.has_middleman())
      throw std::logic_error("eventbase: TLS needs caf::io::middleman loaded");
    manager_.reset(static_cast<caf::openssl::manager*>(
        caf::openssl::manager::make(sys_, caf::detail::type_list<>{})));
    manager_->init(cfg);
  }

  void start() override {
    if (manager_) manager_->start();
  }

  void stop() override {
    if (manager_) manager_->stop();
  }

  id_t id() const override { return openssl_manager; }

  // CAF reaches the OpenSSL manager through this pointer (actor_system::openssl_manager()):
  // the real one, or null when TLS is off (then nothing asks for it).
  void* subtype_ptr() override { return manager_ ? manager_->subtype_ptr() : nullptr; }

 private:
  caf::actor_system& sys_;
  std::unique_ptr<caf::openssl::manager> manager_;
};

}  // namespace

bool tls_configured(const caf::actor_system_config& cfg) {
  return !cfg.openssl_certificate.empty() || !cfg.openssl_key.empty() ||
         !cfg.openssl_cafile.empty() || !cfg.openssl_capath.empty();
}

caf::actor_system::module* make_tls_module(caf::actor_system& sys) {
  return new tls_module(sys);
}

result<caf::io::scribe_ptr> make_scribe(caf::actor_system& sys,
                                        caf::io::network::default_multiplexer& mpx, int fd,
                                        size_t max_message,
                                        std::shared_ptr<connection_state> state) {
  caf::io::network::nonblocking(fd, true);
  caf::io::network::keepalive(fd, true);
  if (!state->tls) {
    plain_policy policy;
    policy.state = std::move(state);
    return caf::io::scribe_ptr(
        caf::make_counted<bounded_scribe<plain_policy>>(mpx, fd, max_message, std::move(policy)));
  }
  if (!tls_configured(sys.config()) || !sys.has_openssl_manager()) {
    ::close(fd);
    return status(errc::internal, "TLS is not configured in this actor system");
  }
  ERR_clear_error();
  caf::openssl::session_ptr session;
  try {
    // Loads the certificate, key and CA files and starts the handshake (it fails at once when
    // the peer's first bytes are already there and are not TLS).
    session = caf::openssl::make_session(sys, fd, /*from_accepted_socket=*/state->server);
  } catch (const std::exception& e) {
    ::close(fd);
    return status(errc::internal, std::string("cannot create a TLS session: ") + e.what());
  }
  if (!session) {
    std::string why = explain_tls_failure(take_ssl_errors(), state->server);
    ::close(fd);
    state->set_failure(why);
    return status(errc::unauthenticated, why);
  }
  tls_policy policy;
  policy.state = std::move(state);
  policy.session = std::move(session);
  return caf::io::scribe_ptr(
      caf::make_counted<bounded_scribe<tls_policy>>(mpx, fd, max_message, std::move(policy)));
}

result<int> tcp_connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0) return status(errc::unavailable, "cannot resolve " + host + ": " + gai_strerror(rc));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no address";
  bool timed_out = false;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ::freeaddrinfo(found);
      return fd;
    }
    if (errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLOUT, 0};
      int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
      if (ready == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          ::freeaddrinfo(found);
          return fd;
        }
        last = std::strerror(err);
      } else {
        timed_out = true;
        last = "no answer";
      }
    } else {
      last = std::strerror(errno);
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (timed_out)
    return status(errc::timeout,
                  "cannot reach " + where + " within " + std::to_string(timeout.count()) + " ms");
  return status(errc::unavailable, "cannot connect to " + where + ": " + last);
}

}  // namespace eventbase::api
