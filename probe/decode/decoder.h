// Packet decoder: one frame in, one PacketSummary out, or a verdict saying why not.
// A pure function over bytes: no I/O, no allocation, no exceptions, and never a read past the
// captured length. Every verdict other than kOk is a reason counted in the statistics.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "cache/packet_summary.h"
#include "drivers/frame.h"

namespace tapflow::probe {

enum class DecodeVerdict : std::uint8_t {
  kOk = 0,
  kUnsupportedLinkType,
  kTruncatedLinkLayer,     // frame ends inside the link-layer header or a VLAN tag
  kTruncatedMpls,          // MPLS label stack runs off the capture
  kMplsNotIp,              // bottom of the MPLS stack is not IPv4/IPv6
  kNotIp,                  // ARP, LLDP, other ethertypes / link protocols
  kTruncatedNetworkLayer,  // frame ends inside the IPv4/IPv6 header or its extension headers
  kBadIpVersion,           // version nibble disagrees with the ethertype / link type
  kBadIpHeaderLength,      // IPv4 IHL < 5
  kBadIpTotalLength,  // IPv4 total length < header length; IPv6 extension chain longer than payload
  kTruncatedTransportLayer,  // frame ends before the ports (or ICMP type/code) of a first fragment
  kCount
};

std::string_view to_string(DecodeVerdict verdict);
// A short snake_case name for machine output (JSON keys, metrics labels).
std::string_view to_key(DecodeVerdict verdict);

// Decodes one frame. `frame` is the captured bytes (caplen), `wire_length` the original length.
// On kOk, `out` is complete (every byte of the key written); otherwise `out` is unspecified.
// out.octets is the IP datagram length from its header (IPv4 total length, IPv6 payload length
// + 40, RFC 2675 jumbo length + 40), capped at the wire length from the IP header on; when the
// header gives 0 (TSO, BIG TCP) it is the wire length from the IP header on.
DecodeVerdict decode_packet(int link_type, std::span<const std::uint8_t> frame,
                            std::uint32_t wire_length, std::uint64_t timestamp_ns,
                            std::uint32_t ingress_interface, cache::PacketSummary& out);

}  // namespace tapflow::probe
