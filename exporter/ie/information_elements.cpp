#include "exporter/ie/information_elements.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include <fmt/format.h>

#include "cache/flow_text.h"

#include "exporter/ie/byte_order.h"

namespace tapflow::exporter {

namespace {

using cache::FlowRecord;
using Value = std::span<const std::uint8_t>;

constexpr std::uint64_t kNsPerMs = 1'000'000;

// Unsigned integers accept 1..8 octets (RFC 7011 §6.2) and keep the low bits the record can hold.
bool valid_unsigned(Value v) { return !v.empty() && v.size() <= 8; }

template <typename T>
bool read_unsigned(Value v, T& out) {
  if (!valid_unsigned(v)) return false;
  out = static_cast<T>(get_unsigned(v.data(), v.size()));
  return true;
}

std::uint32_t uptime_ms(std::uint64_t ns, const WriteContext& c) {
  return sys_uptime_ms(ns, c.system_start_ms);
}

bool read_uptime(Value v, const ReadContext& c, std::uint64_t& ns) {
  std::uint32_t uptime = 0;
  if (!read_unsigned(v, uptime)) return false;
  // Unsigned difference: correct across the 2^32 ms wrap of sysUpTime.
  const std::uint64_t before_export = static_cast<std::uint32_t>(c.system_uptime_ms - uptime);
  ns = c.export_time_ms > before_export ? (c.export_time_ms - before_export) * kNsPerMs : 0;
  return true;
}

bool read_address(Value v, std::size_t size, std::uint8_t ip_version,
                  std::array<std::uint8_t, 16>& address, FlowRecord& r) {
  if (v.size() != size) return false;
  address = {};
  std::memcpy(address.data(), v.data(), size);
  r.key.ip_version = ip_version;
  return true;
}

// IANA IE 351 layer2SegmentId (unsigned64): the top octet is the overlay's type, 0x01 VxLAN and
// 0x02 NVGRE, the low three octets its 24-bit segment id. VXLAN gives its VNI; GRE the top 24
// bits of its key (NVGRE's VSID, RFC 7637; the low 8 are its FlowID). No type is registered for
// Geneve, GTP-U, ERSPAN or IP in IP: their records carry 0, their ids stay in the flow key.
constexpr std::uint64_t kSegmentVxlan = 0x01, kSegmentNvgre = 0x02;

std::uint64_t layer2_segment_id(const cache::FlowKey& key) {
  switch (static_cast<cache::TunnelType>(key.tunnel_type)) {
    case cache::TunnelType::kVxlan: return kSegmentVxlan << 56 | (key.tunnel_id & 0xffffffu);
    case cache::TunnelType::kGre: return kSegmentNvgre << 56 | (key.tunnel_id >> 8);
    default: return 0;
  }
}

bool read_layer2_segment_id(Value v, FlowRecord& r) {
  std::uint64_t id = 0;
  if (!read_unsigned(v, id)) return false;
  const std::uint64_t type = v.size() == 8 ? id >> 56 : 0;
  if (type == kSegmentVxlan) {
    r.key.tunnel_type = static_cast<std::uint8_t>(cache::TunnelType::kVxlan);
    r.key.tunnel_id = static_cast<std::uint32_t>(id & 0xffffffu);
  } else if (type == kSegmentNvgre) {
    r.key.tunnel_type = static_cast<std::uint8_t>(cache::TunnelType::kGre);
    r.key.tunnel_id = static_cast<std::uint32_t>(id & 0xffffffu) << 8;
  }
  return true;
}

template <std::size_t N>
bool read_bytes(Value v, std::array<std::uint8_t, N>& out) {
  if (v.size() != N) return false;
  std::memcpy(out.data(), v.data(), N);
  return true;
}

void put_u24(std::uint8_t* out, std::uint32_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 16);
  out[1] = static_cast<std::uint8_t>(value >> 8);
  out[2] = static_cast<std::uint8_t>(value);
}

// An MPLS label stack section: the top entry's three octets (longer sections keep the first).
bool read_label(Value v, std::uint32_t& out) {
  if (v.size() < 3) return false;
  out = static_cast<std::uint32_t>(get_unsigned(v.data(), 3));
  return true;
}

// A tunnel endpoint as kIpAddress: 16 octets, IPv4 as an IPv4-mapped address (RFC 4291 §2.5.5.2).
void put_tunnel_address(const FlowRecord& r, const std::array<std::uint8_t, 16>& address, std::uint8_t* out) {
  if (r.extras.first.tunnel_ip_version == 4) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, address.data(), 4);
  } else {
    std::memcpy(out, address.data(), 16);
  }
}

