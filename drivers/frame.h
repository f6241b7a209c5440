// The frame view a driver hands to the decoder: captured bytes plus capture metadata.
// The bytes belong to the driver and stay valid only until its next read.
#pragma once

#include <cstdint>
#include <span>

namespace tapflow::drivers {

struct Frame {
  std::span<const std::uint8_t> data;  // captured bytes (caplen)
  std::uint32_t wire_length = 0;       // original length on the wire
  std::uint64_t timestamp_ns = 0;      // ns since the Unix epoch
  int link_type = 0;                   // pcap LINKTYPE_ value, FCS-length bits masked off
};

}  // namespace tapflow::drivers
