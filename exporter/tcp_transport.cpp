#include "exporter/tcp_transport.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tapflow::exporter {

namespace {
constexpr int kSendBufferBytes = 4 * 1024 * 1024;
// IPv4 (20) or IPv6 (40) header plus a TCP header with timestamps (32).
constexpr std::size_t kIpv4TcpOverhead = 52;
constexpr std::size_t kIpv6TcpOverhead = 72;

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

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

TcpTransport::TcpTransport(const std::string& host, const std::string& port, std::chrono::milliseconds io_timeout,
                           std::chrono::milliseconds retry_interval)
    : host_(host), port_(port), io_timeout_(io_timeout), retry_interval_(retry_interval) {
  description_ = "tcp://" + bracketed(host) + ":" + port;
  if (host.empty()) throw std::runtime_error("TCP destination '" + description_ + "' has no host");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &results); rc != 0) {
    throw std::runtime_error("cannot resolve TCP destination '" + description_ + "': " + gai_strerror(rc));
  }
  ipv6_ = results->ai_family == AF_INET6;
  freeaddrinfo(results);
  connect_now();
}

TcpTransport::~TcpTransport() {
  if (fd_ >= 0) close(fd_);
}

bool TcpTransport::connect_now() {
  next_attempt_ = std::chrono::steady_clock::now() + retry_interval_;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* results = nullptr;
  // Resolved again on each attempt: a collector's name may move while it is down.
  if (const int rc = getaddrinfo(host_.c_str(), port_.c_str(), &hints, &results); rc != 0) {
    if (!outage_reported_) {
      outage_reported_ = true;
      std::fprintf(stderr, "tapflow: cannot resolve %s: %s (retrying every second)\n", description_.c_str(),
                   gai_strerror(rc));
    }
    return false;
  }
  int last_error = 0;
  for (const addrinfo* a = results; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    last_error = connect_with_timeout(fd, a->ai_addr, a->ai_addrlen, io_timeout_);
    if (last_error != 0) {
      close(fd);
      continue;
    }
    // Blocking from here on, with a send timeout so a stalled collector cannot hold the data
    // path for longer than io_timeout_.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(io_timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((io_timeout_.count() % 1000) * 1000);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int size = kSendBufferBytes;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);  // best effort
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    fd_ = fd;
    ipv6_ = a->ai_family == AF_INET6;
    fresh_connection_ = true;
    ++connections_;
    if (outage_reported_) {
      std::fprintf(stderr, "tapflow: connected to %s again\n", description_.c_str());
      outage_reported_ = false;
    }
    break;
  }
  freeaddrinfo(results);
  if (fd_ < 0 && !outage_reported_) {
    outage_reported_ = true;
    std::fprintf(stderr, "tapflow: cannot connect to %s: %s (retrying every second; messages meanwhile are "
                 "counted as send errors)\n", description_.c_str(), std::strerror(last_error));
  }
  return fd_ >= 0;
}

void TcpTransport::disconnect(const char* why, int error) {
  close(fd_);
  fd_ = -1;
  fresh_connection_ = false;
  next_attempt_ = std::chrono::steady_clock::now() + retry_interval_;
  if (!outage_reported_) {
    outage_reported_ = true;
    std::fprintf(stderr, "tapflow: connection to %s lost: %s%s (reconnecting every second)\n", description_.c_str(),
                 why, error != 0 ? (std::string(": ") + std::strerror(error)).c_str() : "");
  }
}

SendResult TcpTransport::send(std::span<const std::uint8_t> message) {
  if (fd_ < 0) {
    if (std::chrono::steady_clock::now() < next_attempt_ || !connect_now()) return SendResult::kFailed;
  } else {
    // A collector never sends: readable or hung up means it closed or reset the connection.
    // Writing into it would appear to succeed and lose the message silently.
    pollfd pfd{fd_, POLLIN | POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      disconnect("closed by the collector", 0);
      return SendResult::kFailed;
    }
  }
  std::size_t sent = 0;
  while (sent < message.size()) {
    const ssize_t n = ::send(fd_, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // A timeout (EAGAIN), reset or close: the stream is broken mid-message or the collector is
    // stalled; start over on a new connection with templates.
    disconnect(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "collector stalled" : "send failed",
               n < 0 && errno != EAGAIN && errno != EWOULDBLOCK ? errno : 0);
    return SendResult::kFailed;
  }
  fresh_connection_ = false;
  return SendResult::kSent;
}

std::size_t TcpTransport::max_message_size(std::size_t mtu) const {
  const std::size_t overhead = ipv6_ ? kIpv6TcpOverhead : kIpv4TcpOverhead;
  return mtu > overhead ? mtu - overhead : 0;
}

}  // namespace tapflow::exporter
