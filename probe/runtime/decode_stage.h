// The decode stage of one frame source: frames in, packet summaries out, every rejected frame
// counted under its reason, then packet sampling (after decoding, so rejects are counted either
// way; before the cache). It runs on the thread that polls the source's queue: the dispatcher for
// one-stream sources, so every --threads value samples the same packets, or the queue's worker
// for sources split by a flow hash. Owns its counters; never allocates, locks or logs.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "cache/packet_summary.h"
#include "cache/sampler.h"
#include "drivers/frame.h"
#include "probe/decode/decoder.h"
#include "probe/traffic_profile.h"

namespace tapflow::probe::runtime {

struct DecodeCounters {
  std::uint64_t packets_read = 0;
  std::uint64_t bytes_read = 0;  // captured bytes
  std::array<std::uint64_t, static_cast<std::size_t>(DecodeVerdict::kCount)> verdicts{};
  std::uint64_t octets_decoded = 0;   // layer-3 octets of the decoded packets
  std::uint64_t octets_rejected = 0;  // wire length of the rejected packets
  std::uint64_t packets_sampled_out = 0;
  std::uint64_t octets_sampled_out = 0;
  std::uint64_t first_packet_ns = 0;  // the first decoded packet's time
  TrafficProfile profile;             // its packet sizes (flows are counted at export)

  std::uint64_t packets_rejected() const { return packets_read - verdicts[0]; }
  void add(const DecodeCounters& other);
};

class DecodeStage {
 public:
  DecodeStage(cache::SamplingConfig sampling, std::uint64_t seed, DecodeOptions options = {})
      : sampler_(sampling, seed), options_(options) {}

  // Decodes `frames` into `out` (at least frames.size() long) and, when the options ask for
  // extras, `extras` (as long; ignored otherwise); returns how many the sampler kept. The clock
  // follows the packets' time, never going backwards.
  std::size_t decode(std::span<const drivers::Frame> frames, std::span<cache::PacketSummary> out,
                     std::span<cache::PacketExtras> extras = {}) {
    std::size_t kept = 0;
    counters_.packets_read += frames.size();
    for (const drivers::Frame& frame : frames) {
      counters_.bytes_read += frame.data.size();
      cache::PacketSummary& summary = out[kept];
      // Without --decap, --key and --fields, one predictable branch in front of the decoder of old.
      const DecodeVerdict verdict =
          options_.extras ? decode_packet(frame.link_type, frame.data, frame.wire_length, frame.timestamp_ns,
                                          frame.ingress_interface, options_, summary, extras[kept])
                          : decode_packet(frame.link_type, frame.data, frame.wire_length, frame.timestamp_ns,
                                          frame.ingress_interface, options_, summary);
      ++counters_.verdicts[static_cast<std::size_t>(verdict)];
      if (verdict != DecodeVerdict::kOk) {
        counters_.octets_rejected += frame.wire_length;
        continue;
      }
      if (counters_.first_packet_ns == 0) counters_.first_packet_ns = summary.timestamp_ns;
      counters_.octets_decoded += summary.octets;
      counters_.profile.count_packet(summary.octets, summary.timestamp_ns);
      if (summary.timestamp_ns > clock_ns_) clock_ns_ = summary.timestamp_ns;
      if (!sampler_.select()) {
        ++counters_.packets_sampled_out;
        counters_.octets_sampled_out += summary.octets;
        continue;
      }
      if (options_.key_drops != 0) drop_key_fields(summary.key);
      ++kept;
    }
    return kept;
  }

  // Live sources: the wall clock, which only moves forward here.
  void advance_clock(std::uint64_t now_ns) {
    if (now_ns > clock_ns_) clock_ns_ = now_ns;
  }
  std::uint64_t clock_ns() const { return clock_ns_; }
  const DecodeCounters& counters() const { return counters_; }

 private:
  void drop_key_fields(cache::FlowKey& key) const {
    const std::uint8_t d = options_.key_drops;
    if ((d & kDropSourceAddress) != 0) key.source_address = {};
    if ((d & kDropDestinationAddress) != 0) key.destination_address = {};
    if ((d & kDropSourcePort) != 0) key.source_port = 0;
    if ((d & kDropDestinationPort) != 0) key.destination_port = 0;
    if ((d & kDropTos) != 0) key.tos = 0;
    if ((d & kDropIngressInterface) != 0) key.ingress_interface = 0;
  }

  cache::PacketSampler sampler_;
  DecodeOptions options_;
  DecodeCounters counters_;
  std::uint64_t clock_ns_ = 0;
};

}  // namespace tapflow::probe::runtime
