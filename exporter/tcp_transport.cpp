#include "exporter/tcp_transport.h"

#include "cache/log.h"
#include "exporter/stream_socket.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace tapflow::exporter {

namespace {
constexpr int kSendBufferBytes = 4 * 1024 * 1024;
// IPv4 (20) or IPv6 (40) header plus a TCP header with timestamps (32).
constexpr std::size_t kIpv4TcpOverhead = 52;
constexpr std::size_t kIpv6TcpOverhead = 72;

}  // namespace

TcpTransport::TcpTransport(const std::string& host, const std::string& port, std::chrono::milliseconds io_timeout,
                           std::chrono::milliseconds retry_interval)
    : host_(host), port_(port), io_timeout_(io_timeout), retry_interval_(retry_interval) {
  description_ = "tcp://" + bracketed_host(host) + ":" + port;
  if (host.empty()) throw std::runtime_error("TCP destination '" + description_ + "' has no host");
  std::string error;
  const int family = resolve_family(host, port, error);
  if (family == 0) throw std::runtime_error("cannot resolve TCP destination '" + description_ + "': " + error);
  ipv6_ = family == AF_INET6;
  connect_now();
}

TcpTransport::~TcpTransport() {
  if (fd_ >= 0) close(fd_);
}

bool TcpTransport::connect_now() {
  next_attempt_ = std::chrono::steady_clock::now() + retry_interval_;
  const auto c = connect_stream(host_, port_, IPPROTO_TCP, io_timeout_, [](int fd) {
    int size = kSendBufferBytes;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);  // best effort
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  });
  if (c.fd < 0) {
    if (!outage_reported_) {
      outage_reported_ = true;
      if (!c.resolve_error.empty()) {
        log::warning("cannot resolve {}: {} (retrying every second)", description_, c.resolve_error);
      } else {
        log::warning("cannot connect to {}: {} (retrying every second; messages meanwhile are counted as send errors)",
                     description_, std::strerror(c.error));
      }
    }
    return false;
  }
  fd_ = c.fd;
  ipv6_ = c.ipv6;
  fresh_connection_ = true;
  ++connections_;
  if (outage_reported_) {
    log::notice("connected to {} again", description_);
    outage_reported_ = false;
  }
  return true;
}

void TcpTransport::disconnect(const char* why, int error) {
  close(fd_);
  fd_ = -1;
  fresh_connection_ = false;
  next_attempt_ = std::chrono::steady_clock::now() + retry_interval_;
  if (!outage_reported_) {
    outage_reported_ = true;
    log::warning("connection to {} lost: {}{} (reconnecting every second)", description_, why,
                 error != 0 ? std::string(": ") + std::strerror(error) : std::string());
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
