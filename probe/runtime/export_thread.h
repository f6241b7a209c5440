// The export thread: owns the exporters (encoders and transports) and the table printer. Expired
// records reach it from every worker over its own RecordChannel, each batch stamped with the
// data path's clock and the packets its source ignored; from those it keeps the export clock
// (the packets' time for files, the wall clock live), the exporters' system start (files: the
// first packet) and the totals of the RFC 7011 reliability statistics. Nothing calls back into
// the data path. Live, it sends a partly filled message at least once a second. With --rotate
// it closes the file outputs when that clock passes an interval's end, records or not.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exporter/exporter.h"
#include "probe/flow_printer.h"
#include "probe/probe_stats.h"
#include "probe/runtime/channels.h"
#include "probe/traffic_profile.h"

namespace tapflow::probe::runtime {

struct ExportConfig {
  std::vector<std::string> urls;   // -n; none: the printer gets the records
  exporter::ExportOptions options;  // `totals` is set by the export thread
  bool live = false;                // wall clock; else the packets' time
};

// What the export side has counted, for statistics.
struct ExportSnapshot {
  std::vector<ExporterStats> exporters;
  std::uint64_t records_printed = 0;
  std::uint64_t records_not_printed = 0;
  std::uint64_t records_dropped = 0;  // live: the workers' record queues were full (the export was behind)
  TrafficProfile flows;  // per-protocol flow totals (packet sizes are counted by the decoders)
};

class ExportThread {
 public:
  // Opens every destination; throws std::runtime_error naming a URL that cannot be honoured.
  // `printer` (may be null) gets the records when there is no URL.
  ExportThread(const ExportConfig& config, FlowPrinter* printer);
  ~ExportThread();
  ExportThread(const ExportThread&) = delete;
  ExportThread& operator=(const ExportThread&) = delete;

  // Before start(): one channel per worker.
  RecordChannel& add_channel();
  // SIGHUP: the exporters reopen their file outputs between two batches. Async-signal-safe
  // through `flag`, polled once per loop.
  void watch_reopen(std::atomic<bool>* flag) { reopen_flag_ = flag; }
  void start();
  // Waits until every record handed over before the call is exported and the messages flushed;
  // returns the counters then. Thread-safe.
  ExportSnapshot sync();
  // Waits until every channel has delivered its last batch (stamped with its source's final
  // totals), closes the exporters (IPFIX sends the final statistics) and stops the thread.
  void finish();
  // After finish().
  ExportSnapshot snapshot() const;
  // The data path is stopping (a signal): up to `cache_flows` flows are about to come. Paced
  // destinations are raised, if needed, to flush them all within kStopFlushBudget (systemd waits
  // 90 s by default), and one line says so. Thread-safe.
  void stopping(std::size_t cache_flows);
  static constexpr double kStopFlushBudgetS = 60;
  // Records the workers dropped because their queue to this thread was full (live only).
  std::uint64_t records_dropped() const;

 private:
  void run();
  bool drain();  // true if it took anything
  void take(RecordBatch& batch);
  void note_stamp(const BatchStamp& stamp);
  void publish();
  void log_events();  // what the transports reported
  void pace_for_stop(std::size_t cache_flows);
  void warn_dropped();
  // Moves the export clock forward (never back). With --rotate, when that enters a new
  // interval, every exporter first sends what it holds and closes its file (reopen), so the next
  // message opens the new interval's file, with the templates. One comparison per batch.
  void advance_clock(std::uint64_t now_ns);

  std::vector<std::unique_ptr<exporter::FlowExporter>> exporters_;
  FlowPrinter* printer_;
  bool live_;
  Doorbell bell_;
  std::vector<std::unique_ptr<RecordChannel>> channels_;
  std::vector<bool> channel_done_;
  std::size_t channels_done_ = 0;
  std::atomic<bool>* reopen_flag_ = nullptr;
  // Export-thread state: the exporters read the clock and totals from here.
  std::uint64_t now_ns_ = 0;
  std::uint64_t last_flush_ns_ = 0;
  bool system_start_set_ = false;
  std::uint32_t rotate_interval_s_ = 0;
  std::uint64_t rotation_interval_ = 0;  // now_ns_'s interval, in intervals since the epoch
  std::vector<BatchStamp> totals_by_source_;
  exporter::ProbeTotals totals_;
  TrafficProfile flows_;
  // A batch's records rebuilt whole (core, and side where the batch has sides) for the exporters:
  // sized once, so it stays in this core's cache from batch to batch.
  std::vector<cache::FlowRecord> records_;
  bool records_have_sides_ = false;  // records_ holds a side that the next batch without sides must clear
  // sync() and finish() meet the thread here.
  std::atomic<std::uint64_t> sync_wanted_{0};
  std::atomic<std::uint64_t> sync_done_{0};
  std::atomic<bool> finishing_{false};
  std::atomic<std::size_t> stopping_flows_{0};
  bool stop_paced_ = false;
  std::uint64_t dropped_warned_ = 0;
  mutable std::mutex snapshot_mutex_;
  ExportSnapshot snapshot_;
  std::mutex sync_mutex_;  // one sync() at a time
  std::thread thread_;
};

}  // namespace tapflow::probe::runtime
