// The one table of information elements (IANA IPFIX registry, enterprise 0; NetFlow v9 field
// types share these ids) tapflow exports: the id, name and encoded length of each, which formats
// carry it, how to write it from a flow record and how to read it back. IPFIX and v9 templates
// and the collector's decoder are derived from this table, so adding an element here adds it
// everywhere. Never allocates; the write functions assume the caller reserved `length` octets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "cache/flow_record.h"

namespace tapflow::exporter {

// Which templates carry an element: the address elements differ between IPv4 and IPv6 records.
enum class AddressFamilies : std::uint8_t { kBoth, kIpv4Only, kIpv6Only };

// Which export formats carry an element (a bit mask). v9 has no absolute times in common use
// (FIRST/LAST_SWITCHED are sysUpTime-relative) and one-octet TCP flags (RFC 3954 §8).
enum Formats : std::uint8_t { kIpfixFormat = 1, kV9Format = 2, kBothFormats = 3 };

// Export format of a field list.
enum class ExportFormat : std::uint8_t { kIpfix, kV9 };

// What writing a record needs beyond the record: the sysUpTime zero point for v9's relative times.
struct WriteContext {
  std::uint64_t system_start_ms = 0;  // ms since the Unix epoch
};

// What reading a value needs beyond the value: the message header's clock, for v9's relative
// times (absolute = export time - (sysUpTime - value), mod 2^32).
struct ReadContext {
  std::uint64_t export_time_ms = 0;     // header unix time, ms since the Unix epoch
  std::uint32_t system_uptime_ms = 0;   // header sysUpTime at that time
};

// What a template carries beyond the always-present fields (a bit mask).
enum TemplateFeatures : std::uint8_t {
  kSampledFeature = 1,  // sampling is announced: selectorId (IPFIX)
  kRoutingFeature = 2,  // a --prefixes stage fills AS numbers and prefix lengths
  kTunnelFeature = 4,   // --decap: flows carry a tunnel type and id
};

struct InformationElement {
  std::uint16_t id;
  std::string_view name;
  std::uint16_t length;  // octets in our templates (always fixed length)
  AddressFamilies families;
  std::uint8_t formats;  // Formats bits
  std::uint8_t needs;    // TemplateFeatures bits the template must have to carry it (0: always)
  // Writes exactly `length` octets, network byte order.
  void (*write)(const cache::FlowRecord& record, const WriteContext& context, std::uint8_t* out);
  // Reads a value of any length the peer chose (reduced-size encoding, RFC 7011 §6.2) into the
  // record; returns false when that length makes no sense for the element (then it is unknown).
  bool (*read)(std::span<const std::uint8_t> value, const ReadContext& context,
               cache::FlowRecord& record);
};

// The whole table, in template order.
std::span<const InformationElement> information_elements();

// Index of the enterprise-0 element `id` in information_elements(), or -1 when tapflow does not
// know it (the first entry when two formats encode an id differently; its read takes any length).
int find_information_element(std::uint16_t id);

// Well-known ids the decoder and formatters refer to by name.
namespace ie {
inline constexpr std::uint16_t kOctetDeltaCount = 1;
inline constexpr std::uint16_t kPacketDeltaCount = 2;
inline constexpr std::uint16_t kProtocolIdentifier = 4;
inline constexpr std::uint16_t kIpClassOfService = 5;
inline constexpr std::uint16_t kTcpControlBits = 6;
inline constexpr std::uint16_t kSourceTransportPort = 7;
inline constexpr std::uint16_t kSourceIpv4Address = 8;
inline constexpr std::uint16_t kIcmpType = 32;           // v9 ICMP_TYPE: type * 256 + code
inline constexpr std::uint16_t kSamplingInterval = 34;   // v9 SAMPLING_INTERVAL (RFC 3954)
inline constexpr std::uint16_t kSamplingAlgorithm = 35;  // v9 SAMPLING_ALGORITHM: 1 det., 2 random
inline constexpr std::uint16_t kFlowSamplerId = 48;
inline constexpr std::uint16_t kFlowSamplerMode = 49;
inline constexpr std::uint16_t kFlowSamplerRandomInterval = 50;
inline constexpr std::uint16_t kLastSwitched = 21;       // v9: sysUpTime ms of the last packet
inline constexpr std::uint16_t kFirstSwitched = 22;      // v9: sysUpTime ms of the first packet
inline constexpr std::uint16_t kSourceIpv4PrefixLength = 9;
inline constexpr std::uint16_t kIngressInterface = 10;
inline constexpr std::uint16_t kDestinationIpv4PrefixLength = 13;
inline constexpr std::uint16_t kBgpSourceAsNumber = 16;
inline constexpr std::uint16_t kBgpDestinationAsNumber = 17;
inline constexpr std::uint16_t kSourceIpv6PrefixLength = 29;
inline constexpr std::uint16_t kDestinationIpv6PrefixLength = 30;
inline constexpr std::uint16_t kDestinationTransportPort = 11;
inline constexpr std::uint16_t kDestinationIpv4Address = 12;
inline constexpr std::uint16_t kSourceIpv6Address = 27;
inline constexpr std::uint16_t kDestinationIpv6Address = 28;
inline constexpr std::uint16_t kMinimumTtl = 52;
inline constexpr std::uint16_t kMaximumTtl = 53;
inline constexpr std::uint16_t kIpVersion = 60;
inline constexpr std::uint16_t kFlowEndReason = 136;
inline constexpr std::uint16_t kFlowStartMilliseconds = 152;
inline constexpr std::uint16_t kFlowEndMilliseconds = 153;
// Options records (RFC 7011 §4, RFC 5476).
inline constexpr std::uint16_t kExportedOctetTotalCount = 40;
inline constexpr std::uint16_t kExportedMessageTotalCount = 41;
inline constexpr std::uint16_t kExportedFlowRecordTotalCount = 42;
inline constexpr std::uint16_t kExportingProcessId = 144;
inline constexpr std::uint16_t kObservationDomainId = 149;
inline constexpr std::uint16_t kIgnoredPacketTotalCount = 164;
inline constexpr std::uint16_t kIgnoredOctetTotalCount = 165;
inline constexpr std::uint16_t kNotSentFlowTotalCount = 166;
inline constexpr std::uint16_t kNotSentPacketTotalCount = 167;
inline constexpr std::uint16_t kNotSentOctetTotalCount = 168;
inline constexpr std::uint16_t kSelectorId = 302;
inline constexpr std::uint16_t kSelectorAlgorithm = 304;
inline constexpr std::uint16_t kSamplingPacketInterval = 305;
inline constexpr std::uint16_t kSamplingPacketSpace = 306;
inline constexpr std::uint16_t kSamplingSize = 309;
inline constexpr std::uint16_t kSamplingPopulation = 310;
inline constexpr std::uint16_t kObservationTimeMilliseconds = 323;
inline constexpr std::uint16_t kLayer2SegmentId = 351;
}  // namespace ie

// The selectorId tapflow's data records carry when sampling is on (one Selection Process).
inline constexpr std::uint64_t kSelectorIdValue = 1;

// An ordered list of elements: the body of one template, generic over the export format.
using FieldList = std::span<const InformationElement* const>;

// The record layouts tapflow exports for IPv4 and IPv6 flows: IPFIX without sampling or routing
// fields (the defaults), or for a format and TemplateFeatures bits (v9 announces sampling in an
// options record, so kSampledFeature changes only IPFIX layouts).
FieldList ipv4_record_fields();
FieldList ipv6_record_fields();
FieldList record_fields(ExportFormat format, int ip_version, std::uint8_t features);

// sysUpTime in ms of `ns` (ns since the epoch) for a system started at `system_start_ms`: clamped
// to 0 before the start, never underflowing; wraps mod 2^32 (49.7 days) as NetFlow's does.
inline std::uint32_t sys_uptime_ms(std::uint64_t ns, std::uint64_t system_start_ms) {
  const std::uint64_t ms = ns / 1'000'000;
  return static_cast<std::uint32_t>(ms > system_start_ms ? ms - system_start_ms : 0);
}

// Octets of one data record laid out by `fields`.
std::size_t record_length(FieldList fields);

// Writes one data record (record_length(fields) octets) to `out`.
void write_record(FieldList fields, const cache::FlowRecord& record, const WriteContext& context,
                  std::uint8_t* out);
inline void write_record(FieldList fields, const cache::FlowRecord& record, std::uint8_t* out) {
  write_record(fields, record, WriteContext{}, out);
}

}  // namespace tapflow::exporter
