#include "exporter/transport/udp_transport.h"


#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tapflow::exporter {

namespace {
// Room for bursts of export messages while the collector drains them; the kernel may clamp it
// to net.core.wmem_max, which is fine.
constexpr int kSendBufferBytes = 8 * 1024 * 1024;
// IPv4 (20) or IPv6 (40) header plus the UDP header (8), no options or extension headers.
constexpr std::size_t kIpv4UdpOverhead = 28;
constexpr std::size_t kIpv6UdpOverhead = 48;
}  // namespace

namespace {
bool is_multicast(const sockaddr* a) {
  if (a->sa_family == AF_INET) {
    return IN_MULTICAST(ntohl(reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr));
  }
  return a->sa_family == AF_INET6 && IN6_IS_ADDR_MULTICAST(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr);
}

// Binds fd to `source` (a numeric address of the destination's family); returns errno or 0.
int bind_source(int fd, int family, const std::string& source) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(source.c_str(), nullptr, &hints, &found) != 0) return EAFNOSUPPORT;
  const int rc = bind(fd, found->ai_addr, found->ai_addrlen) == 0 ? 0 : errno;
  if (rc == 0 && family == AF_INET) {
    // A multicast datagram leaves by the interface that has this address.
    const in_addr itf = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr;
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &itf, sizeof itf);
  }
  freeaddrinfo(found);
  return rc;
}
}  // namespace

UdpTransport::UdpTransport(const std::string& host, const std::string& port, ExportRate rate, const UdpOptions& options)
    : pacer_(rate) {
  const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  if (host.empty()) throw std::runtime_error("UDP destination '" + where + "' has no host");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  addrinfo* results = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &results); rc != 0) {
    throw std::runtime_error("cannot resolve UDP destination '" + where + "': " + gai_strerror(rc));
  }
  int last_errno = 0;
  for (const addrinfo* a = results; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    if (!options.source_address.empty()) {
      if (const int rc = bind_source(fd, a->ai_family, options.source_address); rc != 0) {
        close(fd);
        freeaddrinfo(results);
        throw std::runtime_error("cannot send to '" + where + "' from --export-source " + options.source_address +
                                 ": " + (rc == EAFNOSUPPORT ? std::string("not a numeric address of the destination's family")
                                                            : std::strerror(rc)));
      }
    }
    if (is_multicast(a->ai_addr)) {
      const int ttl = options.multicast_ttl;
      if (a->ai_family == AF_INET) {
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
      } else {
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof ttl);
      }
    }
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      last_errno = errno;
      close(fd);
      continue;
    }
    int size = kSendBufferBytes;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);  // best effort
    fd_ = fd;
    ipv6_ = a->ai_family == AF_INET6;
    break;
  }
  freeaddrinfo(results);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open a UDP socket to '" + where + "': " + std::strerror(last_errno));
  }
  description_ = "udp://" + where;
}

UdpTransport::~UdpTransport() {
  if (fd_ >= 0) close(fd_);
}

SendResult UdpTransport::send(std::span<const std::uint8_t> message) {
  pacer_.wait(message.size());
  for (;;) {
    const ssize_t n = ::send(fd_, message.data(), message.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(message.size())) return SendResult::kSent;
    if (n < 0 && errno == EINTR) continue;
    const int error = n < 0 ? errno : 0;
    if (!error_reported_) {
      error_reported_ = true;
      events_.warning("cannot send to {}: {} (further failures only counted)", description_,
                      n < 0 ? std::strerror(error) : "short send");
    }
    // ECONNREFUSED reports the ICMP port unreachable of the datagram before; this one was not
    // sent either, so both are lost.
    return error == ECONNREFUSED ? SendResult::kFailedWithPrevious : SendResult::kFailed;
  }
}

void UdpTransport::settle() {
  // An ICMP port unreachable takes a round trip to come back; on loopback it is already here.
  pollfd p{fd_, 0, 0};  // POLLERR is always reported
  ::poll(&p, 1, 50);
}

void UdpTransport::flush() {
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == ECONNREFUSED) last_lost_ = true;
}

std::size_t UdpTransport::max_message_size(std::size_t mtu) const {
  const std::size_t overhead = ipv6_ ? kIpv6UdpOverhead : kIpv4UdpOverhead;
  return mtu > overhead ? mtu - overhead : 0;
}

}  // namespace tapflow::exporter
