#include "cache/flow_text.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <ctime>

namespace tapflow::cache {

std::string protocol_name(std::uint8_t protocol) {
  switch (protocol) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 47: return "GRE";
    case 50: return "ESP";
    case 58: return "ICMPv6";
    case 132: return "SCTP";
    default: return std::to_string(protocol);
  }
}

std::string format_address(const std::array<std::uint8_t, 16>& address, bool ipv6) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ipv6 ? AF_INET6 : AF_INET, address.data(), text, sizeof text);
  return text;
}

std::string format_endpoint(const std::array<std::uint8_t, 16>& address, bool ipv6, std::uint16_t port) {
  return ipv6 ? fmt::format("[{}]:{}", format_address(address, true), port)
              : fmt::format("{}:{}", format_address(address, false), port);
}

std::string format_endpoint(const FlowKey& key, bool source) {
  return source ? format_endpoint(key.source_address, key.is_ipv6(), key.source_port)
                : format_endpoint(key.destination_address, key.is_ipv6(), key.destination_port);
}

std::string format_tcp_flags(std::uint8_t flags) {
  static constexpr char kLetters[] = "CEUAPRSF";  // bit 7 .. bit 0
  std::string text(8, '.');
  for (int bit = 0; bit < 8; ++bit) {
    if (flags & (0x80 >> bit)) text[static_cast<std::size_t>(bit)] = kLetters[bit];
  }
  return text;
}

std::string format_time_utc(std::uint64_t ns) {
  const std::uint64_t ms = ns / 1'000'000;
  const auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

}  // namespace tapflow::cache
