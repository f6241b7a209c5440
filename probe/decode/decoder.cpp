#include "probe/decode/decoder.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

namespace tapflow::probe {

namespace {

using cache::PacketSummary;
using enum drivers::LinkType;

// Ethertypes (IEEE 802 numbers registry) and the PPP protocol numbers (RFC 1332, RFC 5072).
constexpr std::uint16_t kEthertypeIpv4 = 0x0800;
constexpr std::uint16_t kEthertypeIpv6 = 0x86dd;
constexpr std::uint16_t kEthertypeVlan = 0x8100;     // IEEE 802.1Q C-tag
constexpr std::uint16_t kEthertypeQinq = 0x88a8;     // IEEE 802.1ad S-tag
constexpr std::uint16_t kEthertypeQinqOld = 0x9100;  // pre-802.1ad S-tag, still in the field
constexpr std::uint16_t kEthertypeMplsUnicast = 0x8847;
constexpr std::uint16_t kEthertypeMplsMulticast = 0x8848;
constexpr std::uint16_t kEthertypePppoeSession = 0x8864;
constexpr std::uint16_t kEthertypeArista = 0xd28b;  // Arista vendor header (tap aggregation)
constexpr std::uint16_t kPppIpv4 = 0x0021;
constexpr std::uint16_t kPppIpv6 = 0x0057;

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
constexpr std::uint8_t kProtoHopByHop = 0;
constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoDccp = 33;
constexpr std::uint8_t kProtoRouting = 43;
constexpr std::uint8_t kProtoFragment = 44;
constexpr std::uint8_t kProtoAh = 51;
constexpr std::uint8_t kProtoIcmpv6 = 58;
constexpr std::uint8_t kProtoNoNextHeader = 59;
constexpr std::uint8_t kProtoDestinationOptions = 60;
constexpr std::uint8_t kProtoSctp = 132;
constexpr std::uint8_t kProtoUdpLite = 136;

// Address families seen in DLT_NULL / DLT_LOOP headers. AF_INET is 2 everywhere; AF_INET6 is
// 10 on Linux, 23 on Windows (Npcap loopback), 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS.
constexpr std::uint32_t kAfInet = 2;

constexpr std::size_t kEthernetHeaderLength = 14;
constexpr std::size_t kVlanTagLength = 4;
constexpr std::size_t kMplsLabelLength = 4;
constexpr std::size_t kPppoeHeaderLength = 6;  // RFC 2516 §4: ver/type, code, session, length
constexpr std::size_t kSllHeaderLength = 16;
constexpr std::size_t kSll2HeaderLength = 20;
constexpr std::size_t kNullHeaderLength = 4;
constexpr std::size_t kIpv4MinHeaderLength = 20;
constexpr std::size_t kIpv6HeaderLength = 40;
constexpr std::size_t kIpv6FragmentHeaderLength = 8;

// Loop bounds: lengths and stacks come from the packet, so every walk has a fixed ceiling well
// above anything legitimate (softflowd issue 67 read a 12-label MPLS stack out of bounds).
constexpr int kMaxLinkHeaders = 16;  // VLAN tags + PPPoE before reaching MPLS or IP
constexpr int kMaxMplsLabels = 16;
constexpr int kMaxIpv6ExtensionHeaders = 16;

// RFC 2675 §2: the Jumbo Payload option lives in the Hop-by-Hop header.
constexpr std::uint8_t kIpv6OptionPad1 = 0x00;
constexpr std::uint8_t kIpv6OptionJumboPayload = 0xc2;
constexpr std::uint32_t kMinJumboPayloadLength = 65536;

inline std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

inline std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

inline std::uint32_t load_le32(const std::uint8_t* p) {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) |
         std::uint32_t{p[0]};
}

inline std::uint32_t saturate_u32(std::uint64_t v) {
  return v > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(v);
}

// The bytes of one frame. `size` is caplen: nothing at or past it is ever read.
struct Bytes {
  const std::uint8_t* data;
  std::size_t size;
  // The length the frame had on the wire, never less than what was captured (a record whose
  // orig_len < caplen is broken, but its captured bytes are real).
  std::uint64_t wire_length;

  [[nodiscard]] bool has(std::size_t offset, std::size_t length) const {
    return offset <= size && length <= size - offset;
  }

