#include "exporter/transport/tcp_transport.h"

#include "exporter/transport/stream_socket.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace tapflow::exporter {

namespace {
constexpr int kSendBufferBytes = 4 * 1024 * 1024;
// IPv4 (20) or IPv6 (40) header plus a TCP header with timestamps (32).
constexpr std::size_t kIpv4TcpOverhead = 52;
constexpr std::size_t kIpv6TcpOverhead = 72;

std::string describe(const std::string& host, const std::string& port) {
  return "tcp://" + bracketed_host(host) + ":" + port;
}

void configure_socket(int fd) {
  int size = kSendBufferBytes;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);  // best effort
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}
}  // namespace

TcpTransport::TcpTransport(const std::string& host, const std::string& port, std::chrono::milliseconds io_timeout,
                           std::chrono::milliseconds retry_interval)
    : description_(describe(host, port)),
      session_(events_, host, port, IPPROTO_TCP, resolves_to_ipv6("TCP", description_, host, port), description_,
               {"connect to", "connected to", "connection to", "reconnecting"}, io_timeout, retry_interval,
               configure_socket) {
  session_.connect_now();
}

TcpTransport::~TcpTransport() = default;

SendResult TcpTransport::send(std::span<const std::uint8_t> message) {
  if (!session_.connected()) {
    if (!session_.connect_if_due()) return SendResult::kFailed;
  } else {
    // A collector never sends: readable or hung up means it closed or reset the connection.
    // Writing into it would appear to succeed and lose the message silently.
    pollfd pfd{session_.fd(), POLLIN | POLLRDHUP, 0};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      session_.disconnect("closed by the collector", 0);
      return SendResult::kFailed;
    }
  }
  std::size_t sent = 0;
  while (sent < message.size()) {
    const ssize_t n = ::send(session_.fd(), message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // A timeout (EAGAIN), reset or close: the stream is broken mid-message or the collector is
    // stalled; start over on a new connection with templates.
    const bool stalled = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    session_.disconnect(stalled ? "collector stalled" : "send failed", n < 0 && !stalled ? errno : 0);
    return SendResult::kFailed;
  }
  session_.mark_used();
  return SendResult::kSent;
}

std::size_t TcpTransport::max_message_size(std::size_t mtu) const {
  const std::size_t overhead = session_.ipv6() ? kIpv6TcpOverhead : kIpv4TcpOverhead;
  return mtu > overhead ? mtu - overhead : 0;
}

}  // namespace tapflow::exporter
