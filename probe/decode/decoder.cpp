#include "probe/decode/decoder.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

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

// Fills ports (or ICMP type/code) and TCP flags from the transport header at [start, end), `end`
// being where the capture or the IP datagram stops, whichever comes first.
inline DecodeVerdict decode_transport(const Bytes& bytes, std::size_t start, std::size_t end,
                                      std::uint8_t protocol, PacketSummary& out) {
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
      return DecodeVerdict::kOk;
    case kProtoIcmp:
    case kProtoIcmpv6:
      // Cisco's convention, kept by RFC 7012 (icmpTypeCodeIPv4): type * 256 + code in the
      // destination port, source port 0.
      if (available < 2) return DecodeVerdict::kTruncatedTransportLayer;
      out.key.destination_port = load_be16(p);
      return DecodeVerdict::kOk;
    default:
      // GRE, ESP, OSPF, IGMP, PIM, VRRP, tunnels...: the flow is addresses + protocol. No
      // decapsulation: a tunnel is one outer flow.
      return DecodeVerdict::kOk;
  }
}

DecodeVerdict decode_ipv4(const Bytes& bytes, std::size_t offset, PacketSummary& out) {
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
  if ((load_be16(ip + 6) & 0x1fffu) != 0) return DecodeVerdict::kOk;
  // The datagram's end, not the frame's, bounds the transport header: Ethernet pads short frames
  // to 60 bytes and the padding must never be read as ports.
  const auto end = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size, offset + octets));
  return decode_transport(bytes, offset + header_length, end, out.key.protocol, out);
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

