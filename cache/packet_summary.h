// The packet summary: what the decoder keeps of one packet, and all the cache needs.
// A compact POD so batches of them can cross thread boundaries without copying packets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "cache/flow_key.h"

namespace tapflow::cache {

struct PacketSummary {
  FlowKey key;
  std::uint32_t octets = 0;    // layer-3 octets (IP total length, or IPv6 payload length + 40)
  std::uint8_t tcp_flags = 0;
  std::uint8_t ttl = 0;        // IPv4 TTL or IPv6 hop limit
  std::uint64_t timestamp_ns = 0;  // nanoseconds since the Unix epoch
};
// One cache line: batches of summaries cross threads, so the 48-byte key must not push a
// summary into a second line.
static_assert(sizeof(PacketSummary) == 64, "a packet summary is one cache line");

// What the decoder keeps of a packet beyond the summary when --key or --fields ask for layer-2,
// MPLS or IPv6 fields: filled only then, in an array beside the summaries (runs without those
// options never write or read one). The first kExtraKeyBytes bytes are the fields --key may
// choose; the flow table compares them under its key mask (FlowTableConfig::extra_key_mask).
struct PacketExtras {
  std::array<std::uint8_t, 6> source_mac{};       // Ethernet (or SLL) source; 0 without one
  std::array<std::uint8_t, 6> destination_mac{};
  std::uint16_t vlan_id = 0;        // the outermost 802.1Q / 802.1ad tag's VID, 0 untagged
  std::uint16_t inner_vlan_id = 0;  // the second tag's VID (QinQ's customer VLAN), 0 without one
  // The top MPLS label stack entry as on the wire, in the low 24 bits: label << 4 | TC << 1 | S
  // (mplsTopLabelStackSection); 0 without MPLS.
  std::uint32_t mpls_top_label = 0;
  std::uint32_t flow_label = 0;     // IPv6 flow label (20 bits); 0 for IPv4
  // Never part of a key:
  std::array<std::uint32_t, 2> mpls_labels{};  // the 2nd and 3rd label stack entries, as above
  // IPFIX fragmentFlags (IE 197): 0x40 DF, 0x20 MF (IPv4 header; MF from an IPv6 fragment
  // header), 0x10 set when the packet is a fragment with a non-zero offset (not a first one).
  std::uint8_t fragment_flags = 0;
  // IPFIX flowDirection (IE 61) when the capture says: 0 ingress, 1 egress; kDirectionUnknown.
  std::uint8_t direction = 0xff;
  // --decap: the innermost tunnel's outer IP header, the one whose payload the tunnel is (the
  // VTEPs of a VXLAN flow, a GTP-U tunnel's GSNs): its version (4 or 6; 0 when the packet came
  // through no tunnel) and its addresses, in FlowKey's form (IPv4 in the first 4 bytes).
  std::uint8_t tunnel_ip_version = 0;
  std::uint8_t padding[5] = {};
  std::array<std::uint8_t, 16> tunnel_source{};
  std::array<std::uint8_t, 16> tunnel_destination{};
};
inline constexpr std::size_t kExtraKeyBytes = 24;
inline constexpr std::uint8_t kDirectionUnknown = 0xff;
static_assert(offsetof(PacketExtras, mpls_labels) == kExtraKeyBytes, "the key part comes first");
static_assert(offsetof(PacketExtras, tunnel_source) == 40, "what a packet updates comes before the tunnel addresses");
static_assert(sizeof(PacketExtras) == 72, "no hidden padding");

}  // namespace tapflow::cache
