#include "probe/pipeline.h"

#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <chrono>
#include <random>
#include <thread>
#include <algorithm>

#include "cache/flow_table.h"
#include "cache/log.h"
#include "drivers/pcap_file_reader.h"
#include "drivers/pcap_live_reader.h"
#include "cache/flow_hash.h"
#include "probe/cache_warnings.h"
#include "probe/decoder.h"
#include "probe/shard.h"

namespace tapflow::probe {

namespace {
// Expired records are handed to the sinks in chunks of this size, so the record buffer never
// grows past its initial reservation.
constexpr std::size_t kExpireChunk = 4096;
// Files: the exporters' system start (v5/v9 sysUpTime zero) this long before the first packet.
constexpr std::uint64_t kSystemStartLeadNs = 1'000'000'000ull;
// Live capture: export messages are sent at least this often, full or not.
constexpr std::uint64_t kLiveFlushIntervalNs = 1'000'000'000ull;

std::uint64_t seconds_to_ns(std::uint32_t s) { return static_cast<std::uint64_t>(s) * 1'000'000'000ull; }

// Wall clock for live capture, read once per batch; the coarse clock costs no syscall.
std::uint64_t coarse_wall_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO) == 1) {}
  void update(const drivers::PcapFileReader& reader, std::uint64_t packets) {
    if (!enabled_ || ++calls_ % 64 != 0) return;  // the clock is read once per 64 batches
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double fraction =
        reader.file_size() ? static_cast<double>(reader.position()) / static_cast<double>(reader.file_size()) : 0;
    const int width = 30;
    const int filled = static_cast<int>(fraction * width);
    fmt::print(stderr, "\r{} [{}{}] {:3.0f}% {} packets", reader.path(), std::string(static_cast<std::size_t>(filled), '='),
               std::string(static_cast<std::size_t>(width - filled), ' '), fraction * 100, packets);
    shown_ = true;
  }
  void finish() {
    if (shown_) fmt::print(stderr, "\r\033[K");
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::uint64_t calls_ = 0;
  std::chrono::steady_clock::time_point last_{};
};
}  // namespace

class Pipeline::Impl {
 public:
  Impl(const ProbeOptions& options, std::vector<std::unique_ptr<exporter::FlowExporter>> exporters,
       FlowPrinter* printer, ProbeStats& stats, std::atomic<std::uint64_t>* packet_clock)
      : options_(options),
        exporters_(std::move(exporters)),
        printer_(printer),
        stats_(stats),
        packet_clock_(packet_clock) {
    // --threads counts the data path's threads: 1 runs everything inline; N > 1 is one reader
    // (capture, decode, dispatch, export) plus N - 1 cache shards, each a worker thread.
    const unsigned threads = thread_count(options.threads);
    const unsigned shards = threads == 1 ? 1 : threads - 1;
    const std::uint64_t seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
    shard_seed_ = seed * 0x9e3779b97f4a7c15ull + 1;
    cache::FlowTableConfig config{
        .capacity = std::max<std::size_t>(1, options.cache_size / shards),
        .inactive_timeout_ns = seconds_to_ns(options.inactive_timeout_s),
        .active_timeout_ns = seconds_to_ns(options.active_timeout_s),
        .hash_seed = seed,
        .packet_weight = options.scale_sampled && options.sampling.mode != cache::SamplingMode::kNone
                             ? options.sampling.interval
                             : 1u};
    sampler_ = cache::PacketSampler(options.sampling, seed ^ 0x5851f42d4c957f2dull);
    stats_.sampling = options.sampling;
    stats_.scale_sampled = options.scale_sampled;
    if (threads == 1) {
      table_ = std::make_unique<cache::FlowTable>(config);
      expired_.reserve(kExpireChunk + 2 * kPacketBatchSize);  // two records per packet at most, then a chunk
    } else {
      for (unsigned i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>(config));
      pending_.assign(shards, nullptr);
      for (unsigned i = 0; i < shards_.size(); ++i) shards_[i]->start(i);
    }
    stats_.cache_capacity = config.capacity * shards;
    stats_.shards = shards;
  }

  ~Impl() {
    if (!shards_.empty() && !finished_) finish();
  }

