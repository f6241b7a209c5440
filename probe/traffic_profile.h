// The numbers Cisco's `show ip cache flow` prints: a packet size distribution (counted as packets
// are decoded) and, per protocol class, flows, packets and bytes per flow, and active and idle
// seconds per flow (counted as flows expire). Owned by the data-path thread; copied for reports.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "cache/flow_record.h"

namespace tapflow::probe {

// Upper bounds of the packet-size buckets, in layer-3 octets, as IOS prints them.
inline constexpr std::array<std::uint32_t, 25> kPacketSizeBounds = {
    32,  64,  96,  128, 160, 192, 224,  256,  288,  320,  352,  384,  416,
    448, 480, 512, 544, 576, 1024, 1536, 2048, 2560, 3072, 3584, 4096};

enum class ProtocolClass : std::uint8_t {
  kTcpTelnet, kTcpFtp, kTcpFtpData, kTcpWww, kTcpSmtp, kTcpX, kTcpBgp, kTcpOther,
  kUdpDns, kUdpNtp, kUdpTftp, kUdpFrag, kUdpOther, kIcmp, kIpOther, kCount
};
std::string_view to_string(ProtocolClass c);
ProtocolClass classify(const cache::FlowKey& key);

struct ProtocolTotals {
  std::uint64_t flows = 0;
  std::uint64_t packets = 0;
  std::uint64_t octets = 0;
  std::uint64_t active_ns = 0;  // sum of (last - first)
  std::uint64_t idle_ns = 0;    // sum of (expiry clock - last)
};

struct TrafficProfile {
  std::array<std::uint64_t, kPacketSizeBounds.size() + 1> packet_sizes{};  // last: larger
  std::array<ProtocolTotals, static_cast<std::size_t>(ProtocolClass::kCount)> protocols{};
  std::uint64_t first_ns = 0;  // first and latest packet time seen: the span flows/s refer to
  std::uint64_t last_ns = 0;

  void count_packet(std::uint32_t octets, std::uint64_t timestamp_ns) {
    // Up to 576 the buckets are 32 octets wide: index directly; scan only the few larger ones.
    std::size_t i = octets <= 576 ? (octets == 0 ? 0 : (octets - 1) / 32) : 18;
    while (i < kPacketSizeBounds.size() && octets > kPacketSizeBounds[i]) ++i;
    ++packet_sizes[i];
    if (first_ns == 0 || timestamp_ns < first_ns) first_ns = timestamp_ns;
    if (timestamp_ns > last_ns) last_ns = timestamp_ns;
  }
  void count_flow(const cache::FlowRecord& r, std::uint64_t clock_ns);
  // Adds another profile's packet sizes and time span (profiles of several decoders).
  void add_packets(const TrafficProfile& other);
};

// The `show ip cache flow` style report.
std::string format_profile(const TrafficProfile& profile);

}  // namespace tapflow::probe
