#include "exporter/transport/stream_socket.h"


#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

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

bool resolves_to_ipv6(const char* protocol_name, const std::string& description, const std::string& host,
                      const std::string& port) {
  if (host.empty()) {
    throw std::runtime_error(std::string(protocol_name) + " destination '" + description + "' has no host");
  }
  std::string error;
  const int family = resolve_family(host, port, error);
  if (family == 0) {
    throw std::runtime_error(std::string("cannot resolve ") + protocol_name + " destination '" + description +
                             "': " + error);
  }
  return family == AF_INET6;
}

StreamSession::StreamSession(TransportEvents& events, std::string host, std::string port, int protocol, bool ipv6,
                             std::string description, StreamWording wording, std::chrono::milliseconds io_timeout,
                             std::chrono::milliseconds retry_interval, std::function<void(int fd)> configure)
    : events_(events),
      host_(std::move(host)),
      port_(std::move(port)),
      protocol_(protocol),
      ipv6_(ipv6),
      description_(std::move(description)),
      wording_(wording),
      io_timeout_(io_timeout),
      retry_interval_(retry_interval),
      configure_(std::move(configure)) {}

StreamSession::~StreamSession() {
  if (fd_ >= 0) close(fd_);
}

bool StreamSession::connect_now() {
  if (fd_ >= 0) return true;  // already connected: keep the session (and its socket)
  next_attempt_ = std::chrono::steady_clock::now() + retry_interval_;
  const auto c = connect_stream(host_, port_, protocol_, io_timeout_, configure_);
  if (c.fd < 0) {
    if (!outage_reported_) {
      outage_reported_ = true;
      if (!c.resolve_error.empty()) {
        events_.warning("cannot resolve {}: {} (retrying every second)", description_, c.resolve_error);
      } else {
        events_.warning("cannot {} {}: {} (retrying every second; messages meanwhile are counted as send errors)",
                     wording_.connect, description_, std::strerror(c.error));
      }
    }
    return false;
  }
  fd_ = c.fd;
  ipv6_ = c.ipv6;
  fresh_ = true;
  ++sessions_;
  if (outage_reported_) {
    events_.notice("{} {} again", wording_.connected, description_);
    outage_reported_ = false;
  }
  return true;
}

bool StreamSession::connect_if_due() {
  if (fd_ >= 0) return true;
  return std::chrono::steady_clock::now() >= next_attempt_ && connect_now();
}

void StreamSession::disconnect(const char* why, int error) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  fresh_ = false;
  next_attempt_ = std::chrono::steady_clock::now() + retry_interval_;
  if (!outage_reported_) {
    outage_reported_ = true;
    events_.warning("{} {} lost: {}{} ({} every second)", wording_.session, description_, why,
                 error != 0 ? std::string(": ") + std::strerror(error) : std::string(), wording_.reconnect);
  }
}

}  // namespace tapflow::exporter