  // Layer-3 octets as the IP header states them, but never more than the frame carried on the
  // wire from `offset` on: a snaplen cut keeps the header's count (the wire length is the
  // original), while a header that claims more than was ever sent (fuzzed, forged, a jumbo
  // option of 4 GB in a 490-byte frame) cannot inflate the flow's byte count.
  [[nodiscard]] std::uint64_t layer3_octets(std::size_t offset, std::uint64_t claimed) const {
    return std::min<std::uint64_t>(claimed, wire_length - offset);
  }
};

// Which IP version the link layer announced; kAny lets the version nibble decide (RAW, MPLS).
enum class IpVersion : std::uint8_t { kAny = 0, kV4 = 4, kV6 = 6 };

// What a decode instantiation does beyond the plain walk (a bit mask): --decap looks into
// tunnels; extras fills a PacketExtras (--key, --fields). Each combination is its own code.
enum : unsigned { kModeDecap = 1, kModeExtras = 2 };
constexpr bool kDecapMode(unsigned mode) { return (mode & kModeDecap) != 0; }
constexpr bool kExtrasMode(unsigned mode) { return (mode & kModeExtras) != 0; }

// The --decap walk's state, and where the extras go; without --decap (kModeDecap clear) the
// tunnel part is passed along but never read, without kModeExtras `extras` is never touched.
struct Tunnels {
  cache::PacketExtras* extras = nullptr;
  int vlan_tags = 0;  // extras: VLAN tags seen since the last Ethernet header
  std::uint16_t enabled = 0;  // DecapProtocols bits
  int depth = 0;              // tunnels entered so far
  // Set by the innermost IP header decoded so far: whether it is a fragment (its payload is not
  // all here, so it is never decapsulated), and where its datagram ends by its header.
  bool fragment = false;
  std::uint64_t datagram_end = 0;
};

// extras: an Ethernet header (outer or a tunnel's inner one: the innermost wins) gives the MACs
// and starts the VLAN tags afresh.
template <unsigned kMode>
void note_ethernet(const std::uint8_t* header, Tunnels& t) {
  if constexpr (kExtrasMode(kMode)) {
    std::memcpy(t.extras->destination_mac.data(), header, 6);
    std::memcpy(t.extras->source_mac.data(), header + 6, 6);
    t.extras->vlan_id = 0;
    t.extras->inner_vlan_id = 0;
    t.vlan_tags = 0;
  }
}

// extras: a Linux cooked header's packet type (4: sent by this host) and its link-layer source.
template <unsigned kMode>
void note_cooked(std::uint16_t packet_type, std::uint16_t address_length, const std::uint8_t* address, Tunnels& t) {
  if constexpr (kExtrasMode(kMode)) {
    t.extras->direction = packet_type == 4 ? 1 : 0;
    if (address_length == 6) std::memcpy(t.extras->source_mac.data(), address, 6);
  }
}


template <unsigned kMode>
DecodeVerdict decode_ip(const Bytes& bytes, std::size_t offset, IpVersion expected, PacketSummary& out,
                        Tunnels& t);
template <unsigned kMode>
DecodeVerdict decode_ethertype(const Bytes& bytes, std::size_t offset, std::uint16_t ethertype,
                               PacketSummary& out, Tunnels& t);
template <unsigned kMode>
DecodeVerdict decode_tunnel(const Bytes& bytes, std::size_t start, std::size_t end, std::uint8_t protocol,
                            PacketSummary& out, Tunnels& t);
template <unsigned kMode>
DecodeVerdict decode_udp_tunnel(const Bytes& bytes, std::size_t start, std::size_t end, PacketSummary& out,
                                Tunnels& t);

// Fills ports (or ICMP type/code) and TCP flags from the transport header at [start, end), `end`
// being where the capture or the IP datagram stops, whichever comes first.
template <unsigned kMode>
DecodeVerdict decode_transport(const Bytes& bytes, std::size_t start, std::size_t end,
                               std::uint8_t protocol, PacketSummary& out, Tunnels& t) {
  const std::size_t available = end > start ? end - start : 0;
  const std::uint8_t* p = bytes.data + start;
  switch (protocol) {
    case kProtoTcp:
      if (available < 4) return DecodeVerdict::kTruncatedTransportLayer;
      out.key.source_port = load_be16(p);
      out.key.destination_port = load_be16(p + 2);
      // RFC 9293 §3.1: the control bits are byte 13. A snaplen that keeps the ports but not the
      // flags still identifies the flow, so the flags are then simply unknown (0).
      if (available >= 14) out.tcp_flags = p[13];
      return DecodeVerdict::kOk;
    case kProtoUdp:
    case kProtoSctp:
    case kProtoUdpLite:
    case kProtoDccp:
      // RFC 768, RFC 9260 §3.1, RFC 3828 §3.1, RFC 4340 §5.1: source then destination port.
      if (available < 4) return DecodeVerdict::kTruncatedTransportLayer;
      out.key.source_port = load_be16(p);
      out.key.destination_port = load_be16(p + 2);
      if constexpr (kDecapMode(kMode)) {
        if (protocol == kProtoUdp && !t.fragment) return decode_udp_tunnel<kMode>(bytes, start, end, out, t);
      }
      return DecodeVerdict::kOk;
    case kProtoIcmp:
    case kProtoIcmpv6:
      // Cisco's convention, kept by RFC 7012 (icmpTypeCodeIPv4): type * 256 + code in the
      // destination port, source port 0.
      if (available < 2) return DecodeVerdict::kTruncatedTransportLayer;
      out.key.destination_port = load_be16(p);
      return DecodeVerdict::kOk;
    default:
      // GRE, ESP, OSPF, IGMP, PIM, VRRP, tunnels...: the flow is addresses + protocol. Without
      // --decap a tunnel is one outer flow.
      if constexpr (kDecapMode(kMode)) {
        if (!t.fragment) return decode_tunnel<kMode>(bytes, start, end, protocol, out, t);
      }
      return DecodeVerdict::kOk;
  }
}

template <unsigned kMode>
DecodeVerdict decode_ipv4(const Bytes& bytes, std::size_t offset, PacketSummary& out, Tunnels& t) {
  // The caller has checked that one byte is there and that its version nibble is 4.
  const std::uint8_t* ip = bytes.data + offset;
  const std::size_t header_length = std::size_t{ip[0] & 0x0fu} * 4;
  if (header_length < kIpv4MinHeaderLength) return DecodeVerdict::kBadIpHeaderLength;
  if (!bytes.has(offset, header_length)) return DecodeVerdict::kTruncatedNetworkLayer;

  const std::uint16_t total_length = load_be16(ip + 2);
  std::uint64_t octets;
  if (total_length == 0) {
    // TSO/GSO super-frames and BIG TCP (Linux, net/ipv4 since 6.3) leave total length 0 when the
    // datagram exceeds 64 KiB: the frame length is then the only measure of the datagram.
    octets = bytes.wire_length - offset;
  } else if (total_length < header_length) {
    return DecodeVerdict::kBadIpTotalLength;
  } else {
    // From the header, not the capture: a snaplen cut must not shrink the byte counts.
    octets = total_length;
  }

  out.key.ip_version = 4;
  out.key.tos = ip[1];
  out.ttl = ip[8];
  out.key.protocol = ip[9];
  std::memcpy(out.key.source_address.data(), ip + 12, 4);
  std::memcpy(out.key.destination_address.data(), ip + 16, 4);
  out.octets = saturate_u32(bytes.layer3_octets(offset, octets));

  // RFC 791: a non-zero fragment offset means the transport header is in another fragment; such
  // fragments form their own flow with ports 0 rather than being reassembled.
  const std::uint16_t flags_fragment_offset = load_be16(ip + 6);
  if constexpr (kExtrasMode(kMode)) {
    // IPFIX fragmentFlags: the header's DF (0x40) and MF (0x20) bits, 0x10 for a later fragment.
    t.extras->fragment_flags = static_cast<std::uint8_t>(((flags_fragment_offset >> 8) & 0x60u) |
                                                         ((flags_fragment_offset & 0x1fffu) != 0 ? 0x10u : 0u));
    t.extras->flow_label = 0;
  }
  if constexpr (kDecapMode(kMode)) {
    t.fragment = (flags_fragment_offset & 0x3fffu) != 0;  // MF set or an offset
    t.datagram_end = offset + octets;
  }
  if ((flags_fragment_offset & 0x1fffu) != 0) return DecodeVerdict::kOk;
  // The datagram's end, not the frame's, bounds the transport header: Ethernet pads short frames
  // to 60 bytes and the padding must never be read as ports.
  const auto end = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size, offset + octets));
  return decode_transport<kMode>(bytes, offset + header_length, end, out.key.protocol, out, t);
}

