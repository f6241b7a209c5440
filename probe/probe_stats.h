// The probe's counters for one run: packets read, decoded and rejected by reason, flows created
// and expired by reason, what each exporter sent. Printed as a summary and written as JSON.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cache/flow_table.h"
#include "cache/sampler.h"
#include "drivers/driver.h"
#include "exporter/exporter.h"
#include "probe/decode/decoder.h"
#include "probe/traffic_profile.h"

namespace tapflow::probe {

struct ExporterStats {
  std::string destination;
  exporter::ExportCounters counters;
};

// Per capture point, as the driver counts it (name, received, drops, times down, state).
using CaptureStats = drivers::CaptureCounters;

struct ProbeStats {
  std::uint64_t files_read = 0;
  std::uint64_t file_errors = 0;
  std::uint64_t packets_read = 0;
  std::uint64_t bytes_read = 0;  // captured bytes
  std::array<std::uint64_t, static_cast<std::size_t>(DecodeVerdict::kCount)> verdicts{};
  std::uint64_t octets_decoded = 0;  // layer-3 octets of the decoded packets
  std::uint64_t octets_rejected = 0; // wire length of the rejected packets
  cache::SamplingConfig sampling;
  bool scale_sampled = false;
  std::uint64_t packets_sampled_out = 0;  // decoded, then skipped by the sampler
  std::uint64_t octets_sampled_out = 0;
  cache::FlowTableCounters cache;
  std::uint64_t cache_capacity = 0;
  std::uint64_t shards = 1;
  std::uint64_t flows_active = 0;
  std::uint64_t records_printed = 0;
  std::uint64_t records_not_printed = 0;  // the table's output failed (a closed pipe, a full disk)
  std::uint64_t records_dropped = 0;      // live: the export could not keep up, its queues were full
  bool interrupted = false;               // stopped by a signal before the end of the input
  std::vector<ExporterStats> exporters;
  std::vector<CaptureStats> capture;  // live capture only
  TrafficProfile profile;
  double elapsed_s = 0;

  std::uint64_t packets_decoded() const { return verdicts[0]; }
  std::uint64_t packets_rejected() const { return packets_read - packets_decoded(); }
  std::uint64_t packets_sampled() const { return packets_decoded() - packets_sampled_out; }
};

// Multi-line human summary. The machine outputs (JSON, Prometheus) are in counters.h.
std::string format_summary(const ProbeStats& stats);

}  // namespace tapflow::probe
