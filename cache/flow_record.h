// The flow record: a finished (expired) flow, the cache's output and the exporters' input.
#pragma once

#include <cstdint>
#include <string_view>

#include "cache/flow_key.h"
#include "cache/packet_summary.h"

namespace tapflow::cache {

// IPFIX flowEndReason (IE 136) values, IANA registry.
enum class FlowEndReason : std::uint8_t {
  kIdleTimeout = 1,
  kActiveTimeout = 2,
  kEndOfFlow = 3,        // TCP FIN or RST seen
  kForcedEnd = 4,        // end of input, shutdown or an explicit flush
  kLackOfResources = 5,  // evicted to make room in a full cache
};

constexpr std::string_view to_string(FlowEndReason reason) {
  switch (reason) {
    case FlowEndReason::kIdleTimeout: return "idle timeout";
    case FlowEndReason::kActiveTimeout: return "active timeout";
    case FlowEndReason::kEndOfFlow: return "end of flow";
    case FlowEndReason::kForcedEnd: return "forced end";
    case FlowEndReason::kLackOfResources: return "lack of resources";
  }
  return "unknown";
}

// A flow's layer-2, MPLS and IPv6 fields (--key, --fields): the first packet's PacketExtras, with
// fragment_flags the OR over its packets and the layer-3 packet lengths' extremes. All zero (and
// direction kDirectionUnknown) in a run that does not decode extras.
// The lengths come first: with the first packet's fragment flags they are what every packet
// updates, and they stay in a side block's first two cache lines (cache/flow_table.h).
struct FlowExtras {
  std::uint32_t min_length = 0;  // layer-3 octets of the flow's smallest packet (0 = unknown)
  std::uint32_t max_length = 0;
  PacketExtras first;
};

// --biflow (RFC 5103): the reverse direction of a connection, destination to source of the key.
// All zero for a uniflow, or a biflow whose responder never answered.
struct ReverseCounters {
  std::uint64_t packets = 0;
  std::uint64_t octets = 0;
  std::uint64_t first_ns = 0;  // 0: no reverse packet
  std::uint64_t last_ns = 0;
  std::uint8_t tcp_flags = 0;
  std::uint8_t min_ttl = 0;
  std::uint8_t max_ttl = 0;
  // The reverse direction's first packet's ToS and ingress interface: with --biflow neither is
  // part of the key (a connection's two ends mark their packets differently, and an optical
  // tap delivers each direction on its own port), so the key's are the forward direction's.
  std::uint8_t tos = 0;
  std::uint32_t ingress_interface = 0;
};
static_assert(sizeof(ReverseCounters) == 40, "no hidden padding");

// RFC 5103 §6.3 biflowDirection (IE 239) values tapflow sets.
enum class BiflowDirection : std::uint8_t {
  kArbitrary = 0,  // the initiator is the first packet seen, the handshake was not
  kInitiator = 1,  // the source sent the TCP handshake's SYN, seen by the table
};

// What every destination reads of a finished flow: 96 bytes, the part that crosses from a worker
// to the export thread in every run (RecordBatch).
struct FlowRecordCore {
  FlowKey key;
  std::uint64_t packets = 0;
  std::uint64_t octets = 0;
  std::uint64_t first_ns = 0;  // timestamp of the first packet, ns since the Unix epoch
  std::uint64_t last_ns = 0;   // timestamp of the last packet
  std::uint8_t tcp_flags = 0;  // OR of the flags of every packet
  std::uint8_t min_ttl = 0;
  std::uint8_t max_ttl = 0;
  FlowEndReason end_reason = FlowEndReason::kForcedEnd;
  // Routing fields: set by a destination's --prefixes stage (exporter/prefixes/), 0 = unknown.
  std::uint8_t source_prefix_length = 0;
  std::uint8_t destination_prefix_length = 0;
  std::uint32_t source_as = 0;
  std::uint32_t destination_as = 0;
};
static_assert(sizeof(FlowRecordCore) == 96, "the core record is one and a half cache lines");

// What only a table with side blocks (--key / --fields beyond the core, --biflow) fills: zero
// (direction unknown, arbitrary) otherwise. A RecordBatch carries it only then.
struct FlowSide {
  FlowExtras extras;        // --key / --fields
  ReverseCounters reverse;  // --biflow
  BiflowDirection biflow_direction = BiflowDirection::kArbitrary;  // --biflow
};

// The record as the table hands it out and every exporter reads it.
struct FlowRecord : FlowRecordCore, FlowSide {};

}  // namespace tapflow::cache