// RFC 2675: the Jumbo Payload length, or 0 when the Hop-by-Hop header at `hbh` (fully captured,
// `length` bytes) carries no Jumbo option. Only consulted when the payload length field is 0.
std::uint32_t find_jumbo_payload_length(const std::uint8_t* hbh, std::size_t length) {
  // Each step advances at least one byte through at most 2048 bytes of options.
  std::size_t i = 2;
  while (i < length) {
    const std::uint8_t type = hbh[i];
    if (type == kIpv6OptionPad1) {
      ++i;
      continue;
    }
    if (length - i < 2) break;
    const std::size_t data_length = hbh[i + 1];
    if (type == kIpv6OptionJumboPayload && data_length == 4 && length - i >= 6) {
      return load_be32(hbh + i + 2);
    }
    i += 2 + data_length;
  }
  return 0;
}

template <unsigned kMode>
DecodeVerdict decode_ipv6(const Bytes& bytes, std::size_t offset, PacketSummary& out, Tunnels& t) {
  if (!bytes.has(offset, kIpv6HeaderLength)) return DecodeVerdict::kTruncatedNetworkLayer;
  const std::uint8_t* ip = bytes.data + offset;
  const std::uint16_t payload_length = load_be16(ip + 4);
  std::uint8_t next_header = ip[6];
  std::size_t cursor = offset + kIpv6HeaderLength;

  std::uint64_t octets;
  if (payload_length != 0) {
    octets = std::uint64_t{payload_length} + kIpv6HeaderLength;
  } else if (next_header == kProtoHopByHop) {
    // RFC 2675 §3: a jumbogram has payload length 0 and a Jumbo Payload option, which must exceed
    // 65535. BIG TCP (Linux 5.19+) sends these; without the option, the frame length is all we
    // have (BIG TCP after the option was stripped).
    if (!bytes.has(cursor, 2)) return DecodeVerdict::kTruncatedNetworkLayer;
    const std::size_t hbh_length = (std::size_t{bytes.data[cursor + 1]} + 1) * 8;
    if (!bytes.has(cursor, hbh_length)) return DecodeVerdict::kTruncatedNetworkLayer;
    const std::uint32_t jumbo = find_jumbo_payload_length(bytes.data + cursor, hbh_length);
    if (jumbo != 0 && jumbo < kMinJumboPayloadLength) return DecodeVerdict::kBadIpTotalLength;
    octets = jumbo != 0 ? std::uint64_t{jumbo} + kIpv6HeaderLength : bytes.wire_length - offset;
  } else if (next_header == kProtoNoNextHeader) {
    octets = kIpv6HeaderLength;  // RFC 8200 §4.7: nothing follows; the rest is link padding
  } else {
    octets = bytes.wire_length - offset;  // BIG TCP / GSO without a Hop-by-Hop header
  }

  out.key.ip_version = 6;
  out.key.tos = static_cast<std::uint8_t>(load_be16(ip) >> 4);  // RFC 8200 §3: traffic class
  if constexpr (kExtrasMode(kMode)) {
    t.extras->flow_label = load_be32(ip) & 0xfffffu;
    t.extras->fragment_flags = 0;
  }
  out.ttl = ip[7];
  std::memcpy(out.key.source_address.data(), ip + 8, 16);
  std::memcpy(out.key.destination_address.data(), ip + 24, 16);
  out.octets = saturate_u32(bytes.layer3_octets(offset, octets));

  // The header's own length, uncapped, decides whether the chain fits: a frame shorter on the wire
  // than its header says was cut (truncated), not malformed.
  const std::uint64_t datagram_end = offset + octets;
  if constexpr (kDecapMode(kMode)) {
    t.fragment = false;
    t.datagram_end = datagram_end;
  }
  // RFC 8200 §4 and RFC 7045: walk the extension headers to the upper-layer header. A header that
  // runs past the payload length is malformed; one that runs past the capture is truncated.
  for (int i = 0; i < kMaxIpv6ExtensionHeaders; ++i) {
    std::size_t header_length;
    switch (next_header) {
      case kProtoHopByHop:
      case kProtoRouting:
      case kProtoDestinationOptions:
        // RFC 6564 uniform format: Hdr Ext Len in 8-octet units, not counting the first 8.
        if (cursor + 8 > datagram_end) return DecodeVerdict::kBadIpTotalLength;
        if (!bytes.has(cursor, 8)) return DecodeVerdict::kTruncatedNetworkLayer;
        header_length = (std::size_t{bytes.data[cursor + 1]} + 1) * 8;
        break;
      case kProtoAh:
        // RFC 4302 §2.2: Payload Len in 4-octet units, minus 2.
        if (cursor + 8 > datagram_end) return DecodeVerdict::kBadIpTotalLength;
        if (!bytes.has(cursor, 8)) return DecodeVerdict::kTruncatedNetworkLayer;
        header_length = (std::size_t{bytes.data[cursor + 1]} + 2) * 4;
        break;
      case kProtoFragment: {
        if (cursor + kIpv6FragmentHeaderLength > datagram_end) {
          return DecodeVerdict::kBadIpTotalLength;
        }
        if (!bytes.has(cursor, kIpv6FragmentHeaderLength)) {
          return DecodeVerdict::kTruncatedNetworkLayer;
        }
        const std::uint8_t fragment_next_header = bytes.data[cursor];
        // RFC 8200 §4.5: a non-zero offset means the headers that follow are in the first
        // fragment; this fragment joins the flow with ports 0, keyed by the next header.
        const std::uint16_t fragment_offset_flags = load_be16(bytes.data + cursor + 2);
        if constexpr (kExtrasMode(kMode)) {
          t.extras->fragment_flags = static_cast<std::uint8_t>(((fragment_offset_flags & 0x0001u) != 0 ? 0x20u : 0u) |
                                                               ((fragment_offset_flags & 0xfff8u) != 0 ? 0x10u : 0u));
        }
        if ((fragment_offset_flags & 0xfff8u) != 0) {
          out.key.protocol = fragment_next_header;
          return DecodeVerdict::kOk;
        }
        // A first fragment (M set) is not decapsulated either; an atomic fragment (RFC 6946) is.
        if constexpr (kDecapMode(kMode)) t.fragment = (fragment_offset_flags & 0x0001u) != 0;
        next_header = fragment_next_header;
        cursor += kIpv6FragmentHeaderLength;
        continue;
      }
      default: {
        // The upper-layer header. ESP ends the chain too (what follows is encrypted), and so do
        // Mobility (RFC 6275 §6.1.1), HIP and Shim6: they are messages in their own right whose
        // Next Header is normally 59, so walking past them would key the flow as "no next header".
        out.key.protocol = next_header;
        const auto end =
            static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size, datagram_end));
        return decode_transport<kMode>(bytes, cursor, end, next_header, out, t);
      }
    }
    if (cursor + header_length > datagram_end) return DecodeVerdict::kBadIpTotalLength;
    if (!bytes.has(cursor, header_length)) return DecodeVerdict::kTruncatedNetworkLayer;
    next_header = bytes.data[cursor];
    cursor += header_length;
  }
  // A chain longer than any real one: still traffic between these hosts, so count it under the
  // header we stopped at, ports 0, rather than drop it.
  out.key.protocol = next_header;
  return DecodeVerdict::kOk;
}

