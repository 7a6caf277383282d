// publish_manager (see listener.hpp).
#include "api/listener.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>

#include "api/transport.hpp"
#include "eventbase/log.hpp"

namespace eventbase::api {
namespace {

using watch_connection_atom = caf::atom_constant<caf::atom("eb_hswatch")>;
using check_connection_atom = caf::atom_constant<caf::atom("eb_hscheck")>;

// Moves `fd` to a descriptor number above the ones used recently (see listener.hpp); returns
// the new number, or `fd` itself when there is no room. Called on the multiplexer thread only.
int renumber(int fd) {
  static int next = 0;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return fd;
  // Descriptors up to 64K suffice for any rotation; epoll has no limit of its own.
  long top = static_cast<long>(std::min<rlim_t>(limit.rlim_cur, 65536));
  long floor = top / 2;
  if (top - floor < 64) return fd;
  if (next < floor || next >= top) next = static_cast<int>(floor);
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, next);
  if (moved < 0 && next > floor) moved = ::fcntl(fd, F_DUPFD_CLOEXEC, static_cast<int>(floor));
  if (moved < 0) return fd;  // all taken: keep the kernel's number
  next = moved + 1;
  ::close(fd);
  return moved;
}

uint64_t inode_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  return st.st_ino;
}

using state_ptr = std::shared_ptr<connection_state>;

// Checks each accepted connection once, `timeout` after it was accepted, and shuts down those
// that have not delivered a BASP header (after TLS, when TLS is on). It identifies a connection
// by descriptor and inode, so a descriptor closed and reused meanwhile is left alone.
// shutdown() rather than close(): CAF's multiplexer sees the end of the stream and releases
// the connection itself.
caf::behavior handshake_guard(caf::event_based_actor* self, std::chrono::milliseconds timeout) {
  return {
      [=](watch_connection_atom, int fd, uint64_t inode, const state_ptr& state) {
        self->delayed_send(self, timeout, check_connection_atom::value, fd, inode, state);
      },
      [=](check_connection_atom, int fd, uint64_t inode, const state_ptr& state) {
        if (inode == 0 || inode_of(fd) != inode) return;  // closed meanwhile
        if (state->started || state->refused) return;     // CAF's timeout takes over
        EB_LOG_WARN("listener", "closing connection from "
                                    << state->peer << ": no "
                                    << (state->tls && !state->tls_established ? "TLS" : "CAF")
                                    << " handshake within " << timeout.count() << " ms");
        ::shutdown(fd, SHUT_RDWR);
      },
  };
}

class eventbase_doorman final : public caf::io::network::doorman_impl {
 public:
  eventbase_doorman(caf::actor_system& sys, caf::io::network::default_multiplexer& mpx,
                    caf::io::network::native_socket fd, caf::actor guard, listener_options options)
      : doorman_impl(mpx, fd), sys_(sys), guard_(std::move(guard)), options_(options) {}

  // What caf::io::network::doorman_impl::new_connection (and libcaf_openssl's doorman) does,
  // with a renumbered descriptor and Eventbase's scribe.
  bool new_connection() override {
    if (detached()) return false;  // the broker let go of us; the socket goes with the acceptor
    auto& mpx = acceptor_.backend();
    int fd = renumber(acceptor_.accepted_socket());
    auto state = std::make_shared<connection_state>(peer_of(fd), /*is_server=*/true, options_.tls);
    uint64_t inode = inode_of(fd);
    auto scribe = make_scribe(sys_, mpx, fd, options_.max_message, state);
    if (!scribe.ok()) {  // the socket is closed
      if (scribe.error().code() == errc::unauthenticated)
        EB_LOG_WARN("listener", "refused TLS connection from " << state->peer << ": "
                                                               << scribe.error().message());
      else
        EB_LOG_ERROR("listener",
                     "connection from " << state->peer << ": " << scribe.error().message());
      return false;
    }
    if (guard_) caf::anon_send(guard_, watch_connection_atom::value, fd, inode, state);
    auto hdl = (*scribe)->hdl();
    parent()->add_scribe(std::move(*scribe));
    return doorman::new_connection(&mpx, hdl);
  }

  void graceful_shutdown() override {
    if (guard_) caf::anon_send_exit(guard_, caf::exit_reason::user_shutdown);
    guard_ = nullptr;
    doorman_impl::graceful_shutdown();
  }

 private:
  caf::actor_system& sys_;
  caf::actor guard_;
  listener_options options_;
};

}  // namespace

result<uint16_t> publish_manager(caf::actor_system& sys, const manager_actor& manager,
                                 const std::string& bind, uint16_t port,
                                 const listener_options& options) {
  auto& mm = sys.middleman();
  auto* mpx = dynamic_cast<caf::io::network::default_multiplexer*>(&mm.backend());
  if (mpx == nullptr) return status(errc::internal, "CAF runs with an unknown network backend");
  auto fd = caf::io::network::new_tcp_acceptor_impl(port, bind.c_str(), /*reuse_addr=*/true);
  if (!fd)
    return status(errc::unavailable, "cannot listen on " + bind + ":" + std::to_string(port) +
                                         ": " + sys.render(fd.error()));
  if (options.tls && !tls_configured(sys.config())) {
    ::close(*fd);
    return status(errc::internal, "TLS is not configured in this actor system");
  }
  caf::actor guard;
  if (options.handshake_timeout.count() > 0)
    guard = sys.spawn<caf::hidden>(handshake_guard, options.handshake_timeout);
  auto doorman = caf::make_counted<eventbase_doorman>(sys, *mpx, *fd, guard, options);
  uint16_t actual = doorman->port();
  // What middleman::publish does after opening its doorman (CAF 0.17.6, middleman_actor_impl).
  auto interface = sys.message_types(caf::detail::type_list<manager_actor>{});
  caf::anon_send(mm.named_broker<caf::io::basp_broker>(caf::atom("BASP")), caf::publish_atom::value,
                 caf::io::doorman_ptr(std::move(doorman)), actual,
                 caf::actor_cast<caf::strong_actor_ptr>(manager), std::move(interface));
  return actual;
}

}  // namespace eventbase::api
