// The probe's data path, assembled: a driver's queues -> stages (decode, sample, flow-table
// shards; see probe/runtime/stage.h) -> the export thread (probe/runtime/export_thread.h). The
// thread that calls run() coordinates: it answers control and metrics questions, honours the
// stop signal, and collects the run's statistics. Takes its own configuration
// (probe/runtime_config.h), never the command line.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "drivers/driver.h"
#include "probe/flow_printer.h"
#include "probe/probe_stats.h"
#include "probe/runtime_config.h"

namespace tapflow::probe {

class Pipeline {
 public:
  // Opens every export destination; throws std::runtime_error naming one that cannot be used.
  // `printer` (may be null) gets the records when there is no destination.
  Pipeline(const RuntimeConfig& config, FlowPrinter* printer);
  ~Pipeline();

  // SIGHUP: the export thread reopens the file outputs between two batches. Async-signal-safe
  // through `flag`.
  void watch_reopen(std::atomic<bool>* flag);

  // Reads `driver` until its input ends or `stop` becomes true (SIGINT/SIGTERM: files stop at
  // once, live capture drains what the kernel holds), then exports every flow left (forced end)
  // and closes the exporters. Returns kExitOk, kExitInputFailed (a file could not be read to its
  // end, or the last interface disappeared) or kExitInterrupted (files only: stopped before the
  // end of the input). Every flow read is exported in every case.
  int run(drivers::Driver& driver, const std::atomic<bool>& stop);

  const ProbeStats& stats() const { return stats_; }
  // What the run's records carry beyond the defaults (--biflow, --fields, --key), for ctl.
  const exporter::TemplateSpec& record_fields() const { return record_fields_; }

  // A snapshot for the control socket and the metrics: counters so far and up to `flow_limit`
  // active flows (most recently updated first). With `expire_all`, every active flow is exported
  // first (forced end). Thread-safe, any number at once; blocks until answered (one asked
  // before run() waits for it). After the end it answers with the final statistics; false if
  // the pipeline is destroyed without a run.
  struct Snapshot {
    ProbeStats stats;
    std::vector<cache::FlowRecord> flows;
  };
  bool request(bool expire_all, std::size_t flow_limit, Snapshot& out);

  static constexpr int kExitOk = 0;
  static constexpr int kExitInputFailed = 1;
  static constexpr int kExitInterrupted = 3;

 private:
  class Impl;
  ProbeStats stats_;
  exporter::TemplateSpec record_fields_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tapflow::probe