// The IP header at `offset`; `expected` is what the link layer announced.
template <unsigned kMode>
DecodeVerdict decode_ip(const Bytes& bytes, std::size_t offset, IpVersion expected, PacketSummary& out,
                        Tunnels& t) {
  if (!bytes.has(offset, 1)) return DecodeVerdict::kTruncatedNetworkLayer;
  const unsigned version = bytes.data[offset] >> 4;
  if (expected != IpVersion::kAny && version != static_cast<unsigned>(expected)) {
    return DecodeVerdict::kBadIpVersion;
  }
  if (version == 4) return decode_ipv4<kMode>(bytes, offset, out, t);
  if (version == 6) return decode_ipv6<kMode>(bytes, offset, out, t);
  return DecodeVerdict::kBadIpVersion;
}

// RFC 3032 §2.1: labels until the bottom-of-stack bit; the stack does not say what it carries,
// so the first nibble after it decides, as tcpdump does.
template <unsigned kMode>
DecodeVerdict decode_mpls(const Bytes& bytes, std::size_t offset, PacketSummary& out, Tunnels& t) {
  for (int i = 0; i < kMaxMplsLabels; ++i) {
    if (!bytes.has(offset, kMplsLabelLength)) return DecodeVerdict::kTruncatedMpls;
    const bool bottom_of_stack = (bytes.data[offset + 2] & 0x01u) != 0;
    if constexpr (kExtrasMode(kMode)) {
      // The entry's label, TC and S bits (the TTL octet is not part of a label stack section).
      const std::uint32_t entry = load_be32(bytes.data + offset) >> 8;
      if (i == 0) t.extras->mpls_top_label = entry;
      if (i == 1 || i == 2) t.extras->mpls_labels[static_cast<std::size_t>(i - 1)] = entry;
    }
    offset += kMplsLabelLength;
    if (bottom_of_stack) {
      // The stack does not say what it carries: without the first byte after it, not even
      // whether it is IP is known, so this is still an MPLS truncation.
      if (!bytes.has(offset, 1)) return DecodeVerdict::kTruncatedMpls;
      const unsigned version = bytes.data[offset] >> 4;
      // Anything else is a pseudowire (control word 0 then Ethernet) or worse: not decapsulated.
      if (version != 4 && version != 6) return DecodeVerdict::kMplsNotIp;
      return decode_ip<kMode>(bytes, offset, IpVersion::kAny, out, t);
    }
  }
  return DecodeVerdict::kMplsNotIp;
}

// RFC 2516 §5.4 PPPoE session header, then the PPP protocol field (RFC 1661 §2).
template <unsigned kMode>
DecodeVerdict decode_pppoe_session(const Bytes& bytes, std::size_t offset, PacketSummary& out,
                                   Tunnels& t) {
  if (!bytes.has(offset, kPppoeHeaderLength + 1)) return DecodeVerdict::kTruncatedLinkLayer;
  if (bytes.data[offset] != 0x11) return DecodeVerdict::kNotIp;  // version 1, type 1
  offset += kPppoeHeaderLength;
  std::uint16_t protocol = bytes.data[offset];
  // RFC 1661 §6.5: with Protocol-Field-Compression the field is one byte, recognisable because
  // its low bit is set (a full field's first byte is always even).
  if ((protocol & 0x01u) != 0) {
    offset += 1;
  } else {
    if (!bytes.has(offset, 2)) return DecodeVerdict::kTruncatedLinkLayer;
    protocol = load_be16(bytes.data + offset);
    offset += 2;
  }
  // Compressed or not, IPv4 is 0x21 and IPv6 0x57.
  if (protocol == kPppIpv4) return decode_ip<kMode>(bytes, offset, IpVersion::kV4, out, t);
  if (protocol == kPppIpv6) return decode_ip<kMode>(bytes, offset, IpVersion::kV6, out, t);
  return DecodeVerdict::kNotIp;  // LCP, IPCP, CHAP...
}

// From an ethertype whose payload starts at `offset`: VLAN tags (any depth, bounded), then MPLS,
// PPPoE or IP. Ethernet, SLL and SLL2 all end up here.
template <unsigned kMode>
DecodeVerdict decode_ethertype(const Bytes& bytes, std::size_t offset, std::uint16_t ethertype,
                               PacketSummary& out, Tunnels& t) {
  for (int i = 0; i < kMaxLinkHeaders; ++i) {
    switch (ethertype) {
      case kEthertypeIpv4:
        return decode_ip<kMode>(bytes, offset, IpVersion::kV4, out, t);
      case kEthertypeIpv6:
        return decode_ip<kMode>(bytes, offset, IpVersion::kV6, out, t);
      case kEthertypeVlan:
      case kEthertypeQinq:
      case kEthertypeQinqOld:
        // IEEE 802.1Q: 2 bytes TCI, then the next ethertype.
        if (!bytes.has(offset, kVlanTagLength)) return DecodeVerdict::kTruncatedLinkLayer;
        if constexpr (kExtrasMode(kMode)) {
          const auto vid = static_cast<std::uint16_t>(load_be16(bytes.data + offset) & 0x0fffu);
          if (t.vlan_tags == 0) t.extras->vlan_id = vid;
          if (t.vlan_tags == 1) t.extras->inner_vlan_id = vid;
          ++t.vlan_tags;
        }
        ethertype = load_be16(bytes.data + offset + 2);
        offset += kVlanTagLength;
        break;
      case kEthertypeMplsUnicast:
      case kEthertypeMplsMulticast:
        return decode_mpls<kMode>(bytes, offset, out, t);
      case kEthertypePppoeSession:
        return decode_pppoe_session<kMode>(bytes, offset, out, t);
      case kEthertypeArista: {
        // Arista's timestamp header (tcpdump print-arista.c, Wireshark packet-avsp.c): subtype 1,
        // a version whose second nibble gives a 64-bit (1) or 48-bit (2) timestamp, then the
        // original ethertype. Tap aggregators insert it in front of everything they mirror.
        if (!bytes.has(offset, 4)) return DecodeVerdict::kTruncatedLinkLayer;
        const std::uint16_t subtype = load_be16(bytes.data + offset);
        const unsigned timestamp_format = (load_be16(bytes.data + offset + 2) >> 4) & 0x0fu;
        if (subtype != 1 || (timestamp_format != 1 && timestamp_format != 2)) {
          return DecodeVerdict::kNotIp;
        }
        const std::size_t header_length = timestamp_format == 1 ? 4 + 8 : 4 + 6;
        if (!bytes.has(offset, header_length + 2)) return DecodeVerdict::kTruncatedLinkLayer;
        ethertype = load_be16(bytes.data + offset + header_length);
        offset += header_length + 2;
        break;
      }
      default:
        // ARP, LLDP, 802.3 length fields (< 0x0600, LLC follows), PPPoE discovery...
        return DecodeVerdict::kNotIp;
    }
  }
  return DecodeVerdict::kNotIp;  // more tags than any real network stacks
}

