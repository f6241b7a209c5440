// The probe's data path for capture files: read frames, decode them into packet summaries,
// account them in the flow table, and hand expired records to the exporters and the printer.
// Owns nothing it did not build; returns the run's statistics.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "exporter/exporter.h"
#include "probe/flow_printer.h"
#include "probe/probe_options.h"
#include "probe/probe_stats.h"

namespace tapflow::probe {

class Pipeline {
 public:
  // `packet_clock`, when given, is kept at the pipeline's clock (the packets' time for files, the
  // wall clock live), updated before each batch's records are exported: the exporters' clock for
  // files, so header times, sysUpTime and template refresh follow the capture, not the machine.
  Pipeline(const ProbeOptions& options, std::vector<std::unique_ptr<exporter::FlowExporter>> exporters,
           FlowPrinter* printer, std::atomic<std::uint64_t>* packet_clock = nullptr);
  ~Pipeline();

  // Processes every -r file in order, then expires every remaining flow (reason forced end) and
  // flushes the exporters. Returns 0, or 1 if a file could not be read completely (every flow
  // built before the error is still exported).
  int run_files();

  // Captures on the -i interfaces until `stop` becomes true (SIGINT/SIGTERM), expiring flows on
  // the wall clock; then exports every flow left (forced end) and flushes. `on_capture_open` runs
  // once the interfaces are open (to drop privileges). Throws std::runtime_error if an interface
  // cannot be opened. Returns 0, or 1 if capture failed while running.
  int run_live(const std::atomic<bool>& stop, std::function<void()> on_capture_open = {});

  const ProbeStats& stats() const { return stats_; }

  // Packets seen but not accounted in any flow (decoder rejects, kernel and interface drops), for
  // the exporters' RFC 7011 reliability statistics. Called on the exporting thread only.
  exporter::ProbeTotals export_totals() const;

  // SIGHUP: the exporters reopen their file outputs between two batches. Async-signal-safe
  // through `flag`: the data path polls it once per batch.
  void watch_reopen(std::atomic<bool>* flag);

  // A snapshot for the control socket: counters so far and up to `flow_limit` active flows (most
  // recently updated first). With `expire_all`, every active flow is exported first (forced end).
  // Thread-safe: called from the control thread, answered by the data path between two batches;
  // blocks until answered. Returns false if the pipeline is not running.
  struct Snapshot {
    ProbeStats stats;
    std::vector<cache::FlowRecord> flows;
  };
  bool request(bool expire_all, std::size_t flow_limit, Snapshot& out);

 private:
  class Impl;
  ProbeStats stats_;  // before impl_: Impl writes into it while being constructed
  std::unique_ptr<Impl> impl_;
};

}  // namespace tapflow::probe