DecodeVerdict decode_ipv6(const Bytes& bytes, std::size_t offset, PacketSummary& out) {
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
  out.ttl = ip[7];
  std::memcpy(out.key.source_address.data(), ip + 8, 16);
  std::memcpy(out.key.destination_address.data(), ip + 24, 16);
  out.octets = saturate_u32(bytes.layer3_octets(offset, octets));

  // The header's own length, uncapped, decides whether the chain fits: a frame shorter on the wire
  // than its header says was cut (truncated), not malformed.
  const std::uint64_t datagram_end = offset + octets;
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
        if ((load_be16(bytes.data + cursor + 2) & 0xfff8u) != 0) {
          out.key.protocol = fragment_next_header;
          return DecodeVerdict::kOk;
        }
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
        return decode_transport(bytes, cursor, end, next_header, out);
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
inline DecodeVerdict decode_ip(const Bytes& bytes, std::size_t offset, IpVersion expected,
                               PacketSummary& out) {
  if (!bytes.has(offset, 1)) return DecodeVerdict::kTruncatedNetworkLayer;
  const unsigned version = bytes.data[offset] >> 4;
  if (expected != IpVersion::kAny && version != static_cast<unsigned>(expected)) {
    return DecodeVerdict::kBadIpVersion;
  }
  if (version == 4) return decode_ipv4(bytes, offset, out);
  if (version == 6) return decode_ipv6(bytes, offset, out);
  return DecodeVerdict::kBadIpVersion;
}

// RFC 3032 §2.1: labels until the bottom-of-stack bit; the stack does not say what it carries,
// so the first nibble after it decides, as tcpdump does.
inline DecodeVerdict decode_mpls(const Bytes& bytes, std::size_t offset, PacketSummary& out) {
  for (int i = 0; i < kMaxMplsLabels; ++i) {
    if (!bytes.has(offset, kMplsLabelLength)) return DecodeVerdict::kTruncatedMpls;
    const bool bottom_of_stack = (bytes.data[offset + 2] & 0x01u) != 0;
    offset += kMplsLabelLength;
    if (bottom_of_stack) {
      // The stack does not say what it carries: without the first byte after it, not even
      // whether it is IP is known, so this is still an MPLS truncation.
      if (!bytes.has(offset, 1)) return DecodeVerdict::kTruncatedMpls;
      const unsigned version = bytes.data[offset] >> 4;
      // Anything else is a pseudowire (control word 0 then Ethernet) or worse: not decapsulated.
      if (version != 4 && version != 6) return DecodeVerdict::kMplsNotIp;
      return decode_ip(bytes, offset, IpVersion::kAny, out);
    }
  }
  return DecodeVerdict::kMplsNotIp;
}

// RFC 2516 §5.4 PPPoE session header, then the PPP protocol field (RFC 1661 §2).
inline DecodeVerdict decode_pppoe_session(const Bytes& bytes, std::size_t offset,
                                          PacketSummary& out) {
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
  if (protocol == kPppIpv4) return decode_ip(bytes, offset, IpVersion::kV4, out);
  if (protocol == kPppIpv6) return decode_ip(bytes, offset, IpVersion::kV6, out);
  return DecodeVerdict::kNotIp;  // LCP, IPCP, CHAP...
}

// From an ethertype whose payload starts at `offset`: VLAN tags (any depth, bounded), then MPLS,
// PPPoE or IP. Ethernet, SLL and SLL2 all end up here.
DecodeVerdict decode_ethertype(const Bytes& bytes, std::size_t offset, std::uint16_t ethertype,
                               PacketSummary& out) {
  for (int i = 0; i < kMaxLinkHeaders; ++i) {
    switch (ethertype) {
      case kEthertypeIpv4:
        return decode_ip(bytes, offset, IpVersion::kV4, out);
      case kEthertypeIpv6:
        return decode_ip(bytes, offset, IpVersion::kV6, out);
      case kEthertypeVlan:
      case kEthertypeQinq:
      case kEthertypeQinqOld:
        // IEEE 802.1Q: 2 bytes TCI, then the next ethertype.
        if (!bytes.has(offset, kVlanTagLength)) return DecodeVerdict::kTruncatedLinkLayer;
        ethertype = load_be16(bytes.data + offset + 2);
        offset += kVlanTagLength;
        break;
      case kEthertypeMplsUnicast:
      case kEthertypeMplsMulticast:
        return decode_mpls(bytes, offset, out);
      case kEthertypePppoeSession:
        return decode_pppoe_session(bytes, offset, out);
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
inline DecodeVerdict decode_address_family(const Bytes& bytes, std::uint32_t family,
                                           PacketSummary& out) {
  switch (family) {
    case kAfInet:
      return decode_ip(bytes, kNullHeaderLength, IpVersion::kV4, out);
    case 10:  // Linux
    case 23:  // Windows (Npcap loopback)
    case 24:  // NetBSD, OpenBSD, BSD/OS
    case 28:  // FreeBSD, DragonFly
    case 30:  // macOS, iOS
      return decode_ip(bytes, kNullHeaderLength, IpVersion::kV6, out);
    default:
      return DecodeVerdict::kNotIp;
  }
}

}  // namespace

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
    case DecodeVerdict::kCount:
      break;
  }
  return "unknown";
}

DecodeVerdict decode_packet(int link_type, std::span<const std::uint8_t> frame,
                            std::uint32_t wire_length, std::uint64_t timestamp_ns,
                            std::uint32_t ingress_interface, cache::PacketSummary& out) {
  // The key is hashed and compared as bytes: every byte, including unused address bytes and the
  // reserved field, must be written on every path.
  out.key = {};
  out.key.ingress_interface = ingress_interface;
  out.timestamp_ns = timestamp_ns;
  out.tcp_flags = 0;
  out.octets = 0;
  out.ttl = 0;

  const Bytes bytes{frame.data(), frame.size(), std::max<std::uint64_t>(wire_length, frame.size())};
  switch (link_type) {
    case kLinkTypeEthernet:
      if (!bytes.has(0, kEthernetHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      return decode_ethertype(bytes, kEthernetHeaderLength, load_be16(bytes.data + 12), out);
    case kLinkTypeRaw:
    case kLinkTypeRawAlt12:
    case kLinkTypeRawAlt14:
      return decode_ip(bytes, 0, IpVersion::kAny, out);
    case kLinkTypeIpv4:
      return decode_ip(bytes, 0, IpVersion::kV4, out);
    case kLinkTypeIpv6:
      return decode_ip(bytes, 0, IpVersion::kV6, out);
    case kLinkTypeLinuxSll:
      // Linux cooked v1: packet type, ARPHRD type, address length, 8 address bytes, protocol.
      if (!bytes.has(0, kSllHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      return decode_ethertype(bytes, kSllHeaderLength, load_be16(bytes.data + 14), out);
    case kLinkTypeLinuxSll2:
      // Linux cooked v2: protocol first, then reserved, ifindex, ARPHRD, type, address.
      if (!bytes.has(0, kSll2HeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      return decode_ethertype(bytes, kSll2HeaderLength, load_be16(bytes.data), out);
    case kLinkTypeNull: {
      // The family is in the capturing host's byte order. Families are small numbers, so the
      // reading whose high half is zero is the right one.
      if (!bytes.has(0, kNullHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      const std::uint32_t little = load_le32(bytes.data);
      const std::uint32_t family = (little & 0xffff0000u) != 0 ? load_be32(bytes.data) : little;
      return decode_address_family(bytes, family, out);
    }
    case kLinkTypeLoop:
      // OpenBSD DLT_LOOP: the same family, always in network byte order.
      if (!bytes.has(0, kNullHeaderLength)) return DecodeVerdict::kTruncatedLinkLayer;
      return decode_address_family(bytes, load_be32(bytes.data), out);
    default:
      return DecodeVerdict::kUnsupportedLinkType;
  }
}

}  // namespace tapflow::probe