// DLT_NULL and DLT_LOOP: a 4-byte BSD address family.
template <unsigned kMode>
DecodeVerdict decode_address_family(const Bytes& bytes, std::uint32_t family, PacketSummary& out,
                                    Tunnels& t) {
  switch (family) {
    case kAfInet:
      return decode_ip<kMode>(bytes, kNullHeaderLength, IpVersion::kV4, out, t);
    case 10:  // Linux
    case 23:  // Windows (Npcap loopback)
    case 24:  // NetBSD, OpenBSD, BSD/OS
    case 28:  // FreeBSD, DragonFly
    case 30:  // macOS, iOS
      return decode_ip<kMode>(bytes, kNullHeaderLength, IpVersion::kV6, out, t);
    default:
      return DecodeVerdict::kNotIp;
  }
}

// --decap. Each tunnel header is checked against the outer datagram (`end`: its end or the
// capture's, whichever comes first), then the payload is decoded as a packet of its own inside
// those bytes: the outer datagram's padding is never read as inner bytes, and an inner header
// cannot claim more octets than the outer datagram had on the wire.

constexpr std::uint16_t kEthertypeTransparentEthernet = 0x6558;  // RFC 1701, NVGRE, Geneve
constexpr std::uint16_t kEthertypeErspan = 0x88be;               // ERSPAN type I and II
constexpr std::uint16_t kEthertypeErspan3 = 0x22eb;              // ERSPAN type III
constexpr std::uint8_t kProtoIpInIp = 4;
constexpr std::uint8_t kProtoGre = 47;
constexpr std::uint8_t kProtoIpv6 = 41;
constexpr std::uint16_t kPortVxlan = 4789;       // RFC 7348 §5 (IANA)
constexpr std::uint16_t kPortVxlanLinux = 8472;  // the Linux kernel's default before IANA's
constexpr std::uint16_t kPortGeneve = 6081;      // RFC 8926 §3.3
constexpr std::uint16_t kPortGtpU = 2152;        // 3GPP TS 29.281 §4.4.2.3
constexpr std::size_t kUdpHeaderLength = 8;
constexpr std::size_t kVxlanHeaderLength = 8;
constexpr std::size_t kGeneveHeaderLength = 8;
constexpr std::size_t kGtpHeaderLength = 8;
constexpr std::uint8_t kGtpMessageGpdu = 0xff;
constexpr int kMaxGtpExtensionHeaders = 16;

inline Bytes payload_bytes(const Bytes& bytes, std::size_t end, const Tunnels& t) {
  const std::uint64_t on_wire = std::min<std::uint64_t>(bytes.wire_length, t.datagram_end);
  return Bytes{bytes.data, end, std::max<std::uint64_t>(end, on_wire)};
}

// From here on the packet is the tunnel's payload: its key fields are all rewritten by the inner
// headers (an IPv4 header writes only 4 bytes of each address, so the rest is cleared first).
// extras: the addresses being cleared are the tunnel's outer ones (the innermost tunnel's win).
template <unsigned kMode>
DecodeVerdict enter_tunnel(cache::TunnelType type, std::uint32_t id, PacketSummary& out, Tunnels& t) {
  if (++t.depth > kMaxTunnelDepth) return DecodeVerdict::kDecapTooDeep;
  if constexpr (kExtrasMode(kMode)) {
    t.extras->tunnel_ip_version = out.key.ip_version;
    t.extras->tunnel_source = out.key.source_address;
    t.extras->tunnel_destination = out.key.destination_address;
  }
  out.key.tunnel_type = static_cast<std::uint8_t>(type);
  out.key.tunnel_id = id;
  out.key.source_address = {};
  out.key.destination_address = {};
  out.key.source_port = 0;
  out.key.destination_port = 0;
  out.tcp_flags = 0;
  return DecodeVerdict::kOk;
}

