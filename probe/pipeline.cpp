#include "probe/pipeline.h"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <random>

#include "cache/flow_table.h"
#include "drivers/pcap_file_reader.h"
#include "probe/decoder.h"

namespace tapflow::probe {

namespace {
constexpr std::size_t kBatchSize = 256;
// Expired records are handed to the sinks in chunks of this size, so the record buffer never
// grows past its initial reservation.
constexpr std::size_t kExpireChunk = 4096;

std::uint64_t seconds_to_ns(std::uint32_t s) { return static_cast<std::uint64_t>(s) * 1'000'000'000ull; }

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
       FlowPrinter* printer, ProbeStats& stats)
      : options_(options),
        exporters_(std::move(exporters)),
        printer_(printer),
        stats_(stats),
        table_(cache::FlowTableConfig{
            .capacity = options.cache_size,
            .inactive_timeout_ns = seconds_to_ns(options.inactive_timeout_s),
            .active_timeout_ns = seconds_to_ns(options.active_timeout_s),
            .hash_seed = std::random_device{}() * 0x9e3779b97f4a7c15ull ^ std::random_device{}()}) {
    expired_.reserve(kExpireChunk + kBatchSize);
    stats_.cache_capacity = options.cache_size;
  }

  int run_files() {
    const auto started = std::chrono::steady_clock::now();
    int status = 0;
    for (const auto& path : options_.read_files) {
      if (!read_file(path)) status = 1;
    }
    while (table_.expire_all(cache::FlowEndReason::kForcedEnd, expired_, kExpireChunk) != 0) drain();
    for (auto& e : exporters_) e->flush();
    stats_.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    collect_stats();
    return status;
  }

 private:
  bool read_file(const std::string& path) {
    std::unique_ptr<drivers::PcapFileReader> reader;
    try {
      reader = std::make_unique<drivers::PcapFileReader>(path);
    } catch (const std::exception& e) {
      fmt::print(stderr, "tapflow: {}\n", e.what());
      ++stats_.file_errors;
      return false;
    }
    ++stats_.files_read;
    ProgressBar progress(options_.progress);
    std::array<cache::PacketSummary, kBatchSize> batch;
    for (;;) {
      std::size_t decoded = 0;
      const std::size_t n = reader->read_batch(kBatchSize, [&](const drivers::Frame& frame) {
        stats_.bytes_read += frame.data.size();
        const DecodeVerdict verdict = decode_packet(frame.link_type, frame.data, frame.wire_length,
                                                    frame.timestamp_ns, 0, batch[decoded]);
        ++stats_.verdicts[static_cast<std::size_t>(verdict)];
        if (verdict == DecodeVerdict::kOk) stats_.octets_decoded += batch[decoded++].octets;
      });
      if (n == 0) break;
      stats_.packets_read += n;
      for (std::size_t i = 0; i < decoded; ++i) table_.update(batch[i], expired_);
      // The file's clock is the packets' own time: expire what timed out by the latest packet.
      while (table_.expire(table_.clock_ns(), expired_, kExpireChunk) != 0 &&
             expired_.size() >= kExpireChunk) {
        drain();
      }
      drain();
      progress.update(*reader, stats_.packets_read);
    }
    progress.finish();
    if (!reader->error().empty()) {
      fmt::print(stderr, "tapflow: error reading '{}' after {} packets: {}\n", path,
                 reader->frames_read(), reader->error());
      ++stats_.file_errors;
      return false;
    }
    return true;
  }

  void drain() {
    if (expired_.empty()) return;
    for (auto& e : exporters_) e->export_records(expired_);
    if (printer_ != nullptr) printer_->print(expired_);
    expired_.clear();
  }

  void collect_stats() {
    stats_.cache = table_.counters();
    stats_.flows_active = table_.size();
    stats_.records_printed = printer_ ? printer_->records_printed() : 0;
    stats_.exporters.clear();
    for (const auto& e : exporters_) stats_.exporters.push_back({e->destination(), e->counters()});
  }

  const ProbeOptions& options_;
  std::vector<std::unique_ptr<exporter::FlowExporter>> exporters_;
  FlowPrinter* printer_;
  ProbeStats& stats_;
  cache::FlowTable table_;
  std::vector<cache::FlowRecord> expired_;
};

Pipeline::Pipeline(const ProbeOptions& options,
                   std::vector<std::unique_ptr<exporter::FlowExporter>> exporters, FlowPrinter* printer)
    : impl_(std::make_unique<Impl>(options, std::move(exporters), printer, stats_)) {}

Pipeline::~Pipeline() = default;

int Pipeline::run_files() { return impl_->run_files(); }

}  // namespace tapflow::probe
