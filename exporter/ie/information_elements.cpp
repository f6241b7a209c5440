#include "exporter/ie/information_elements.h"

#include <array>
#include <cstring>

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

constexpr InformationElement kTable[] = {
    {ie::kSourceIpv4Address, "sourceIPv4Address", 4, AddressFamilies::kIpv4Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { std::memcpy(out, r.key.source_address.data(), 4); },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 4, 4, r.key.source_address, r); }},
    {ie::kDestinationIpv4Address, "destinationIPv4Address", 4, AddressFamilies::kIpv4Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) {
       std::memcpy(out, r.key.destination_address.data(), 4);
     },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 4, 4, r.key.destination_address, r); }},
    {ie::kSourceIpv6Address, "sourceIPv6Address", 16, AddressFamilies::kIpv6Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) {
       std::memcpy(out, r.key.source_address.data(), 16);
     },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 16, 6, r.key.source_address, r); }},
    {ie::kDestinationIpv6Address, "destinationIPv6Address", 16, AddressFamilies::kIpv6Only, kBothFormats, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) {
       std::memcpy(out, r.key.destination_address.data(), 16);
     },
     [](Value v, const ReadContext&, FlowRecord& r) { return read_address(v, 16, 6, r.key.destination_address, r); }},
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
     }},
    {ie::kFlowEndMilliseconds, "flowEndMilliseconds", 8, AddressFamilies::kBoth, kIpfixFormat, 0,
     [](const FlowRecord& r, const WriteContext&, std::uint8_t* out) { put_u64(out, r.last_ns / kNsPerMs); },
     [](Value v, const ReadContext&, FlowRecord& r) {
       std::uint64_t ms = 0;
       if (!read_unsigned(v, ms)) return false;
       r.last_ns = ms * kNsPerMs;
       return true;
     }},
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
};

constexpr std::size_t kTableSize = std::size(kTable);
// The decoder keeps one presence bit per element in a 64-bit mask.
static_assert(kTableSize <= 64, "DecodedRecord::fields holds one bit per information element");

constexpr bool in_template(const InformationElement& e, AddressFamilies excluded, Formats format,
                           std::uint8_t features) {
  return e.families != excluded && (e.formats & format) != 0 && (e.needs & ~features) == 0;
}

template <AddressFamilies kExcluded, Formats kFormat, std::uint8_t kFeatures>
constexpr auto make_fields() {
  constexpr std::size_t count = [] {
    std::size_t n = 0;
    for (const auto& e : kTable) n += in_template(e, kExcluded, kFormat, kFeatures);
    return n;
  }();
  std::array<const InformationElement*, count> fields{};
  std::size_t i = 0;
  for (const auto& e : kTable) {
    if (in_template(e, kExcluded, kFormat, kFeatures)) fields[i++] = &e;
  }
  return fields;
}

// Every layout: [format][IPv4, IPv6][features 0..7].
template <Formats kFormat, AddressFamilies kExcluded>
struct Layouts {
  static constexpr auto f0 = make_fields<kExcluded, kFormat, 0>();
  static constexpr auto f1 = make_fields<kExcluded, kFormat, 1>();
  static constexpr auto f2 = make_fields<kExcluded, kFormat, 2>();
  static constexpr auto f3 = make_fields<kExcluded, kFormat, 3>();
  static constexpr auto f4 = make_fields<kExcluded, kFormat, 4>();
  static constexpr auto f5 = make_fields<kExcluded, kFormat, 5>();
  static constexpr auto f6 = make_fields<kExcluded, kFormat, 6>();
  static constexpr auto f7 = make_fields<kExcluded, kFormat, 7>();
  static FieldList get(std::uint8_t features) {
    switch (features & 7) {
      case 0: return f0;
      case 1: return f1;
      case 2: return f2;
      case 3: return f3;
      case 4: return f4;
      case 5: return f5;
      case 6: return f6;
      default: return f7;
    }
  }
};
using Ipv4Ipfix = Layouts<kIpfixFormat, AddressFamilies::kIpv6Only>;
using Ipv6Ipfix = Layouts<kIpfixFormat, AddressFamilies::kIpv4Only>;
using Ipv4V9 = Layouts<kV9Format, AddressFamilies::kIpv6Only>;
using Ipv6V9 = Layouts<kV9Format, AddressFamilies::kIpv4Only>;

}  // namespace

std::span<const InformationElement> information_elements() { return kTable; }

int find_information_element(std::uint16_t id) {
  for (std::size_t i = 0; i < kTableSize; ++i) {
    if (kTable[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

FieldList ipv4_record_fields() { return Ipv4Ipfix::get(0); }
FieldList ipv6_record_fields() { return Ipv6Ipfix::get(0); }

FieldList record_fields(ExportFormat format, int ip_version, std::uint8_t features) {
  const bool v6 = ip_version == 6;
  if (format == ExportFormat::kV9) {
    // v9 announces sampling in an options record that applies to all the source's records.
    const auto v9_features = static_cast<std::uint8_t>(features & ~kSampledFeature);
    return v6 ? Ipv6V9::get(v9_features) : Ipv4V9::get(v9_features);
  }
  return v6 ? Ipv6Ipfix::get(features) : Ipv4Ipfix::get(features);
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
