#include "exporter/stream_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace tapflow::exporter {

namespace {
// Connects `fd` (non-blocking) within `timeout`; returns 0 or an errno value.
int connect_with_timeout(int fd, const sockaddr* address, socklen_t length, std::chrono::milliseconds timeout) {
  if (connect(fd, address, length) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd pfd{fd, POLLOUT, 0};
  int ready;
  do {
    ready = poll(&pfd, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) return ETIMEDOUT;
  if (ready < 0) return errno;
  int error = 0;
  socklen_t error_length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_length);
  return error;
}
}  // namespace

std::string bracketed_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

int resolve_family(const std::string& host, const std::string& port, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &results); rc != 0) {
    error = gai_strerror(rc);
    return 0;
  }
  const int family = results->ai_family;
  freeaddrinfo(results);
  return family;
}

StreamConnectResult connect_stream(const std::string& host, const std::string& port, int protocol,
                                   std::chrono::milliseconds io_timeout,
                                   const std::function<void(int fd)>& configure) {
  StreamConnectResult result;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &results); rc != 0) {
    result.resolve_error = gai_strerror(rc);
    return result;
  }
  for (const addrinfo* a = results; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    if (fd < 0) {
      result.error = errno;
      continue;
    }
    if (configure) configure(fd);
    result.error = connect_with_timeout(fd, a->ai_addr, a->ai_addrlen, io_timeout);
    if (result.error != 0) {
      close(fd);
      continue;
    }
    // Blocking from here on, with a send timeout so a stalled collector cannot hold the data
    // path for longer than io_timeout.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(io_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((io_timeout.count() % 1000) * 1000);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    result.fd = fd;
    result.ipv6 = a->ai_family == AF_INET6;
    break;
  }
  freeaddrinfo(results);
  return result;
}

}  // namespace tapflow::exporter