bool read_ms(Value v, std::uint64_t& ns) {
  std::uint64_t ms = 0;
  if (!read_unsigned(v, ms)) return false;
  ns = ms * kNsPerMs;
  return true;
}

bool read_icmp_type_code(Value v, FlowRecord& r) {
  std::uint16_t type_code = 0;
  if (!read_unsigned(v, type_code)) return false;
  if (type_code != 0) r.key.destination_port = type_code;
  return true;
}

constexpr InformationElement kTable[] = {
    {ie::kSourceIpv4Address, "sourceIPv4Address", 4, AddressFamilies::kIpv4Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { std::memcpy(out, r.key.source_address.data(), 4); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 4, 4, r.key.source_address, r); },
     DataType::kIpv4Address},
    {ie::kDestinationIpv4Address, "destinationIPv4Address", 4, AddressFamilies::kIpv4Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) {
       std::memcpy(out, r.key.destination_address.data(), 4);
     },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 4, 4, r.key.destination_address, r); },
     DataType::kIpv4Address},
    {ie::kSourceIpv6Address, "sourceIPv6Address", 16, AddressFamilies::kIpv6Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) {
       std::memcpy(out, r.key.source_address.data(), 16);
     },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 16, 6, r.key.source_address, r); },
     DataType::kIpv6Address},
    {ie::kDestinationIpv6Address, "destinationIPv6Address", 16, AddressFamilies::kIpv6Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) {
       std::memcpy(out, r.key.destination_address.data(), 16);
     },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 16, 6, r.key.destination_address, r); },
     DataType::kIpv6Address},
    {ie::kSourceTransportPort, "sourceTransportPort", 2, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.key.source_port); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.key.source_port); }},
    {ie::kDestinationTransportPort, "destinationTransportPort", 2, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.key.destination_port); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.key.destination_port); }},
    {ie::kProtocolIdentifier, "protocolIdentifier", 1, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.key.protocol); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.key.protocol); }},
    {ie::kIpClassOfService, "ipClassOfService", 1, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.key.tos); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.key.tos); }},
    // RFC 7125: tcpControlBits is unsigned16 (the flags byte plus NS and reserved bits); we only
    // keep the low byte.
    {ie::kTcpControlBits, "tcpControlBits", 2, AddressFamilies::kBoth, kIpfixFormat, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.tcp_flags); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.tcp_flags); }},
    // RFC 3954 §8: TCP_FLAGS is one octet in v9 (nfdump, pmacct and Wireshark read either).
    {ie::kTcpControlBits, "TCP_FLAGS", 1, AddressFamilies::kBoth, kV9Format, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.tcp_flags); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.tcp_flags); }},
    // v9 collectors (nfdump) take ICMP type and code from ICMP_TYPE, not the destination port;
    // IPFIX collectors read the port (where tapflow, like Cisco, puts type * 256 + code).
    {ie::kIcmpType, "ICMP_TYPE", 2, AddressFamilies::kBoth, kV9Format, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) {
       const bool icmp = r.key.protocol == 1 || r.key.protocol == 58;
       put_u16(out, icmp ? r.key.destination_port : 0);
     },
     [](Value v, const ReadContext&, FlowRecord& r) {
       std::uint16_t type_code = 0;
       if (!read_unsigned(v, type_code)) return false;
       if (type_code != 0) r.key.destination_port = type_code;
       return true;
     }},
    {ie::kPacketDeltaCount, "packetDeltaCount", 8, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.packets); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.packets); }},
    {ie::kOctetDeltaCount, "octetDeltaCount", 8, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.octets); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.octets); }},
    // Absolute times (IEs 152/153), never relative to the export time or an uptime: a collector
    // can anchor them without knowing when the probe started (softflowd issues 39/58).
    {ie::kFlowStartMilliseconds, "flowStartMilliseconds", 8, AddressFamilies::kBoth, kIpfixFormat, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.first_ns / kNsPerMs); },
     [](Value v, const ReadContext&, FlowRecord& r) {
       std::uint64_t ms = 0;
       if (!read_unsigned(v, ms)) return false;
       r.first_ns = ms * kNsPerMs;
       return true;
     },
     DataType::kMilliseconds},
    {ie::kFlowEndMilliseconds, "flowEndMilliseconds", 8, AddressFamilies::kBoth, kIpfixFormat, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.last_ns / kNsPerMs); },
     [](Value v, const ReadContext&, FlowRecord& r) {
       std::uint64_t ms = 0;
       if (!read_unsigned(v, ms)) return false;
       r.last_ns = ms * kNsPerMs;
       return true;
     },
     DataType::kMilliseconds},
    // v9 (RFC 3954 §8): sysUpTime ms of the first and last packet; the collector anchors them with
    // the header's sysUpTime and unix_secs. Before the system start they clamp to 0; past 2^32 ms
    // (49.7 days) they wrap, as the header's sysUpTime does.
    {ie::kFirstSwitched, "FIRST_SWITCHED", 4, AddressFamilies::kBoth, kV9Format, 0,
     [](const FlowRecord& r, const WriteContext& c, std::uint8_t* out) {
       put_u32(out, uptime_ms(r.first_ns, c));
     },
     [](Value v, const ReadContext& c, FlowRecord& r) { return read_uptime(v, c, r.first_ns); }},
    {ie::kLastSwitched, "LAST_SWITCHED", 4, AddressFamilies::kBoth, kV9Format, 0,
     [](const FlowRecord& r, const WriteContext& c, std::uint8_t* out) {
       put_u32(out, uptime_ms(r.last_ns, c));
     },
     [](Value v, const ReadContext& c, FlowRecord& r) { return read_uptime(v, c, r.last_ns); }},
    {ie::kFlowEndReason, "flowEndReason", 1, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, static_cast<std::uint8_t>(r.end_reason)); },
     [](Value v, const ReadContext&, FlowRecord& r) {
       std::uint8_t reason = 0;
       if (!read_unsigned(v, reason)) return false;
       r.end_reason = static_cast<cache::FlowEndReason>(reason);
       return true;
     }},
    {ie::kIngressInterface, "ingressInterface", 4, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u32(out, r.key.ingress_interface); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.key.ingress_interface); }},
    {ie::kMinimumTtl, "minimumTTL", 1, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.min_ttl); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.min_ttl); }},
    {ie::kMaximumTtl, "maximumTTL", 1, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.max_ttl); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.max_ttl); }},
    {ie::kIpVersion, "ipVersion", 1, AddressFamilies::kBoth, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.key.ip_version); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.key.ip_version); }},
    // RFC 5476 §6.5.1: the Selection Process the record went through; its parameters are in the
    // sampling options record with the same selectorId.
    {ie::kSelectorId, "selectorId", 8, AddressFamilies::kBoth, kIpfixFormat, kSampledFeature,
     [](const FlowRecord&, const WriteContext&, std::uint8_t* out) { put_u64(out, kSelectorIdValue); },
     [](Value v, const ReadContext&, FlowRecord&) { return valid_unsigned(v); }},
    // RFC 7012 / RFC 3954 §8: what a router's FIB would say of the addresses, from --prefixes.
    {ie::kSourceIpv4PrefixLength, "sourceIPv4PrefixLength", 1, AddressFamilies::kIpv4Only, kBothFormats, kRoutingFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.source_prefix_length); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.source_prefix_length); }},
    {ie::kDestinationIpv4PrefixLength, "destinationIPv4PrefixLength", 1, AddressFamilies::kIpv4Only, kBothFormats,
     kRoutingFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.destination_prefix_length); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.destination_prefix_length); }},
    {ie::kSourceIpv6PrefixLength, "sourceIPv6PrefixLength", 1, AddressFamilies::kIpv6Only, kBothFormats, kRoutingFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.source_prefix_length); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.source_prefix_length); }},
    {ie::kDestinationIpv6PrefixLength, "destinationIPv6PrefixLength", 1, AddressFamilies::kIpv6Only, kBothFormats,
     kRoutingFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.destination_prefix_length); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.destination_prefix_length); }},
    // Four octets (RFC 6793 ASNs); v9 collectors read SRC_AS/DST_AS of 2 or 4.
    {ie::kBgpSourceAsNumber, "bgpSourceAsNumber", 4, AddressFamilies::kBoth, kBothFormats, kRoutingFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u32(out, r.source_as); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.source_as); }},
    {ie::kBgpDestinationAsNumber, "bgpDestinationAsNumber", 4, AddressFamilies::kBoth, kBothFormats, kRoutingFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u32(out, r.destination_as); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.destination_as); }},
    // --decap: the VXLAN or NVGRE segment of the tunnel the inner flow was found in.
    {ie::kLayer2SegmentId, "layer2SegmentId", 8, AddressFamilies::kBoth, kBothFormats, kTunnelFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, layer2_segment_id(r.key)); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_layer2_segment_id(v, r); }},
    // --fields / --key (kChosenFeature): layer-2, MPLS and IPv6 fields of the flow's first packet
    // (the key's when they are key fields), decoded only when chosen.
    {ie::kSourceMacAddress, "sourceMacAddress", 6, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { std::memcpy(out, r.extras.first.source_mac.data(), 6); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_bytes(v, r.extras.first.source_mac); },
     DataType::kMacAddress, 0, "smac"},
    {ie::kDestinationMacAddress, "destinationMacAddress", 6, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { std::memcpy(out, r.extras.first.destination_mac.data(), 6); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_bytes(v, r.extras.first.destination_mac); },
     DataType::kMacAddress, 0, "dmac"},
    {ie::kVlanId, "vlanId", 2, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.extras.first.vlan_id); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.extras.first.vlan_id); },
     DataType::kUnsigned, 0, "vlan"},
    // The customer (inner) VLAN of a QinQ frame (IEEE 802.1ad).
    {ie::kDot1qCustomerVlanId, "dot1qCustomerVlanId", 2, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.extras.first.inner_vlan_id); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.extras.first.inner_vlan_id); },
     DataType::kUnsigned, 0, "inner-vlan"},
    {ie::kMplsTopLabelStackSection, "mplsTopLabelStackSection", 3, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u24(out, r.extras.first.mpls_top_label); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_label(v, r.extras.first.mpls_top_label); },
     DataType::kMplsLabel, 0, "mpls"},
    {ie::kMplsLabelStackSection2, "mplsLabelStackSection2", 3, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u24(out, r.extras.first.mpls_labels[0]); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_label(v, r.extras.first.mpls_labels[0]); },
     DataType::kMplsLabel, 0, "mpls2"},
    {ie::kMplsLabelStackSection3, "mplsLabelStackSection3", 3, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u24(out, r.extras.first.mpls_labels[1]); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_label(v, r.extras.first.mpls_labels[1]); },
     DataType::kMplsLabel, 0, "mpls3"},
    // unsigned32 sent in 3 octets (reduced-size encoding, RFC 7011 §6.2): v9's IPV6_FLOW_LABEL is 3.
    {ie::kFlowLabelIpv6, "flowLabelIPv6", 3, AddressFamilies::kIpv6Only, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u24(out, r.extras.first.flow_label); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.extras.first.flow_label); },
     DataType::kUnsigned, 0, "flow-label"},
    // OR over the flow's packets: 0x40 DF, 0x20 MF, 0x10 a non-first fragment.
    {ie::kFragmentFlags, "fragmentFlags", 1, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.extras.first.fragment_flags); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.extras.first.fragment_flags); },
     DataType::kUnsigned, 0, "frag"},
    // unsigned64 sent in 4 octets; v9 MIN/MAX_PKT_LNGTH.
    {ie::kMinimumIpTotalLength, "minimumIpTotalLength", 4, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u32(out, r.extras.min_length); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.extras.min_length); },
     DataType::kUnsigned, 0, "min-length"},
    {ie::kMaximumIpTotalLength, "maximumIpTotalLength", 4, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u32(out, r.extras.max_length); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.extras.max_length); },
     DataType::kUnsigned, 0, "max-length"},
    // 0 ingress, 1 egress, where the capture says (pcapng packet flags, a Linux SLL header, an
    // AF_PACKET socket); 255 where it does not (not an IANA value: the template cannot omit it).
    {ie::kFlowDirection, "flowDirection", 1, AddressFamilies::kBoth, kBothFormats, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.extras.first.direction); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.extras.first.direction); },
     DataType::kUnsigned, 0, "direction"},
    // --decap: the innermost tunnel's outer addresses (the VTEPs, GSNs, GRE endpoints). IANA
    // registers no element for a tunnel endpoint and tapflow has no enterprise number of its own
    // (ntop's UNTUNNELED_* elements mean the opposite), so no export format carries them: json:
    // and the table show them, empty for a flow that came through no tunnel.
    {0, "tunnelSourceAddress", 16, AddressFamilies::kBoth, 0, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_tunnel_address(r, r.extras.first.tunnel_source, out); },
     [](Value, const ReadContext&, FlowRecord&) { return false; },
     DataType::kIpAddress, 0, "tunnel-src"},
    {0, "tunnelDestinationAddress", 16, AddressFamilies::kBoth, 0, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_tunnel_address(r, r.extras.first.tunnel_destination, out); },
     [](Value, const ReadContext&, FlowRecord&) { return false; },
     DataType::kIpAddress, 0, "tunnel-dst"},
    // IPFIX has its own ICMP type/code elements (v9 always sends ICMP_TYPE, above).
    {ie::kIcmpType, "icmpTypeCodeIPv4", 2, AddressFamilies::kIpv4Only, kIpfixFormat, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.key.protocol == 1 ? r.key.destination_port : 0); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_icmp_type_code(v, r); },
     DataType::kUnsigned, 0, "icmp"},
    {ie::kIcmpTypeCodeIpv6, "icmpTypeCodeIPv6", 2, AddressFamilies::kIpv6Only, kIpfixFormat, kChosenFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.key.protocol == 58 ? r.key.destination_port : 0); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_icmp_type_code(v, r); },
     DataType::kUnsigned, 0, "icmp"},
    // --biflow (RFC 5103): the reverse direction's counters, flags, TTLs and times (IPFIX only),
    // and whether the source is known to have opened the connection (§6.3).
    {ie::kOctetDeltaCount, "reverseOctetDeltaCount", 8, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.reverse.octets); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.reverse.octets); },
     DataType::kUnsigned, kReverseEnterprise},
    {ie::kPacketDeltaCount, "reversePacketDeltaCount", 8, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.reverse.packets); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.reverse.packets); },
     DataType::kUnsigned, kReverseEnterprise},
    {ie::kTcpControlBits, "reverseTcpControlBits", 2, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u16(out, r.reverse.tcp_flags); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.reverse.tcp_flags); },
     DataType::kUnsigned, kReverseEnterprise},
    // Not part of a biflow's key: the reverse direction's first packet's (the key's are the
    // forward direction's).
    {ie::kIpClassOfService, "reverseIpClassOfService", 1, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.reverse.tos); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.reverse.tos); },
     DataType::kUnsigned, kReverseEnterprise},
    {ie::kIngressInterface, "reverseIngressInterface", 4, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u32(out, r.reverse.ingress_interface); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.reverse.ingress_interface); },
     DataType::kUnsigned, kReverseEnterprise},
    {ie::kMinimumTtl, "reverseMinimumTTL", 1, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.reverse.min_ttl); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.reverse.min_ttl); },
     DataType::kUnsigned, kReverseEnterprise},
    {ie::kMaximumTtl, "reverseMaximumTTL", 1, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, r.reverse.max_ttl); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_unsigned(v, r.reverse.max_ttl); },
     DataType::kUnsigned, kReverseEnterprise},
    // 0 when the responder never answered.
    {ie::kFlowStartMilliseconds, "reverseFlowStartMilliseconds", 8, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.reverse.first_ns / kNsPerMs); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_ms(v, r.reverse.first_ns); },
     DataType::kMilliseconds, kReverseEnterprise},
    {ie::kFlowEndMilliseconds, "reverseFlowEndMilliseconds", 8, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.reverse.last_ns / kNsPerMs); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_ms(v, r.reverse.last_ns); },
     DataType::kMilliseconds, kReverseEnterprise},
    {ie::kBiflowDirection, "biflowDirection", 1, AddressFamilies::kBoth, kIpfixFormat, kBiflowFeature,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u8(out, static_cast<std::uint8_t>(r.biflow_direction)); },
     [](Value v, const ReadContext&, FlowRecord& r) {
       std::uint8_t direction = 0;
       if (!read_unsigned(v, direction)) return false;
       r.biflow_direction = static_cast<cache::BiflowDirection>(direction);
       return true;
     }},
};


