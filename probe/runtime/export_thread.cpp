#include "probe/runtime/export_thread.h"

#include <algorithm>

#include "probe/log.h"
#include "probe/runtime/wall_clock.h"
#include "probe/runtime/worker.h"

namespace tapflow::probe::runtime {

namespace {
// Files: the exporters' system start (v5/v9 sysUpTime zero) this long before the first packet:
// an uptime of 0 reads as "no time" to some collectors (nfdump shows 1970 for a LAST_SWITCHED
// of 0).
constexpr std::uint64_t kSystemStartLeadNs = 1'000'000'000ull;
// Live: a partly filled export message waits at most this long, so a quiet link's records do
// not sit in the exporter until the message fills.
constexpr std::uint64_t kLiveFlushIntervalNs = 1'000'000'000ull;
// The loop wakes at least this often (live flushes, SIGHUP) when no record comes.
constexpr int kIdleWakeMs = 100;
}  // namespace

ExportThread::ExportThread(const ExportConfig& config, FlowPrinter* printer)
    : printer_(config.urls.empty() ? printer : nullptr), live_(config.live),
      rotate_interval_s_(config.options.rotate_interval_s) {
  now_ns_ = live_ ? exporter::system_clock_ns() : 0;
  if (rotate_interval_s_ != 0) rotation_interval_ = now_ns_ / (rotate_interval_s_ * 1'000'000'000ull);
  exporter::ExportOptions options = config.options;
  options.totals = [this] { return totals_; };
  records_.resize(kRecordBatchSize);
  for (const auto& url : config.urls) {
    exporters_.push_back(exporter::make_exporter(url, options, [this] { return now_ns_; }));
  }
}

ExportThread::~ExportThread() {
  if (thread_.joinable()) finish();
}

RecordChannel& ExportThread::add_channel() {
  channels_.push_back(std::make_unique<RecordChannel>(&bell_, live_ ? kRecordChannelDepth : kFileChannelDepth));
  channel_done_.push_back(false);
  return *channels_.back();
}

void ExportThread::start() {
  thread_ = std::thread([this] {
    name_thread("tapflow/export");
    run();
  });
}

void ExportThread::note_stamp(const BatchStamp& stamp) {
  advance_clock(stamp.clock_ns);  // the batch's records belong to the interval of its time
  if (!system_start_set_ && !live_ && stamp.first_packet_ns != 0) {
    system_start_set_ = true;
    const std::uint64_t start =
        stamp.first_packet_ns > kSystemStartLeadNs ? stamp.first_packet_ns - kSystemStartLeadNs : 0;
    for (auto& e : exporters_) e->set_system_start(start);
  }
  if (stamp.source >= totals_by_source_.size()) totals_by_source_.resize(stamp.source + 1);
  BatchStamp& t = totals_by_source_[stamp.source];
  // Counters only grow; batches of one source through several workers may arrive out of order.
  t.ignored_packets = std::max(t.ignored_packets, stamp.ignored_packets);
  t.ignored_octets = std::max(t.ignored_octets, stamp.ignored_octets);
  totals_ = {};
  for (const auto& s : totals_by_source_) {
    totals_.ignored_packets += s.ignored_packets;
    totals_.ignored_octets += s.ignored_octets;
  }
}

void ExportThread::advance_clock(std::uint64_t now_ns) {
  if (now_ns <= now_ns_) return;
  if (rotate_interval_s_ != 0) {
    const std::uint64_t interval = now_ns / (rotate_interval_s_ * 1'000'000'000ull);
    if (interval != rotation_interval_) {
      // While the clock still reads the old interval: what the exporters hold goes into its file.
      rotation_interval_ = interval;
      for (auto& e : exporters_) e->reopen();
      log_events();
    }
  }
  now_ns_ = now_ns;
}

void ExportThread::take(RecordBatch& batch) {
  note_stamp(batch.stamp);
  if (batch.count == 0) return;
  for (std::uint32_t i = 0; i < batch.count; ++i) static_cast<cache::FlowRecordCore&>(records_[i]) = batch.records[i];
  if (batch.sides) {
    for (std::uint32_t i = 0; i < batch.count; ++i) static_cast<cache::FlowSide&>(records_[i]) = (*batch.sides)[i];
    records_have_sides_ = true;
  } else if (records_have_sides_) {
    for (auto& r : records_) static_cast<cache::FlowSide&>(r) = {};
    records_have_sides_ = false;
  }
  const std::span<const cache::FlowRecord> records(records_.data(), batch.count);
  for (const auto& r : records) flows_.count_flow(r, now_ns_);
  for (auto& e : exporters_) e->export_records(records);
  if (printer_ != nullptr) printer_->print(records);
}

bool ExportThread::drain() {
  bool took = false;
  for (std::size_t c = 0; c < channels_.size(); ++c) {
    while (RecordBatch* batch = channels_[c]->take()) {
      take(*batch);
      const bool last = batch->last;
      channels_[c]->release(batch);
      took = true;
      if (last) {
        channel_done_[c] = true;
        ++channels_done_;
      }
    }
  }
  return took;
}

void ExportThread::log_events() {
  for (auto& e : exporters_) {
    if (!e->has_events()) continue;
    std::vector<exporter::TransportEvent> events;
    e->take_events(events);
    for (const auto& event : events) log::event(event);
  }
}

std::uint64_t ExportThread::records_dropped() const {
  std::uint64_t n = 0;
  for (const auto& c : channels_) n += c->dropped();
  return n;
}

void ExportThread::stopping(std::size_t cache_flows) {
  stopping_flows_.store(std::max<std::size_t>(1, cache_flows), std::memory_order_release);
  bell_.ring();
}

void ExportThread::pace_for_stop(std::size_t cache_flows) {
  for (auto& e : exporters_) {
    exporter::ExportRate rate = e->rate();
    if (!rate.limited()) continue;
    const auto& c = e->counters();
    // What the flush takes, from what this destination's messages held so far (or a small
    // message's worth: IPFIX over IPv6 holds about 20 records in 1500 bytes).
    const double records_per_message = c.messages != 0 && c.records != 0 ? double(c.records) / double(c.messages) : 20;
    const double bytes_per_record = c.records != 0 ? double(c.octets) / double(c.records) : 75;
    const double needed = rate.unit == exporter::ExportRate::Unit::kMessages
                              ? double(cache_flows) / records_per_message / kStopFlushBudgetS
                              : double(cache_flows) * bytes_per_record / kStopFlushBudgetS;
    if (needed > rate.per_second) {
      const exporter::ExportRate before = rate;
      rate.per_second = needed;
      e->set_rate(rate);
      log::notice("stopping: the cache (up to {} flows) goes to {} at {} instead of {}, to end within {:.0f} s",
                  cache_flows, e->destination(), rate.to_string(), before.to_string(), kStopFlushBudgetS);
    } else {
      log::notice("stopping: the cache (up to {} flows) goes to {} at {}: at most {:.0f} s", cache_flows,
                  e->destination(), rate.to_string(), needed / rate.per_second * kStopFlushBudgetS);
    }
  }
}

void ExportThread::warn_dropped() {
  const std::uint64_t dropped = records_dropped();
  if (dropped == dropped_warned_) return;
  if (dropped_warned_ == 0) {
    log::warning("the export cannot keep up: records dropped (raise --export-rate if the collectors can take "
                 "more, or check them); counted in the summary, further drops only counted");
  }
  dropped_warned_ = dropped;
}

void ExportThread::publish() {
  std::lock_guard lock(snapshot_mutex_);
  snapshot_.exporters.clear();
  for (const auto& e : exporters_) snapshot_.exporters.push_back({e->destination(), e->counters()});
  snapshot_.records_printed = printer_ != nullptr ? printer_->records_printed() : 0;
  snapshot_.records_not_printed = printer_ != nullptr ? printer_->records_not_printed() : 0;
  snapshot_.records_dropped = records_dropped();
  snapshot_.flows = flows_;
}

void ExportThread::run() {
  last_flush_ns_ = now_ns_;
  for (;;) {
    const std::uint32_t seen = bell_.seen();
    const bool took = drain();
    log_events();
    if (!stop_paced_) {
      if (const std::size_t flows = stopping_flows_.load(std::memory_order_acquire); flows != 0) {
        stop_paced_ = true;
        pace_for_stop(flows);
      }
    }
    if (live_) warn_dropped();
    if (live_) {
      advance_clock(coarse_wall_clock_ns());
      if (now_ns_ - last_flush_ns_ >= kLiveFlushIntervalNs) {
        last_flush_ns_ = now_ns_;
        for (auto& e : exporters_) e->flush();
      }
    }
    if (reopen_flag_ != nullptr && reopen_flag_->load(std::memory_order_relaxed) && reopen_flag_->exchange(false)) {
      log::notice("SIGHUP: reopening file outputs");
      for (auto& e : exporters_) e->reopen();
    }
    const std::uint64_t wanted = sync_wanted_.load(std::memory_order_acquire);
    if (wanted != sync_done_.load(std::memory_order_relaxed)) {
      drain();  // everything handed over before sync() was called
      for (auto& e : exporters_) e->flush();
      publish();
      sync_done_.store(wanted, std::memory_order_release);
      sync_done_.notify_all();
    }
    if (finishing_.load(std::memory_order_acquire) && channels_done_ == channels_.size()) break;
    if (!took) bell_.wait(seen, kIdleWakeMs);
  }
  for (auto& e : exporters_) e->close();
  log_events();
  publish();
  // A sync() that came during the close is answered too.
  sync_done_.store(UINT64_MAX, std::memory_order_release);
  sync_done_.notify_all();
}

ExportSnapshot ExportThread::sync() {
  std::lock_guard guard(sync_mutex_);
  const std::uint64_t want = sync_wanted_.load(std::memory_order_relaxed) + 1;
  sync_wanted_.store(want, std::memory_order_release);
  bell_.ring();
  for (std::uint64_t done = sync_done_.load(std::memory_order_acquire); done < want;
       done = sync_done_.load(std::memory_order_acquire)) {
    sync_done_.wait(done, std::memory_order_acquire);
  }
  return snapshot();
}

void ExportThread::finish() {
  if (!thread_.joinable()) return;
  finishing_.store(true, std::memory_order_release);
  bell_.ring();
  thread_.join();
}

ExportSnapshot ExportThread::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

}  // namespace tapflow::probe::runtime
