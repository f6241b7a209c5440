// The flow key: what makes two packets belong to the same flow.
// A plain struct with no padding, so it can be hashed and compared as bytes; filled by the
// decoder (probe/), owned by the cache.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace tapflow::cache {

struct FlowKey {
  // IPv4 addresses occupy the first 4 bytes, the other 12 stay zero.
  std::array<std::uint8_t, 16> source_address{};
  std::array<std::uint8_t, 16> destination_address{};
  std::uint32_t ingress_interface = 0;
  std::uint16_t source_port = 0;
  // ICMP and ICMPv6: type * 256 + code, the Cisco convention (source port stays 0).
  std::uint16_t destination_port = 0;
  std::uint8_t protocol = 0;
  std::uint8_t tos = 0;         // IPv4 ToS byte / IPv6 traffic class
  std::uint8_t ip_version = 0;  // 4 or 6
  std::uint8_t reserved = 0;    // always 0: keeps the struct free of padding bytes

  bool operator==(const FlowKey&) const = default;

  bool is_ipv6() const { return ip_version == 6; }
};
// 44 bytes with no padding: hashing and comparing the raw bytes is exact.
static_assert(sizeof(FlowKey) == 44, "FlowKey must have no padding");

}  // namespace tapflow::cache
