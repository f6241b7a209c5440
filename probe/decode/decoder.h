// Packet decoder: one frame in, one PacketSummary out, or a verdict saying why not.
// A pure function over bytes: no I/O, no allocation, no exceptions, and never a read past the
// captured length. Every verdict other than kOk is a reason counted in the statistics.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
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
  // --decap only: a tunnel header that is cut short or breaks its specification. Layers inside a
  // well-formed tunnel header are counted under the reasons above, as outer ones are.
  kDecapBadGre,     // GRE: header past the datagram, routing present, version other than 0 or 1
  kDecapBadErspan,  // ERSPAN II/III header past the datagram, or a version that is not its type's
  kDecapBadVxlan,   // VXLAN header past the datagram, or the I flag (a valid VNI) clear
  kDecapBadGeneve,  // Geneve header or options past the datagram, or a version other than 0
  kDecapBadGtpU,    // GTP-U header or extension headers past the datagram, or malformed
  kDecapTooDeep,    // more than kMaxTunnelDepth tunnels nested
  kCount
};

// --decap: which encapsulations the decoder looks into (a bit mask). Without any, a tunnel is an
// outer flow (GRE: protocol 47, VXLAN: UDP to 4789...), as without the option.
enum DecapProtocols : std::uint16_t {
  kDecapGre = 1u << 0,         // IP protocol 47 carrying IPv4, IPv6 or Ethernet (0x6558)
  kDecapVxlan = 1u << 1,       // UDP to 4789 (IANA) or 8472 (Linux's default)
  kDecapGeneve = 1u << 2,      // UDP to 6081
  kDecapGtpU = 1u << 3,        // UDP to 2152, G-PDU messages
  kDecapErspan = 1u << 4,      // GRE carrying 0x88be (type I/II) or 0x22eb (type III)
  kDecapIpInIp = 1u << 5,      // IP protocol 4 (IPv4 in IPv4 or IPv6)
  kDecapIpv6InIpv4 = 1u << 6,  // IP protocol 41 (IPv6 in IPv4 or IPv6)
  kDecapAll = 0x7f,
};

// Tunnels inside tunnels decapsulated at most; one more is rejected (kDecapTooDeep).
inline constexpr int kMaxTunnelDepth = 3;

// --key: FlowKey fields left out of the key (a bit mask); the decode stage zeroes them, so
// packets differing only there share a flow.
enum KeyDrops : std::uint8_t {
  kDropSourceAddress = 1u << 0,
  kDropDestinationAddress = 1u << 1,
  kDropSourcePort = 1u << 2,
  kDropDestinationPort = 1u << 3,  // ICMP type and code too (they are its destination port)
  kDropTos = 1u << 4,
  kDropIngressInterface = 1u << 5,
};

struct DecodeOptions {
  std::uint16_t decap = 0;  // DecapProtocols bits
  bool extras = false;      // fill a PacketExtras per packet (--key or --fields need one)
  std::uint8_t key_drops = 0;  // KeyDrops bits
};

// A --decap LIST: names from "gre, vxlan, geneve, gtp-u, erspan, ip-in-ip, ipv6-in-ipv4" joined
// by commas, or "all" (or "none"). Empty optional and `error` set when a name is unknown.
std::optional<DecodeOptions> parse_decap(std::string_view text, std::string& error);
// The list back as text ("gre,vxlan"; "none").
std::string decap_to_string(std::uint16_t decap);

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

// The same with --decap: a packet in an enabled tunnel is keyed on its innermost headers, with
// the tunnel's type and id in the key (out.octets, ttl and tcp_flags are the inner packet's). The
// outer packet is a fragment: not decapsulated (its fragments stay one outer flow). Without any
// decap bit it is exactly the call above (one branch).
DecodeVerdict decode_packet(int link_type, std::span<const std::uint8_t> frame,
                            std::uint32_t wire_length, std::uint64_t timestamp_ns,
                            std::uint32_t ingress_interface, const DecodeOptions& options,
                            cache::PacketSummary& out);

// The same, also filling `extras` (--key, --fields): MACs and VLAN tags of the innermost Ethernet
// header (a Linux cooked header's source and packet type: direction egress when this host sent
// it), the top three MPLS label stack entries, the innermost IP header's fragment flags and IPv6
// flow label. Fields the packet does not have are 0 (direction unknown). On a verdict other than
// kOk, `extras` is unspecified.
DecodeVerdict decode_packet(int link_type, std::span<const std::uint8_t> frame,
                            std::uint32_t wire_length, std::uint64_t timestamp_ns,
                            std::uint32_t ingress_interface, const DecodeOptions& options,
                            cache::PacketSummary& out, cache::PacketExtras& extras);

}  // namespace tapflow::probe
