// probe_server_version (see nats/server_probe.hpp).
#include "nats/server_probe.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace eventbase::nats {
namespace {

// Closes the descriptor it holds when it goes.
struct socket_guard {
  int fd = -1;
  ~socket_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// The host and port of `url`; empty host when there is none.
std::pair<std::string, std::string> host_and_port(std::string url) {
  if (auto scheme = url.find("://"); scheme != std::string::npos) url = url.substr(scheme + 3);
  if (auto at = url.rfind('@'); at != std::string::npos) url = url.substr(at + 1);
  if (auto slash = url.find('/'); slash != std::string::npos) url.resize(slash);
  std::string host = url, port = "4222";
  if (!url.empty() && url.front() == '[') {
    auto close = url.find(']');
    if (close == std::string::npos) return {};
    host = url.substr(1, close - 1);
    if (close + 1 < url.size() && url[close + 1] == ':') port = url.substr(close + 2);
  } else if (auto colon = url.rfind(':'); colon != std::string::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
  }
  return {host, port};
}

}  // namespace

result<server_version> probe_server_version(const std::string& url,
                                            std::chrono::milliseconds timeout) {
  auto [host, port] = host_and_port(url);
  if (host.empty()) return status(errc::invalid_argument, "no host in NATS URL '" + url + "'");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return status(errc::unavailable, "cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto wait = [&](int fd, short events) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, events, 0};
    return left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) == 1;
  };
  std::string why = "no address";
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    socket_guard sock{::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0) continue;
    if (::connect(sock.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      why = std::strerror(errno);
      continue;
    }
    if (!wait(sock.fd, POLLOUT)) {
      why = "no connection within " + std::to_string(timeout.count()) + " ms";
      continue;
    }
    int error = 0;
    socklen_t len = sizeof error;
    if (::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
      why = std::strerror(error);
      continue;
    }
    // The INFO line: at most 16 KiB (a server lists its cluster's URLs in it).
    std::string line;
    char buf[4096];
    while (line.find("\r\n") == std::string::npos && line.size() < (16u << 10)) {
      if (!wait(sock.fd, POLLIN)) return status(errc::unavailable, "no INFO from " + url);
      auto n = ::recv(sock.fd, buf, sizeof buf, 0);
      if (n <= 0) return status(errc::unavailable, url + " closed before its INFO");
      line.append(buf, static_cast<size_t>(n));
    }
    return parse_info_version(line.substr(0, line.find("\r\n")));
  }
  return status(errc::unavailable, "cannot reach " + url + ": " + why);
}

}  // namespace eventbase::nats
