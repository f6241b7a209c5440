// Export over UDP (RFC 7011 §10.3): a connected datagram socket to one collector, IPv4 or IPv6.
// Failed sends (ENOBUFS, ECONNREFUSED after an ICMP port unreachable...) are returned as
// SendResult::kFailed and never throw; the exporter counts them, the first is logged once.
#pragma once

#include <string>
#include <utility>

#include "exporter/transport/transport.h"

namespace tapflow::exporter {

struct UdpOptions {
  int multicast_ttl = 1;       // to a multicast group: IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS
  std::string source_address;  // bound before connecting (also picks the multicast interface)
};

class UdpTransport final : public Transport {
 public:
  // Resolves host and port (getaddrinfo) and connects; throws std::runtime_error naming the
  // destination when that fails.
  UdpTransport(const std::string& host, const std::string& port, ExportRate rate = {},
               const UdpOptions& options = UdpOptions());
  ~UdpTransport() override;
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;

  SendResult send(std::span<const std::uint8_t> message) override;
  // Reads a pending ICMP refusal (SO_ERROR): the last datagram went nowhere.
  void flush() override;
  bool take_last_lost() override { return std::exchange(last_lost_, false); }
  void settle() override;
  std::size_t max_message_size(std::size_t mtu) const override;
  bool periodic_templates() const override { return true; }
  const std::string& description() const override { return description_; }
  bool is_ipv6() const { return ipv6_; }
  void set_rate(const ExportRate& rate) override { pacer_.set_rate(rate); }
  ExportRate rate() const override { return pacer_.rate(); }

 private:
  int fd_ = -1;
  bool ipv6_ = false;
  bool error_reported_ = false;  // the first failure is logged once, the rest only counted
  bool last_lost_ = false;
  std::string description_;
  Pacer pacer_;
};

}  // namespace tapflow::exporter
