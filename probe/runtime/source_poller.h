// Polls one driver queue and decodes what it gives, on the thread that owns the queue: the
// clock (packet time, or the coarse wall clock live), the batch stamp the workers and the export
// thread need, the queue's events logged once each, its counters refreshed once a second live,
// a progress bar for files on a terminal, and stopping (files stop at once; live drains what the
// kernel already holds, bounded, so it is counted).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "drivers/driver.h"
#include "probe/runtime/channels.h"
#include "probe/runtime/decode_stage.h"

namespace tapflow::probe::runtime {

class SourcePoller {
 public:
  SourcePoller(drivers::RxQueue& queue, cache::SamplingConfig sampling, DecodeOptions decode, std::uint64_t seed,
               std::uint32_t source,
               bool live, bool progress);
  ~SourcePoller();

  // One poll: decoded, sampled packets in out[0, kept), their extras in extras[0, kept) when the
  // decode options ask for them (`extras` is as long as `out` then). kEndOfInput when the input ended or,
  // once `stop` is set, when the stop is complete (files: at once; live: the ring drained).
  drivers::PollOutcome poll(std::span<cache::PacketSummary> out, std::span<cache::PacketExtras> extras,
                            std::size_t& kept, const std::atomic<bool>& stop);

  BatchStamp stamp() const;
  const DecodeCounters& decode_counters() const { return decode_.counters(); }
  const drivers::QueueCounters& queue_counters() const { return queue_counters_; }
  bool failed() const { return queue_.failed(); }
  bool interrupted() const { return interrupted_; }  // files: stopped before their end
  // Reads the queue's counters now (live: a system call per interface).
  void refresh_counters();

 private:
  void log_events();
  void show_progress();
  void clear_progress();

  drivers::RxQueue& queue_;
  DecodeStage decode_;
  std::uint32_t source_;
  bool live_;
  bool progress_;
  bool progress_shown_ = false;
  bool interrupted_ = false;
  bool ended_ = false;
  unsigned stop_polls_ = 0;
  std::uint64_t polls_ = 0;
  std::uint64_t counters_refreshed_ns_ = 0;
  std::chrono::steady_clock::time_point progress_at_{};
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point file_started_at_ = started_at_;
  std::size_t progress_file_ = 0;  // the file the bar last showed
  drivers::QueueCounters queue_counters_;
  std::array<drivers::Frame, kPacketBatchSize> frames_;
};

// The bar for a file source: "gen.pcap (file 2/5) [=====     ]  45%  1.2M packets  0.84 Mpps
// 0:12 left" (the time left is this file's, at its pace so far; with several files it says so).
std::string format_progress(const drivers::Progress& progress, std::uint64_t packets, double elapsed_s,
                            double file_elapsed_s);

}  // namespace tapflow::probe::runtime
