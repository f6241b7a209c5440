// The flow key: what makes two packets belong to the same flow.
// A plain struct with no padding, so it can be hashed and compared as bytes; filled by the
// decoder (probe/), owned by the cache.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace tapflow::cache {

// The tunnel a --decap flow was found in (the innermost one when tunnels nest); kNone for every
// flow without --decap. Names are the --decap words.
enum class TunnelType : std::uint8_t {
  kNone = 0,
  kGre = 1,         // RFC 2784/2890; the id is the GRE key (0 without one)
  kVxlan = 2,       // RFC 7348; the id is the VNI
  kGeneve = 3,      // RFC 8926; the id is the VNI
  kGtpU = 4,        // 3GPP TS 29.281; the id is the TEID
  kErspan = 5,      // ERSPAN type I/II/III over GRE; the id is the session id (0 for type I)
  kIpInIp = 6,      // RFC 2003 (and IPv4 in IPv6, RFC 2473); no id
  kIpv6InIpv4 = 7,  // RFC 4213 (and IPv6 in IPv6, RFC 2473); no id
};

constexpr std::string_view to_string(TunnelType type) {
  switch (type) {
    case TunnelType::kNone: return "none";
    case TunnelType::kGre: return "gre";
    case TunnelType::kVxlan: return "vxlan";
    case TunnelType::kGeneve: return "geneve";
    case TunnelType::kGtpU: return "gtp-u";
    case TunnelType::kErspan: return "erspan";
    case TunnelType::kIpInIp: return "ip-in-ip";
    case TunnelType::kIpv6InIpv4: return "ipv6-in-ipv4";
  }
  return "unknown";
}

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
  std::uint8_t tunnel_type = 0;  // a TunnelType: 0 without --decap
  // The tunnel's identifier (VNI, TEID, GRE key, ERSPAN session), part of the key so that equal
  // inner headers in two tunnels stay two flows; 0 without --decap.
  std::uint32_t tunnel_id = 0;

  bool operator==(const FlowKey&) const = default;

  bool is_ipv6() const { return ip_version == 6; }
};
// 48 bytes with no padding: hashing and comparing the raw bytes is exact, and the hash reads six
// whole 8-byte words (the last one protocol, tos, ip_version, tunnel_type, tunnel_id).
static_assert(sizeof(FlowKey) == 48, "FlowKey must have no padding");
static_assert(offsetof(FlowKey, protocol) == 40 && offsetof(FlowKey, tunnel_id) == 44,
              "the hash's last word starts at protocol");

}  // namespace tapflow::cache