  int run_files() {
    const auto started = std::chrono::steady_clock::now();
    set_running(true);
    int status = 0;
    for (const auto& path : options_.read_files) {
      if (!read_file(path)) status = 1;
    }
    serve_request();
    set_running(false);
    finish();
    stats_.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    collect_stats();
    return status;
  }

  static unsigned thread_count(unsigned requested) {
    if (requested != 0) return requested;
    return std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  }

  int run_live(const std::atomic<bool>& stop) {
    const auto started = std::chrono::steady_clock::now();
    drivers::LiveCaptureOptions capture;
    for (const auto& spec : options_.interfaces) capture.interfaces.push_back(drivers::parse_interface(spec));
    capture.filter = options_.filter;
    capture.snaplen = options_.snaplen;
    capture.promiscuous = options_.promiscuous;
    capture.buffer_size = options_.buffer_size_mb << 20;
    capture.immediate = options_.immediate;
    live_ = std::make_unique<drivers::PcapLiveReader>(capture);
    if (on_capture_open_) on_capture_open_();
    set_running(true);
    int status = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      std::size_t decoded = 0;
      const int n = live_->read_batch(kPacketBatchSize, 100, [&](const drivers::Frame& frame, std::uint32_t if_index) {
        decode_one(frame, if_index, decoded);
      });
      if (live_->has_events()) {
        for (const auto& event : live_->take_events()) {
          if (event.state == drivers::InterfaceState::kCapturing) {
            log::notice("{}", event.message);
          } else {
            log::warning("{}", event.message);
          }
        }
      }
      if (n < 0) {
        // No interface left: every flow is still exported below, then the exit status says so.
        log::error("{}; exporting every flow and exiting", live_->error());
        status = 1;
        break;
      }
      stats_.packets_read += static_cast<std::uint64_t>(n);
      // Live flows expire on the wall clock, also when no packet arrives.
      clock_ns_ = std::max(clock_ns_, coarse_wall_clock_ns());
      dispatch(decoded);
      serve_request();
      // A partly filled export message waits at most a second: on a quiet link records must
      // not sit in the exporter until the message fills.
      if (clock_ns_ - last_flush_ns_ >= kLiveFlushIntervalNs) {
        last_flush_ns_ = clock_ns_;
        for (auto& e : exporters_) e->flush();
      }
    }
    set_running(false);
    finish();
    stats_.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    collect_stats();
    return status;
  }

  std::function<void()> on_capture_open_;

 private:
  void decode_one(const drivers::Frame& frame, std::uint32_t if_index, std::size_t& decoded) {
    stats_.bytes_read += frame.data.size();
    cache::PacketSummary& summary = batch_[decoded];
    const DecodeVerdict verdict = decode_packet(frame.link_type, frame.data, frame.wire_length,
                                                frame.timestamp_ns, if_index, summary);
    ++stats_.verdicts[static_cast<std::size_t>(verdict)];
    if (verdict != DecodeVerdict::kOk) stats_.octets_rejected += frame.wire_length;
    if (verdict == DecodeVerdict::kOk) {
      if (first_packet_ns_ == 0) first_packet_ns_ = summary.timestamp_ns;
      stats_.octets_decoded += summary.octets;
      stats_.profile.count_packet(summary.octets, summary.timestamp_ns);
      // The file's clock is the packets' own time, never going backwards.
      clock_ns_ = std::max(clock_ns_, summary.timestamp_ns);
      // Sampling happens after decoding (rejected packets are counted by reason either way)
      // and before the cache, in the one reader thread so every --threads gives the same flows.
      if (!sampler_.select()) {
        ++stats_.packets_sampled_out;
        stats_.octets_sampled_out += summary.octets;
        return;
      }
      ++decoded;
    }
  }

  bool read_file(const std::string& path) {
    std::unique_ptr<drivers::PcapFileReader> reader;
    try {
      reader = std::make_unique<drivers::PcapFileReader>(path);
    } catch (const std::exception& e) {
      log::error("{}", e.what());
      ++stats_.file_errors;
      return false;
    }
    ++stats_.files_read;
    ProgressBar progress(options_.progress);
    for (;;) {
      std::size_t decoded = 0;
      const std::size_t n = reader->read_batch(kPacketBatchSize, [&](const drivers::Frame& frame) {
        decode_one(frame, 0, decoded);
      });
      if (n == 0) break;
      stats_.packets_read += n;
      dispatch(decoded);
      serve_request();
      progress.update(*reader, stats_.packets_read);
    }
    progress.finish();
    if (!reader->error().empty()) {
      log::error("cannot read '{}' past packet {}: {}", path, reader->frames_read(), reader->error());
      ++stats_.file_errors;
      return false;
    }
    return true;
  }

  // Accounts batch_[0, count) in the flow tables and expires what timed out by clock_ns_.
  void dispatch(std::size_t count) {
    before_export();
    if (table_) {
      table_->update_batch(std::span(batch_).first(count), expired_);
      warn_if_cache_full(*table_);
      while (table_->expire(clock_ns_, expired_, kExpireChunk) != 0 && expired_.size() >= kExpireChunk) {
        export_records(expired_);
        expired_.clear();
      }
      export_records(expired_);
      expired_.clear();
      return;
    }
    const auto shards = static_cast<std::uint64_t>(shards_.size());
    for (std::size_t i = 0; i < count; ++i) {
      // Both directions of a connection go to the same shard: the symmetric hash scaled to the
      // shard count by a multiply (no division per packet), skipped when there is one shard.
      __extension__ using U128 = unsigned __int128;
      const std::size_t s =
          shards == 1 ? 0
                      : static_cast<std::size_t>(
                            (static_cast<U128>(cache::symmetric_hash(batch_[i].key, shard_seed_)) * shards) >> 64);
      PacketBatch*& batch = pending_[s];
      if (batch == nullptr) batch = acquire(s);
      batch->packets[batch->count++] = batch_[i];
      if (batch->count == kPacketBatchSize) submit(s);
    }
    // Now and then every shard gets the clock, even one that no packet went to, so its flows
    // still expire on time.
    const bool tick = ++rounds_ % 64 == 0;
    for (std::size_t s = 0; s < pending_.size(); ++s) {
      if (pending_[s] == nullptr && tick) pending_[s] = acquire(s);
      if (pending_[s] != nullptr) submit(s);
    }
    drain_shards();
  }

  PacketBatch* acquire(std::size_t s) {
    Backoff backoff;
    for (;;) {
      if (PacketBatch* batch = shards_[s]->acquire_batch()) return batch;
      // All batches in flight: the worker may be waiting for us to take its records.
      if (drain_shards() == 0) backoff.wait();
    }
  }

  void submit(std::size_t s) {
    pending_[s]->clock_ns = clock_ns_;
    shards_[s]->submit(pending_[s]);
    pending_[s] = nullptr;
  }

  std::size_t drain_shards() {
    std::size_t n = 0;
    for (auto& shard : shards_) {
      n += shard->drain_records([this](std::span<const cache::FlowRecord> records) { export_records(records); });
    }
    return n;
  }

 public:
  struct PendingRequest {
    bool expire_all = false;
    std::size_t flow_limit = 0;
    Pipeline::Snapshot* out = nullptr;
    std::promise<void> answered;
  };

  // Called by the control thread: hands the request to the data path and waits for the answer.
  bool request(bool expire_all, std::size_t flow_limit, Pipeline::Snapshot& out) {
    PendingRequest r{expire_all, flow_limit, &out, {}};
    auto answered = r.answered.get_future();
    {
      std::lock_guard lock(request_mutex_);
      if (!running_) return false;
      request_ = &r;
      request_posted_.store(true, std::memory_order_release);
    }
    answered.wait();
    return true;
  }

 private:
  // Called by the data path once per batch: one relaxed load unless a request is waiting.
  void serve_request() {
    if (!request_posted_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(request_mutex_);
    PendingRequest* r = request_;
    request_ = nullptr;
    request_posted_.store(false, std::memory_order_relaxed);
    if (r == nullptr) return;
    std::vector<cache::FlowTableCounters> counters;
    std::size_t active = 0;
    r->out->flows.clear();
    if (table_) {
      if (r->expire_all) {
        while (table_->expire_all(cache::FlowEndReason::kForcedEnd, expired_, kExpireChunk) != 0) {
          export_records(expired_);
          expired_.clear();
        }
      }
      table_->for_each_active([r](const cache::FlowRecord& f) { r->out->flows.push_back(f); }, r->flow_limit);
      counters.push_back(table_->counters());
      active = table_->size();
    } else {
      std::vector<std::unique_ptr<ShardRequest>> asks;
      for (std::size_t s = 0; s < shards_.size(); ++s) {
        asks.push_back(std::make_unique<ShardRequest>());
        asks.back()->expire_all = r->expire_all;
        asks.back()->flow_limit = r->flow_limit;
        if (pending_[s] == nullptr) pending_[s] = acquire(s);
        pending_[s]->command = PacketBatch::Command::kRequest;
        pending_[s]->request = asks.back().get();
        submit(s);
      }
      Backoff backoff;
      for (auto& ask : asks) {
        while (!ask->done.load(std::memory_order_acquire)) {
          if (drain_shards() == 0) backoff.wait();
        }
      }
      drain_shards();
      for (auto& ask : asks) {
        counters.push_back(ask->counters);
        active += ask->active;
        r->out->flows.insert(r->out->flows.end(), ask->flows.begin(), ask->flows.end());
      }
      // Most recently updated first across shards, as each shard answered.
      std::sort(r->out->flows.begin(), r->out->flows.end(),
                [](const auto& a, const auto& b) { return a.last_ns > b.last_ns; });
      if (r->out->flows.size() > r->flow_limit) r->out->flows.resize(r->flow_limit);
    }
    for (auto& e : exporters_) e->flush();
    collect_stats(counters, active);
    r->out->stats = stats_;
    r->out->stats.elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    r->answered.set_value();
  }

  void set_running(bool running) {
    std::lock_guard lock(request_mutex_);
    running_ = running;
    if (!running && request_ != nullptr) {
      // Answer a request that arrived too late with the final statistics.
      request_->out->stats = stats_;
      request_->answered.set_value();
      request_ = nullptr;
      request_posted_.store(false);
    }
  }

  // End of input: every flow still in the cache is exported with reason forced end.
  void finish() {
    finished_ = true;
    if (table_) {
      while (table_->expire_all(cache::FlowEndReason::kForcedEnd, expired_, kExpireChunk) != 0) {
        export_records(expired_);
        expired_.clear();
      }
    } else {
      for (std::size_t s = 0; s < shards_.size(); ++s) {
        PacketBatch* batch = pending_[s] != nullptr ? pending_[s] : acquire(s);
        pending_[s] = batch;
        batch->command = PacketBatch::Command::kEndOfInput;
        submit(s);
      }
      Backoff backoff;
      for (;;) {
        const bool all_finished = std::all_of(shards_.begin(), shards_.end(),
                                              [](const auto& shard) { return shard->finished(); });
        if (drain_shards() == 0) {
          if (all_finished) break;
          backoff.wait();
        }
      }
      for (auto& shard : shards_) shard->join();
    }
    before_export();
    for (auto& e : exporters_) e->close();
  }

  // Runs on the exporting thread before a batch can expire records: the exporters' clock, their
  // system start (files: the first packet, so v5/v9 uptimes come out as the capture's times),
  // and a pending SIGHUP.
  void before_export() {
    if (packet_clock_ != nullptr) packet_clock_->store(clock_ns_, std::memory_order_relaxed);
    if (!system_start_set_ && first_packet_ns_ != 0 && !options_.read_files.empty()) {
      system_start_set_ = true;
      // One second before the first packet: an uptime of 0 reads as "no time" to some
      // collectors (nfdump shows 1970 for a LAST_SWITCHED of 0).
      const std::uint64_t start = first_packet_ns_ > kSystemStartLeadNs ? first_packet_ns_ - kSystemStartLeadNs : 0;
      for (auto& e : exporters_) e->set_system_start(start);
    }
    if (reopen_flag_ != nullptr && reopen_flag_->load(std::memory_order_relaxed) && reopen_flag_->exchange(false)) {
      log::notice("SIGHUP: reopening file outputs");
      for (auto& e : exporters_) e->reopen();
    }
  }

 public:
  exporter::ProbeTotals export_totals() const {
    exporter::ProbeTotals t;
    t.ignored_packets = stats_.packets_rejected();
    t.ignored_octets = stats_.octets_rejected;
    if (live_) {
      for (const auto& c : live_->counters()) t.ignored_packets += c.dropped_kernel + c.dropped_interface;
    }
    return t;
  }
  std::atomic<bool>* reopen_flag_ = nullptr;

 private:
  void export_records(std::span<const cache::FlowRecord> records) {
    if (records.empty()) return;
    for (const auto& r : records) stats_.profile.count_flow(r, clock_ns_);
    for (auto& e : exporters_) e->export_records(records);
    if (printer_ != nullptr) printer_->print(records);
  }

  // Final statistics, after the shards have stopped.
  void collect_stats() {
    std::vector<cache::FlowTableCounters> counters;
    std::size_t active = 0;
    if (table_) {
      counters.push_back(table_->counters());
      active = table_->size();
    }
    for (const auto& shard : shards_) {
      counters.push_back(shard->table().counters());
      active += shard->table().size();
    }
    collect_stats(counters, active);
  }

  void collect_stats(const std::vector<cache::FlowTableCounters>& counters, std::size_t active) {
    stats_.cache = {};
    for (const auto& c : counters) {
      stats_.cache.packets += c.packets;
      stats_.cache.octets += c.octets;
      stats_.cache.flows_created += c.flows_created;
      for (std::size_t r = 0; r < std::size(c.expired); ++r) stats_.cache.expired[r] += c.expired[r];
    }
    stats_.flows_active = active;
    stats_.records_printed = printer_ ? printer_->records_printed() : 0;
    stats_.capture.clear();
    if (live_) {
      for (const auto& c : live_->counters()) {
        stats_.capture.push_back({c.interface, c.received, c.dropped_kernel, c.dropped_interface, c.went_down,
                                  drivers::to_string(c.state)});
      }
    }
    stats_.exporters.clear();
    for (const auto& e : exporters_) stats_.exporters.push_back({e->destination(), e->counters()});
  }

  const ProbeOptions& options_;
  std::vector<std::unique_ptr<exporter::FlowExporter>> exporters_;
  FlowPrinter* printer_;
  ProbeStats& stats_;
  std::uint64_t clock_ns_ = 0;
  std::uint64_t first_packet_ns_ = 0;  // the first decoded packet's time
  bool system_start_set_ = false;
  std::uint64_t last_flush_ns_ = 0;
  std::atomic<std::uint64_t>* packet_clock_;
  std::uint64_t shard_seed_ = 0;
  std::uint64_t rounds_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex request_mutex_;
  std::atomic<bool> request_posted_{false};
  PendingRequest* request_ = nullptr;
  bool running_ = false;
  std::array<cache::PacketSummary, kPacketBatchSize> batch_;
  cache::PacketSampler sampler_;
  std::unique_ptr<drivers::PcapLiveReader> live_;
  // One thread: the table lives here. Several: one Shard (thread + table) each.
  std::unique_ptr<cache::FlowTable> table_;
  std::vector<cache::FlowRecord> expired_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<PacketBatch*> pending_;
};

Pipeline::Pipeline(const ProbeOptions& options,
                   std::vector<std::unique_ptr<exporter::FlowExporter>> exporters, FlowPrinter* printer,
                   std::atomic<std::uint64_t>* packet_clock)
    : impl_(std::make_unique<Impl>(options, std::move(exporters), printer, stats_, packet_clock)) {}

exporter::ProbeTotals Pipeline::export_totals() const { return impl_->export_totals(); }

void Pipeline::watch_reopen(std::atomic<bool>* flag) { impl_->reopen_flag_ = flag; }

Pipeline::~Pipeline() = default;

int Pipeline::run_files() { return impl_->run_files(); }

bool Pipeline::request(bool expire_all, std::size_t flow_limit, Snapshot& out) {
  return impl_->request(expire_all, flow_limit, out);
}

int Pipeline::run_live(const std::atomic<bool>& stop, std::function<void()> on_capture_open) {
  impl_->on_capture_open_ = std::move(on_capture_open);
  return impl_->run_live(stop);
}

}  // namespace tapflow::probe
