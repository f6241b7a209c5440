// The frame view a driver hands to the decoder: captured bytes plus capture metadata.
// The bytes belong to the driver and stay valid until its next poll of the same queue.
#pragma once

#include <cstdint>
#include <span>

namespace tapflow::drivers {

// Link types as pcap's LINKTYPE_ values (the FCS-length bits already masked off).
enum LinkType : int {
  kLinkTypeNull = 0,
  kLinkTypeEthernet = 1,
  kLinkTypeRawAlt12 = 12,
  kLinkTypeRawAlt14 = 14,
  kLinkTypeRaw = 101,
  kLinkTypeLoop = 108,
  kLinkTypeLinuxSll = 113,
  kLinkTypeIpv4 = 228,
  kLinkTypeIpv6 = 229,
  kLinkTypeLinuxSll2 = 276,
};

struct Frame {
  std::span<const std::uint8_t> data;  // captured bytes (caplen)
  std::uint32_t wire_length = 0;       // original length on the wire
  std::uint32_t ingress_interface = 0; // exported as ingressInterface (0 = unknown)
  std::uint64_t timestamp_ns = 0;      // ns since the Unix epoch
  int link_type = 0;                   // pcap LINKTYPE_ value, FCS-length bits masked off
};

}  // namespace tapflow::drivers
