// Paced export over UDP: a token bucket in messages or bytes per second. A collector reading a
// UDP socket with the default 208 KiB buffer holds about a hundred export datagrams; sent faster
// than it reads, the rest is dropped by its kernel with nothing to tell the exporter. The pacer
// keeps the rate at what it can take, with bursts of at most 10 ms worth of it (never above half a
// default socket buffer), sleeping on the export thread: file input then waits for the exporter
// (nothing is dropped), live input fills the bounded record queues, whose overflow is counted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tapflow::exporter {

struct ExportRate {
  enum class Unit : std::uint8_t { kUnlimited, kMessages, kBytes };
  Unit unit = Unit::kUnlimited;
  double per_second = 0;

  bool limited() const { return unit != Unit::kUnlimited; }
  std::string to_string() const;  // "2000 messages/s", "12.5 MB/s", "unlimited"
};

// The default: what nfcapd and nfacctd with default socket buffers on the same host keep up with
// while tapflow converts a file at full speed on the other core (measured: bench/README.md).
inline constexpr ExportRate kDefaultExportRate{ExportRate::Unit::kMessages, 2000};

// "2000", "2000/s", "5k", "2000msg/s" (messages per second); "10MB/s", "800kB/s", "100Mbit/s",
// "1Gbps" (bytes or bits per second, 1000-based prefixes); "0", "none" or "unlimited": no pacing.
// nullopt with `error` set for anything else.
std::optional<ExportRate> parse_export_rate(std::string_view text, std::string& error);

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Pacer(ExportRate rate = {});

  // Waits until a message of `bytes` may go, then takes its tokens.
  void wait(std::size_t bytes);
  void set_rate(ExportRate rate);
  const ExportRate& rate() const { return rate_; }
  // Time the messages so far spent waiting for tokens (for statistics and tests).
  std::chrono::nanoseconds waited() const { return waited_; }

 private:
  ExportRate rate_;
  double capacity_ = 0;  // tokens: messages or bytes
  double tokens_ = 0;
  Clock::time_point last_{};
  std::chrono::nanoseconds waited_{0};
};

}  // namespace tapflow::exporter