constexpr std::size_t kTableSize = std::size(kTable);
static_assert(kTableSize <= kMaxInformationElements, "DecodedRecord::fields holds one bit per row");

bool in_template(const InformationElement& e, int ip_version, Formats format, const TemplateSpec& spec,
                 std::size_t index) {
  if (!carries(e, ip_version) || (e.formats & format) == 0) return false;
  // v9 (RFC 3954) has no enterprise numbers.
  if (format == kV9Format && e.enterprise != 0) return false;
  if (spec.dropped.test(index)) return false;
  if ((e.needs & kChosenFeature) != 0 && !spec.chosen.test(index)) return false;
  return (e.needs & ~kChosenFeature & ~spec.features) == 0;
}

}  // namespace

std::span<const InformationElement> information_elements() { return kTable; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

bool names_element(const InformationElement& e, std::string_view name) {
  return equals_ignoring_case(e.name, name) || (!e.alias.empty() && e.alias == name);
}

int find_information_element(std::uint16_t id, std::uint32_t enterprise) {
  for (std::size_t i = 0; i < kTableSize; ++i) {
    // A row no format carries is never on the wire.
    if (kTable[i].id == id && kTable[i].enterprise == enterprise && kTable[i].formats != 0) return static_cast<int>(i);
  }
  return -1;
}

int find_information_element(std::string_view name) {
  for (std::size_t i = 0; i < kTableSize; ++i) {
    if (names_element(kTable[i], name)) return static_cast<int>(i);
  }
  return -1;
}

std::optional<ElementSet> parse_field_list(std::string_view list, std::string& error) {
  ElementSet set;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (name.empty()) continue;
    bool found = false;
    // An alias may name several rows (icmp: the IPv4 and the IPv6 element).
    for (std::size_t i = 0; i < kTableSize; ++i) {
      if (!names_element(kTable[i], name)) continue;
      if ((kTable[i].needs & kChosenFeature) == 0) {
        error = fmt::format("'{}' is always exported; --fields takes: {}", name, optional_field_names());
        return std::nullopt;
      }
      set.set(i);
      found = true;
    }
    if (!found) {
      error = fmt::format("unknown field '{}'; --fields takes: {}", name, optional_field_names());
      return std::nullopt;
    }
  }
  return set;
}

