// publish_manager (see listener.hpp).
#include "api/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/tcp.h>
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

#include "eventbase/log.hpp"

namespace eventbase::api {
namespace {

using watch_connection_atom = caf::atom_constant<caf::atom("eb_hswatch")>;
using check_connection_atom = caf::atom_constant<caf::atom("eb_hscheck")>;

// A BASP message header: a peer that sent fewer bytes has not begun CAF's handshake.
constexpr uint64_t kBaspHeaderBytes = 32;

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

// Checks each accepted connection once, `timeout` after it was accepted, and shuts down those
// that have not received a message header. It identifies a connection by descriptor and inode,
// so a descriptor closed and reused meanwhile is left alone. shutdown() rather than close():
// CAF's multiplexer sees the end of the stream and releases the connection itself.
caf::behavior handshake_guard(caf::event_based_actor* self, std::chrono::milliseconds timeout) {
  return {
      [=](watch_connection_atom, int fd, uint64_t inode) {
        self->delayed_send(self, timeout, check_connection_atom::value, fd, inode);
      },
      [=](check_connection_atom, int fd, uint64_t inode) {
        if (inode == 0 || inode_of(fd) != inode) return;  // closed meanwhile
        tcp_info info{};
        socklen_t len = sizeof info;
        if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return;
        if (info.tcpi_bytes_received >= kBaspHeaderBytes) return;  // CAF's timeout takes over
        EB_LOG_WARN("listener", "closing connection from "
                                    << peer_of(fd) << ": no handshake within " << timeout.count()
                                    << " ms");
        ::shutdown(fd, SHUT_RDWR);
      },
  };
}

class renumbering_doorman final : public caf::io::network::doorman_impl {
 public:
  renumbering_doorman(caf::io::network::default_multiplexer& mpx,
                      caf::io::network::native_socket fd, caf::actor guard)
      : doorman_impl(mpx, fd), guard_(std::move(guard)) {}

  bool new_connection() override {
    if (!detached()) {
      auto& fd = acceptor_.accepted_socket();
      fd = renumber(fd);
      if (guard_) caf::anon_send(guard_, watch_connection_atom::value, fd, inode_of(fd));
    }
    return doorman_impl::new_connection();
  }

  void graceful_shutdown() override {
    if (guard_) caf::anon_send_exit(guard_, caf::exit_reason::user_shutdown);
    guard_ = nullptr;
    doorman_impl::graceful_shutdown();
  }

 private:
  caf::actor guard_;
};

}  // namespace

result<uint16_t> publish_manager(caf::actor_system& sys, const manager_actor& manager,
                                 const std::string& bind, uint16_t port,
                                 std::chrono::milliseconds handshake_timeout) {
  auto& mm = sys.middleman();
  auto* mpx = dynamic_cast<caf::io::network::default_multiplexer*>(&mm.backend());
  if (mpx == nullptr) return status(errc::internal, "CAF runs with an unknown network backend");
  auto fd = caf::io::network::new_tcp_acceptor_impl(port, bind.c_str(), /*reuse_addr=*/true);
  if (!fd)
    return status(errc::unavailable, "cannot listen on " + bind + ":" + std::to_string(port) +
                                         ": " + sys.render(fd.error()));
  caf::actor guard;
  if (handshake_timeout.count() > 0)
    guard = sys.spawn<caf::hidden>(handshake_guard, handshake_timeout);
  auto doorman = caf::make_counted<renumbering_doorman>(*mpx, *fd, guard);
  uint16_t actual = doorman->port();
  // What middleman::publish does after opening its doorman (CAF 0.17.6, middleman_actor_impl).
  auto interface = sys.message_types(caf::detail::type_list<manager_actor>{});
  caf::anon_send(mm.named_broker<caf::io::basp_broker>(caf::atom("BASP")), caf::publish_atom::value,
                 caf::io::doorman_ptr(std::move(doorman)), actual,
                 caf::actor_cast<caf::strong_actor_ptr>(manager), std::move(interface));
  return actual;
}

}  // namespace eventbase::api
