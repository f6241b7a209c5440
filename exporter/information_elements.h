// The one table of information elements (IANA IPFIX registry, enterprise 0) tapflow exports: the
// id, name and encoded length of each, how to write it from a flow record and how to read it back.
// Templates (IPFIX, later NetFlow v9, whose field type ids coincide for these) and the collector's
// decoder are derived from this table, so adding an element here adds it everywhere.
// Never allocates; the write functions assume the caller reserved `length` octets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "cache/flow_record.h"

namespace tapflow::exporter {

// Which templates carry an element: the address elements differ between IPv4 and IPv6 records.
enum class AddressFamilies : std::uint8_t { kBoth, kIpv4Only, kIpv6Only };

struct InformationElement {
  std::uint16_t id;
  std::string_view name;
  std::uint16_t length;  // octets in our templates (always fixed length)
  AddressFamilies families;
  // Writes exactly `length` octets, network byte order.
  void (*write)(const cache::FlowRecord& record, std::uint8_t* out);
  // Reads a value of any length the peer chose (reduced-size encoding, RFC 7011 §6.2) into the
  // record; returns false when that length makes no sense for the element (then it is unknown).
  bool (*read)(std::span<const std::uint8_t> value, cache::FlowRecord& record);
};

// The whole table, in template order.
std::span<const InformationElement> information_elements();

// Index of the enterprise-0 element `id` in information_elements(), or -1 when tapflow does not
// know it.
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
inline constexpr std::uint16_t kIngressInterface = 10;
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
}  // namespace ie

// An ordered list of elements: the body of one template, generic over the export format.
using FieldList = std::span<const InformationElement* const>;

// The record layouts tapflow exports for IPv4 and IPv6 flows.
FieldList ipv4_record_fields();
FieldList ipv6_record_fields();

// Octets of one data record laid out by `fields`.
std::size_t record_length(FieldList fields);

// Writes one data record (record_length(fields) octets) to `out`.
void write_record(FieldList fields, const cache::FlowRecord& record, std::uint8_t* out);

}  // namespace tapflow::exporter