std::string optional_field_names() {
  std::string names;
  for (const auto& e : kTable) {
    if ((e.needs & kChosenFeature) == 0) continue;
    if (names.find(fmt::format("({})", e.alias)) != std::string::npos && !e.alias.empty()) continue;
    if (!names.empty()) names += ", ";
    names += e.alias.empty() ? std::string(e.name) : fmt::format("{} ({})", e.name, e.alias);
  }
  return names;
}

std::vector<const InformationElement*> record_fields(ExportFormat format, int ip_version, const TemplateSpec& spec) {
  TemplateSpec effective = spec;
  // v9 announces sampling in an options record that applies to all the source's records.
  const Formats f = format == ExportFormat::kV9 ? kV9Format : kIpfixFormat;
  if (f == kV9Format) effective.features = static_cast<std::uint8_t>(effective.features & ~kSampledFeature);
  std::vector<const InformationElement*> fields;
  for (std::size_t i = 0; i < kTableSize; ++i) {
    if (in_template(kTable[i], ip_version, f, effective, i)) fields.push_back(&kTable[i]);
  }
  return fields;
}

FieldList ipv4_record_fields() {
  static const auto fields = record_fields(ExportFormat::kIpfix, 4);
  return fields;
}
FieldList ipv6_record_fields() {
  static const auto fields = record_fields(ExportFormat::kIpfix, 6);
  return fields;
}