template <unsigned kMode>
DecodeVerdict decode_inner_ethernet(const Bytes& inner, std::size_t offset, PacketSummary& out, Tunnels& t) {
  if (!inner.has(offset, kEthernetHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
  note_ethernet<kMode>(inner.data + offset, t);
  return decode_ethertype<kMode>(inner, offset + kEthernetHeaderLength, load_be16(inner.data + offset + 12),
                                  out, t);
}

// ERSPAN (draft-foschiano-erspan-03) in GRE protocol 0x88be or 0x22eb, the mirrored Ethernet
// frame after it. Type I has no header (and a GRE header without a sequence number); type II an
// 8-octet one (version 1), type III a 12-octet one (version 2) and an 8-octet platform-specific
// subheader when its O bit is set. The 10-bit session id is the tunnel id.
template <unsigned kMode>
DecodeVerdict decode_erspan(const Bytes& inner, std::size_t cursor, std::uint16_t protocol, bool sequenced,
                            PacketSummary& out, Tunnels& t) {
  std::size_t header_length = 0;
  std::uint32_t session = 0;
  if (protocol == kEthertypeErspan && !sequenced) {
    header_length = 0;  // type I
  } else {
    const unsigned expected_version = protocol == kEthertypeErspan ? 1 : 2;
    header_length = protocol == kEthertypeErspan ? 8 : 12;
    if (!inner.has(cursor, header_length)) return DecodeVerdict::kDecapBadErspan;
    if (static_cast<unsigned>(inner.data[cursor] >> 4) != expected_version) return DecodeVerdict::kDecapBadErspan;
    session = load_be16(inner.data + cursor + 2) & 0x3ffu;
    if (protocol == kEthertypeErspan3 && (inner.data[cursor + 11] & 0x01u) != 0) {
      header_length += 8;
      if (!inner.has(cursor, header_length)) return DecodeVerdict::kDecapBadErspan;
    }
  }
  if (const auto v = enter_tunnel<kMode>(cache::TunnelType::kErspan, session, out, t); v != DecodeVerdict::kOk) return v;
  return decode_inner_ethernet<kMode>(inner, cursor + header_length, out, t);
}

// RFC 2784 §2.1 with RFC 2890 §2: flags and version, protocol type, then the checksum and
// reserved1 (C), key (K) and sequence number (S) when their bits are set.
template <unsigned kMode>
DecodeVerdict decode_gre(const Bytes& bytes, std::size_t start, std::size_t end, PacketSummary& out, Tunnels& t) {
  const Bytes inner = payload_bytes(bytes, end, t);
  if (!inner.has(start, 4)) return DecodeVerdict::kDecapBadGre;
  const std::uint16_t flags = load_be16(inner.data + start);
  const std::uint16_t protocol = load_be16(inner.data + start + 2);
  const unsigned version = flags & 0x7u;
  // RFC 2637: version 1 is PPTP's enhanced GRE, carrying PPP: an outer flow, as without --decap.
  if (version == 1) return DecodeVerdict::kOk;
  // RFC 2784 §2.3: routing present (RFC 1701's R bit) must be discarded by an RFC 2784 receiver.
  if (version != 0 || (flags & 0x4000u) != 0) return DecodeVerdict::kDecapBadGre;
  std::size_t cursor = start + 4;
  if ((flags & 0x8000u) != 0) cursor += 4;
  std::uint32_t key = 0;
  if ((flags & 0x2000u) != 0) {
    if (!inner.has(cursor, 4)) return DecodeVerdict::kDecapBadGre;
    key = load_be32(inner.data + cursor);
    cursor += 4;
  }
  const bool sequenced = (flags & 0x1000u) != 0;
  if (sequenced) cursor += 4;
  if (!inner.has(cursor, 0)) return DecodeVerdict::kDecapBadGre;

  const bool gre = (t.enabled & kDecapGre) != 0;
  switch (protocol) {
    case kEthertypeIpv4:
    case kEthertypeIpv6: {
      if (!gre) return DecodeVerdict::kOk;
      if (const auto v = enter_tunnel<kMode>(cache::TunnelType::kGre, key, out, t); v != DecodeVerdict::kOk) return v;
      return decode_ip<kMode>(inner, cursor, protocol == kEthertypeIpv4 ? IpVersion::kV4 : IpVersion::kV6, out, t);
    }
    case kEthertypeTransparentEthernet: {
      if (!gre) return DecodeVerdict::kOk;
      if (const auto v = enter_tunnel<kMode>(cache::TunnelType::kGre, key, out, t); v != DecodeVerdict::kOk) return v;
      return decode_inner_ethernet<kMode>(inner, cursor, out, t);
    }
    case kEthertypeErspan:
    case kEthertypeErspan3:
      if ((t.enabled & kDecapErspan) == 0) return DecodeVerdict::kOk;
      return decode_erspan<kMode>(inner, cursor, protocol, sequenced, out, t);
    default:
      return DecodeVerdict::kOk;  // MPLS, PPP, WCCP, keepalives...: an outer flow
  }
}

// IP protocols that carry tunnels: GRE, IP in IP (RFC 2003, RFC 2473) and IPv6 in IP (RFC 4213).
template <unsigned kMode>
DecodeVerdict decode_tunnel(const Bytes& bytes, std::size_t start, std::size_t end, std::uint8_t protocol,
                            PacketSummary& out, Tunnels& t) {
  if (protocol == kProtoGre && (t.enabled & (kDecapGre | kDecapErspan)) != 0) {
    return decode_gre<kMode>(bytes, start, end, out, t);
  }
  const bool ipv4 = protocol == kProtoIpInIp && (t.enabled & kDecapIpInIp) != 0;
  const bool ipv6 = protocol == kProtoIpv6 && (t.enabled & kDecapIpv6InIpv4) != 0;
  if (!ipv4 && !ipv6) return DecodeVerdict::kOk;
  const Bytes inner = payload_bytes(bytes, end, t);
  const auto type = ipv4 ? cache::TunnelType::kIpInIp : cache::TunnelType::kIpv6InIpv4;
  if (const auto v = enter_tunnel<kMode>(type, 0, out, t); v != DecodeVerdict::kOk) return v;
  return decode_ip<kMode>(inner, start, ipv4 ? IpVersion::kV4 : IpVersion::kV6, out, t);
}

// RFC 7348 §5: flags (I set: the VNI is valid), 24 reserved bits, the VNI, 8 reserved bits.
template <unsigned kMode>
DecodeVerdict decode_vxlan(const Bytes& inner, std::size_t cursor, PacketSummary& out, Tunnels& t) {
  if (!inner.has(cursor, kVxlanHeaderLength)) return DecodeVerdict::kDecapBadVxlan;
  if ((inner.data[cursor] & 0x08u) == 0) return DecodeVerdict::kDecapBadVxlan;
  const std::uint32_t vni = load_be32(inner.data + cursor + 4) >> 8;
  if (const auto v = enter_tunnel<kMode>(cache::TunnelType::kVxlan, vni, out, t); v != DecodeVerdict::kOk) return v;
  return decode_inner_ethernet<kMode>(inner, cursor + kVxlanHeaderLength, out, t);
}

// RFC 8926 §3.4: version (0) and options length in 4-octet units, O and C flags, protocol type
// (Ethernet 0x6558, or IPv4/IPv6), VNI, then the options, skipped.
template <unsigned kMode>
DecodeVerdict decode_geneve(const Bytes& inner, std::size_t cursor, PacketSummary& out, Tunnels& t) {
  if (!inner.has(cursor, kGeneveHeaderLength)) return DecodeVerdict::kDecapBadGeneve;
  const std::uint8_t* g = inner.data + cursor;
  if ((g[0] >> 6) != 0) return DecodeVerdict::kDecapBadGeneve;
  const std::size_t header_length = kGeneveHeaderLength + std::size_t{g[0] & 0x3fu} * 4;
  if (!inner.has(cursor, header_length)) return DecodeVerdict::kDecapBadGeneve;
  const std::uint16_t protocol = load_be16(g + 2);
  const std::uint32_t vni = load_be32(g + 4) >> 8;
  if (protocol != kEthertypeTransparentEthernet && protocol != kEthertypeIpv4 && protocol != kEthertypeIpv6) {
    return DecodeVerdict::kOk;  // another payload (NSH, MPLS...): an outer flow
  }
  if (const auto v = enter_tunnel<kMode>(cache::TunnelType::kGeneve, vni, out, t); v != DecodeVerdict::kOk) return v;
  if (protocol == kEthertypeTransparentEthernet) return decode_inner_ethernet<kMode>(inner, cursor + header_length, out, t);
  return decode_ip<kMode>(inner, cursor + header_length, protocol == kEthertypeIpv4 ? IpVersion::kV4 : IpVersion::kV6,
                           out, t);
}

// 3GPP TS 29.281 §5.1: version 1 and protocol type 1 (GTP, not GTP'); a G-PDU (message 255)
// carries a user packet after the TEID, the optional sequence number, N-PDU number and next
// extension header type (present when any of E, S, PN is set), and the extension headers (§5.2:
// length in 4-octet units, the next type in their last octet). Other messages (echo, error
// indication, end marker) are signalling: an outer flow.
template <unsigned kMode>
DecodeVerdict decode_gtp_u(const Bytes& inner, std::size_t cursor, PacketSummary& out, Tunnels& t) {
  if (!inner.has(cursor, kGtpHeaderLength)) return DecodeVerdict::kDecapBadGtpU;
  const std::uint8_t flags = inner.data[cursor];
  if ((flags >> 5) != 1 || (flags & 0x10u) == 0) return DecodeVerdict::kDecapBadGtpU;
  if (inner.data[cursor + 1] != kGtpMessageGpdu) return DecodeVerdict::kOk;
  const std::uint32_t teid = load_be32(inner.data + cursor + 4);
  std::size_t offset = cursor + kGtpHeaderLength;
  if ((flags & 0x07u) != 0) {
    if (!inner.has(offset, 4)) return DecodeVerdict::kDecapBadGtpU;
    std::uint8_t next = (flags & 0x04u) != 0 ? inner.data[offset + 3] : 0;
    offset += 4;
    for (int i = 0; next != 0; ++i) {
      if (i == kMaxGtpExtensionHeaders || !inner.has(offset, 1)) return DecodeVerdict::kDecapBadGtpU;
      const std::size_t length = std::size_t{inner.data[offset]} * 4;
      if (length == 0 || !inner.has(offset, length)) return DecodeVerdict::kDecapBadGtpU;
      next = inner.data[offset + length - 1];
      offset += length;
    }
  }
  if (const auto v = enter_tunnel<kMode>(cache::TunnelType::kGtpU, teid, out, t); v != DecodeVerdict::kOk) return v;
  return decode_ip<kMode>(inner, offset, IpVersion::kAny, out, t);
}

// UDP tunnels, by destination port (the source port is a flow hash in VXLAN and Geneve).
template <unsigned kMode>
DecodeVerdict decode_udp_tunnel(const Bytes& bytes, std::size_t start, std::size_t end, PacketSummary& out,
                                Tunnels& t) {
  const std::uint16_t port = out.key.destination_port;
  const std::size_t cursor = start + kUdpHeaderLength;
  if ((port == kPortVxlan || port == kPortVxlanLinux) && (t.enabled & kDecapVxlan) != 0) {
    return decode_vxlan<kMode>(payload_bytes(bytes, end, t), cursor, out, t);
  }
  if (port == kPortGeneve && (t.enabled & kDecapGeneve) != 0) {
    return decode_geneve<kMode>(payload_bytes(bytes, end, t), cursor, out, t);
  }
  if (port == kPortGtpU && (t.enabled & kDecapGtpU) != 0) {
    return decode_gtp_u<kMode>(payload_bytes(bytes, end, t), cursor, out, t);
  }
  return DecodeVerdict::kOk;
}

template <unsigned kMode>
DecodeVerdict decode_frame(int link_type, const Bytes& bytes, PacketSummary& out, Tunnels& t) {
  switch (link_type) {
    case kLinkTypeEthernet:
      if (!bytes.has(0, kEthernetHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      note_ethernet<kMode>(bytes.data, t);
      return decode_ethertype<kMode>(bytes, kEthernetHeaderLength, load_be16(bytes.data + 12), out, t);
    case kLinkTypeRaw:
    case kLinkTypeRawAlt12:
    case kLinkTypeRawAlt14:
      return decode_ip<kMode>(bytes, 0, IpVersion::kAny, out, t);
    case kLinkTypeIpv4:
      return decode_ip<kMode>(bytes, 0, IpVersion::kV4, out, t);
    case kLinkTypeIpv6:
      return decode_ip<kMode>(bytes, 0, IpVersion::kV6, out, t);
    case kLinkTypeLinuxSll:
      // Linux cooked v1: packet type, ARPHRD type, address length, 8 address bytes, protocol.
      if (!bytes.has(0, kSllHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      note_cooked<kMode>(load_be16(bytes.data), load_be16(bytes.data + 4), bytes.data + 6, t);
      return decode_ethertype<kMode>(bytes, kSllHeaderLength, load_be16(bytes.data + 14), out, t);
    case kLinkTypeLinuxSll2:
      // Linux cooked v2: protocol first, then reserved, ifindex, ARPHRD, type, address.
      if (!bytes.has(0, kSll2HeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      note_cooked<kMode>(bytes.data[10], bytes.data[11], bytes.data + 12, t);
      return decode_ethertype<kMode>(bytes, kSll2HeaderLength, load_be16(bytes.data), out, t);
    case kLinkTypeNull: {
      // The family is in the capturing host's byte order. Families are small numbers, so the
      // reading whose high half is zero is the right one.
      if (!bytes.has(0, kNullHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      const std::uint32_t little = load_le32(bytes.data);
      const std::uint32_t family = (little & 0xffff0000u) != 0 ? load_be32(bytes.data) : little;
      return decode_address_family<kMode>(bytes, family, out, t);
    }
    case kLinkTypeLoop:
      // OpenBSD DLT_LOOP: the same family, always in network byte order.
      if (!bytes.has(0, kNullHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      return decode_address_family<kMode>(bytes, load_be32(bytes.data), out, t);
    default:
      return DecodeVerdict::kUnsupportedLinkType;
  }
}

constexpr std::pair<std::string_view, std::uint16_t> kDecapNames[] = {
    {"gre", kDecapGre},           {"vxlan", kDecapVxlan},       {"geneve", kDecapGeneve},
    {"gtp-u", kDecapGtpU},        {"erspan", kDecapErspan},     {"ip-in-ip", kDecapIpInIp},
    {"ipv6-in-ipv4", kDecapIpv6InIpv4},
};

}  // namespace

std::optional<DecodeOptions> parse_decap(std::string_view text, std::string& error) {
  DecodeOptions options;
  if (text == "all") {
    options.decap = kDecapAll;
    return options;
  }
  if (text == "none") return options;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    const std::string_view name = text.substr(begin, comma - begin);
    bool known = false;
    for (const auto& [word, bit] : kDecapNames) {
      if (name == word) {
        options.decap = static_cast<std::uint16_t>(options.decap | bit);
        known = true;
      }
    }
    if (!known) {
      error = "unknown encapsulation '" + std::string(name) +
              "': expected all, none or a comma list of gre, vxlan, geneve, gtp-u, erspan, ip-in-ip, ipv6-in-ipv4";
      return std::nullopt;
    }
    begin = comma + 1;
  }
  return options;
}

std::string decap_to_string(std::uint16_t decap) {
  std::string text;
  for (const auto& [word, bit] : kDecapNames) {
    if ((decap & bit) == 0) continue;
    if (!text.empty()) text += ',';
    text += word;
  }
  return text.empty() ? "none" : text;
}

std::string_view to_string(DecodeVerdict verdict) {
  switch (verdict) {
    case DecodeVerdict::kOk:
      return "decoded";
    case DecodeVerdict::kUnsupportedLinkType:
      return "unsupported link type";
    case DecodeVerdict::kTruncatedLinkLayer:
      return "truncated at layer 2 (link header or VLAN tag)";
    case DecodeVerdict::kTruncatedMpls:
      return "truncated MPLS label stack";
    case DecodeVerdict::kMplsNotIp:
      return "MPLS payload not IPv4/IPv6";
    case DecodeVerdict::kNotIp:
      return "not IP (ARP, LLDP, other protocols)";
    case DecodeVerdict::kTruncatedNetworkLayer:
      return "truncated at layer 3 (IPv4/IPv6 header)";
    case DecodeVerdict::kBadIpVersion:
      return "IP version mismatch";
    case DecodeVerdict::kBadIpHeaderLength:
      return "bad IPv4 header length (IHL < 5)";
    case DecodeVerdict::kBadIpTotalLength:
      return "bad IP total/payload length";
    case DecodeVerdict::kTruncatedTransportLayer:
      return "truncated at layer 4 (before the ports)";
    case DecodeVerdict::kDecapBadGre:
      return "--decap: malformed or truncated GRE header";
    case DecodeVerdict::kDecapBadErspan:
      return "--decap: malformed or truncated ERSPAN header";
    case DecodeVerdict::kDecapBadVxlan:
      return "--decap: malformed or truncated VXLAN header";
    case DecodeVerdict::kDecapBadGeneve:
      return "--decap: malformed or truncated Geneve header";
    case DecodeVerdict::kDecapBadGtpU:
      return "--decap: malformed or truncated GTP-U header";
    case DecodeVerdict::kDecapTooDeep:
      return "--decap: tunnels nested too deep";
    case DecodeVerdict::kCount:
      break;
  }
  return "unknown verdict";
}

std::string_view to_key(DecodeVerdict verdict) {
  switch (verdict) {
    case DecodeVerdict::kOk:
      return "ok";
    case DecodeVerdict::kUnsupportedLinkType:
      return "unsupported_link_type";
    case DecodeVerdict::kTruncatedLinkLayer:
      return "truncated_link_layer";
    case DecodeVerdict::kTruncatedMpls:
      return "truncated_mpls";
    case DecodeVerdict::kMplsNotIp:
      return "mpls_not_ip";
    case DecodeVerdict::kNotIp:
      return "not_ip";
    case DecodeVerdict::kTruncatedNetworkLayer:
      return "truncated_network_layer";
    case DecodeVerdict::kBadIpVersion:
      return "bad_ip_version";
    case DecodeVerdict::kBadIpHeaderLength:
      return "bad_ip_header_length";
    case DecodeVerdict::kBadIpTotalLength:
      return "bad_ip_total_length";
    case DecodeVerdict::kTruncatedTransportLayer:
      return "truncated_transport_layer";
    case DecodeVerdict::kDecapBadGre:
      return "decap_bad_gre";
    case DecodeVerdict::kDecapBadErspan:
      return "decap_bad_erspan";
    case DecodeVerdict::kDecapBadVxlan:
      return "decap_bad_vxlan";
    case DecodeVerdict::kDecapBadGeneve:
      return "decap_bad_geneve";
    case DecodeVerdict::kDecapBadGtpU:
      return "decap_bad_gtp_u";
    case DecodeVerdict::kDecapTooDeep:
      return "decap_too_deep";
    case DecodeVerdict::kCount:
      break;
  }
  return "unknown";
}

namespace {

// Resets the summary for a new frame and returns its bytes. The key is hashed and compared as
// bytes: every byte, including unused address bytes and the tunnel fields, must be written on
// every path.
Bytes start_summary(std::span<const std::uint8_t> frame, std::uint32_t wire_length, std::uint64_t timestamp_ns,
                    std::uint32_t ingress_interface, cache::PacketSummary& out) {
  out.key = {};
  out.key.ingress_interface = ingress_interface;
  out.timestamp_ns = timestamp_ns;
  out.tcp_flags = 0;
  out.octets = 0;
  out.ttl = 0;
  return Bytes{frame.data(), frame.size(), std::max<std::uint64_t>(wire_length, frame.size())};
}

}  // namespace

DecodeVerdict decode_packet(int link_type, std::span<const std::uint8_t> frame,
                            std::uint32_t wire_length, std::uint64_t timestamp_ns,
                            std::uint32_t ingress_interface, cache::PacketSummary& out) {
  const Bytes bytes = start_summary(frame, wire_length, timestamp_ns, ingress_interface, out);
  Tunnels none;
  return decode_frame<0>(link_type, bytes, out, none);
}

DecodeVerdict decode_packet(int link_type, std::span<const std::uint8_t> frame,
                            std::uint32_t wire_length, std::uint64_t timestamp_ns,
                            std::uint32_t ingress_interface, const DecodeOptions& options,
                            cache::PacketSummary& out) {
  if (options.decap == 0) return decode_packet(link_type, frame, wire_length, timestamp_ns, ingress_interface, out);
  const Bytes bytes = start_summary(frame, wire_length, timestamp_ns, ingress_interface, out);
  Tunnels tunnels;
  tunnels.enabled = options.decap;
  return decode_frame<kModeDecap>(link_type, bytes, out, tunnels);
}

DecodeVerdict decode_packet(int link_type, std::span<const std::uint8_t> frame,
                            std::uint32_t wire_length, std::uint64_t timestamp_ns,
                            std::uint32_t ingress_interface, const DecodeOptions& options,
                            cache::PacketSummary& out, cache::PacketExtras& extras) {
  const Bytes bytes = start_summary(frame, wire_length, timestamp_ns, ingress_interface, out);
  extras = cache::PacketExtras{};
  Tunnels tunnels;
  tunnels.enabled = options.decap;
  tunnels.extras = &extras;
  if (options.decap == 0) return decode_frame<kModeExtras>(link_type, bytes, out, tunnels);
  return decode_frame<kModeDecap | kModeExtras>(link_type, bytes, out, tunnels);
}

}  // namespace tapflow::probe
