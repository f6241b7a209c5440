// The packet summary: what the decoder keeps of one packet, and all the cache needs.
// A compact POD so batches of them can cross thread boundaries without copying packets.
#pragma once

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

}  // namespace tapflow::cache