std::string render_value(const InformationElement& e, const cache::FlowRecord& record, const WriteContext& context) {
  std::array<std::uint8_t, 16> bytes{};
  const std::size_t n = std::min<std::size_t>(e.length, bytes.size());
  if (e.length <= bytes.size()) e.write(record, context, bytes.data());
  switch (e.type) {
    case DataType::kIpv4Address:
    case DataType::kIpv6Address: {
      std::array<std::uint8_t, 16> address{};
      std::memcpy(address.data(), bytes.data(), n);
      return cache::format_address(address, e.type == DataType::kIpv6Address);
    }
    case DataType::kIpAddress: {
      if (std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; })) return "";
      static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (std::memcmp(bytes.data(), kMapped, sizeof kMapped) == 0) {
        std::array<std::uint8_t, 16> address{};
        std::memcpy(address.data(), bytes.data() + 12, 4);
        return cache::format_address(address, false);
      }
      return cache::format_address(bytes, true);
    }
    case DataType::kMacAddress:
      return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2], bytes[3],
                         bytes[4], bytes[5]);
    case DataType::kMplsLabel: {
      const auto entry = static_cast<std::uint32_t>(get_unsigned(bytes.data(), 3));
      return fmt::format("{}-{}-{}", entry >> 4, (entry >> 1) & 7, entry & 1);
    }
    case DataType::kMilliseconds:
    case DataType::kUnsigned:
      break;
  }
  return fmt::format("{}", get_unsigned(bytes.data(), n));
}

std::size_t record_length(FieldList fields) {
  std::size_t length = 0;
  for (const auto* e : fields) length += e->length;
  return length;
}

void write_record(FieldList fields, const cache::FlowRecord& record, const WriteContext& context,
                  std::uint8_t* out) {
  for (const auto* e : fields) {
    e->write(record, context, out);
    out += e->length;
  }
}

}  // namespace tapflow::exporter
