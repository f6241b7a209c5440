// The one registry of information elements tapflow exports and reads: IANA's IPFIX registry
// (enterprise 0; NetFlow v9 field types share these ids) and RFC 5103's reverse elements
// (enterprise 29305). Each row gives the id, name, data type and encoded length, which formats
// and templates carry it, how to write it from a flow record and how to read it back. IPFIX and
// v9 templates (built at run time from a TemplateSpec), the collector's decoder and the generic
// text and JSON renderings of optional fields (collect, the table, ctl, json:) are derived from
// it, so a new field is one row here plus where the probe measures it. Never allocates on the
// data path; the write functions assume the caller reserved `length` octets.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
  kBiflowFeature = 8,   // --biflow: records carry the reverse direction (IPFIX only)
  // Not a feature: the row is optional, in templates only when named by --fields or --key
  // (TemplateSpec::chosen).
  kChosenFeature = 16,
};

// IANA abstract data types (RFC 7012 §3.1) as far as the generic renderings need them.
enum class DataType : std::uint8_t {
  kUnsigned,
  kIpv4Address,
  kIpv6Address,
  kMacAddress,
  kMplsLabel,       // a 3-octet label stack entry, shown as label-TC-S (nfdump's way)
  kMilliseconds,    // dateTimeMilliseconds
  // An address of either family in 16 octets, IPv4 as ::ffff:a.b.c.d; shown in its own family,
  // and as "" (json: leaves it out) when all zero.
  kIpAddress,
};

// RFC 5103 §6.1: the reverse elements' Private Enterprise Number.
inline constexpr std::uint32_t kReverseEnterprise = 29305;

struct InformationElement {
  std::uint16_t id;
  std::string_view name;
  std::uint16_t length;  // octets in our templates (always fixed length)
  AddressFamilies families;
  std::uint8_t formats;  // Formats bits; 0: no format carries it (json: and the table only)
  std::uint8_t needs;    // TemplateFeatures bits the template must have to carry it (0: always)
  // Writes exactly `length` octets, network byte order.
  void (*write)(const cache::FlowRecord& record, const WriteContext& context, std::uint8_t* out);
  // Reads a value of any length the peer chose (reduced-size encoding, RFC 7011 §6.2) into the
  // record; returns false when that length makes no sense for the element (then it is unknown).
  bool (*read)(std::span<const std::uint8_t> value, const ReadContext& context,
               cache::FlowRecord& record);
  DataType type = DataType::kUnsigned;
  std::uint32_t enterprise = 0;  // 0: IANA; kReverseEnterprise: RFC 5103 reverse element
  std::string_view alias = {};   // a short name --fields and --key accept beside `name`
};

// At most this many rows (DecodedRecord keeps one presence bit per row).
inline constexpr std::size_t kMaxInformationElements = 128;
using ElementSet = std::bitset<kMaxInformationElements>;

// The whole table, in template order.
std::span<const InformationElement> information_elements();

// Index of element `id` of `enterprise` in information_elements(), or -1 when tapflow does not
// know it (the first entry when two formats encode an id differently; its read takes any length).
int find_information_element(std::uint16_t id, std::uint32_t enterprise = 0);

// Index of the row named `name` (its IANA name, case-insensitively, or its alias), or -1.
int find_information_element(std::string_view name);
// Whether `name` names `e`: its IANA name, case-insensitively, or its alias.
bool names_element(const InformationElement& e, std::string_view name);
// ASCII case-insensitive equality, as IANA names are matched.
bool equals_ignoring_case(std::string_view a, std::string_view b);

// Whether records of `ip_version` carry `e` (the address elements differ between families).
inline bool carries(const InformationElement& e, int ip_version) {
  return e.families != (ip_version == 6 ? AddressFamilies::kIpv4Only : AddressFamilies::kIpv6Only);
}

// What one destination's templates carry: the features, and the optional (kChosenFeature) rows
// --fields and --key named, by index in information_elements().
struct TemplateSpec {
  std::uint8_t features = 0;  // TemplateFeatures bits
  ElementSet chosen;
  ElementSet dropped;  // default rows left out: the key fields --key dropped (always 0 then)
};

// Which fields of a record --fields and --key select. Parsed from a comma-separated LIST of
// names (information_elements() names or aliases); `error` says which name is unknown or not
// selectable. For --key the LIST is the whole key (see probe/); here only the optional rows.
std::optional<ElementSet> parse_field_list(std::string_view list, std::string& error);
// Every optional row's name and alias, for --help and error messages ("sourceMacAddress (smac), ...").
std::string optional_field_names();

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
inline constexpr std::uint16_t kMinimumIpTotalLength = 25;
inline constexpr std::uint16_t kMaximumIpTotalLength = 26;
inline constexpr std::uint16_t kFlowLabelIpv6 = 31;
inline constexpr std::uint16_t kSourceMacAddress = 56;
inline constexpr std::uint16_t kVlanId = 58;
inline constexpr std::uint16_t kFlowDirection = 61;
inline constexpr std::uint16_t kMplsTopLabelStackSection = 70;
inline constexpr std::uint16_t kMplsLabelStackSection2 = 71;
inline constexpr std::uint16_t kMplsLabelStackSection3 = 72;
inline constexpr std::uint16_t kDestinationMacAddress = 80;
inline constexpr std::uint16_t kIcmpTypeCodeIpv6 = 139;
inline constexpr std::uint16_t kFragmentFlags = 197;
inline constexpr std::uint16_t kBiflowDirection = 239;
inline constexpr std::uint16_t kDot1qCustomerVlanId = 245;
}  // namespace ie

// The selectorId tapflow's data records carry when sampling is on (one Selection Process).
inline constexpr std::uint64_t kSelectorIdValue = 1;

// An ordered list of elements: the body of one template, generic over the export format.
using FieldList = std::span<const InformationElement* const>;

// The record layout tapflow exports for IPv4 or IPv6 flows in `format` for `spec`, in table
// order (v9 announces sampling in an options record, so kSampledFeature changes only IPFIX
// layouts; v9 has no enterprise elements, so no reverse ones).
std::vector<const InformationElement*> record_fields(ExportFormat format, int ip_version,
                                                     const TemplateSpec& spec = {});
// The default IPFIX layouts (no sampling, routing, tunnel or chosen fields), built once.
FieldList ipv4_record_fields();
FieldList ipv6_record_fields();

// Octets of `e`'s field specifier in an IPFIX template: 4, or 8 with an enterprise number.
inline std::size_t field_specifier_size(const InformationElement& e) { return e.enterprise != 0 ? 8 : 4; }

// `e`'s value in `record` as text: numbers in decimal, addresses and MACs in their usual form,
// MPLS entries as label-TC-S, times as milliseconds since the epoch.
std::string render_value(const InformationElement& e, const cache::FlowRecord& record,
                         const WriteContext& context = {});

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
