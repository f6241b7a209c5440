#include "exporter/transport/pacer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <thread>

namespace tapflow::exporter {

namespace {
// Bursts: 10 ms worth of the rate, at least one message, at most 100 KB (half of a default 208 KiB
// socket buffer, which also holds the kernel's per-datagram overhead).
constexpr double kBurstSeconds = 0.01;
constexpr double kMaxBurstBytes = 100'000;
constexpr double kMaxBurstMessages = 64;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

std::string ExportRate::to_string() const {
  switch (unit) {
    case Unit::kUnlimited: return "unlimited";
    case Unit::kMessages: return fmt::format("{:g} messages/s", per_second);
    case Unit::kBytes:
      return per_second >= 1e6 ? fmt::format("{:g} MB/s", per_second / 1e6) : fmt::format("{:g} kB/s", per_second / 1e3);
  }
  return "?";
}

std::optional<ExportRate> parse_export_rate(std::string_view text, std::string& error) {
  const std::string t = lower(text);
  if (t == "0" || t == "none" || t == "unlimited") return ExportRate{};
  double value = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  std::string_view rest(end, static_cast<std::size_t>(t.data() + t.size() - end));
  if (ec != std::errc() || !(value > 0)) {
    error = "expected a rate like 2000 (messages/s), 10MB/s or 100Mbit/s, or 0 for no pacing";
    return std::nullopt;
  }
  double scale = 1;
  const bool message_unit = rest.starts_with("msg") || rest.starts_with("messages");
  if (!rest.empty() && !message_unit && (rest[0] == 'k' || rest[0] == 'm' || rest[0] == 'g')) {
    scale = rest[0] == 'k' ? 1e3 : rest[0] == 'm' ? 1e6 : 1e9;
    rest.remove_prefix(1);
  }
  ExportRate rate;
  if (rest.empty() || rest == "/s" || rest == "msg/s" || rest == "msgs/s" || rest == "messages/s") {
    rate = {ExportRate::Unit::kMessages, value * scale};
  } else if (rest == "b/s" || rest == "bytes/s") {
    rate = {ExportRate::Unit::kBytes, value * scale};
  } else if (rest == "bit/s" || rest == "bps" || rest == "bits/s") {
    rate = {ExportRate::Unit::kBytes, value * scale / 8};
  } else {
    error = "unknown unit '" + std::string(rest) + "': expected messages/s (no unit), B/s or bit/s, e.g. 2000, 10MB/s, 100Mbit/s";
    return std::nullopt;
  }
  if (rate.per_second < 1) {
    error = "a rate below one per second would never send";
    return std::nullopt;
  }
  return rate;
}

Pacer::Pacer(ExportRate rate) { set_rate(rate); }

void Pacer::set_rate(ExportRate rate) {
  rate_ = rate;
  if (!rate.limited()) return;
  capacity_ = rate.unit == ExportRate::Unit::kMessages ? std::clamp(rate.per_second * kBurstSeconds, 1.0, kMaxBurstMessages)
                                                       : std::clamp(rate.per_second * kBurstSeconds, 1.0, kMaxBurstBytes);
  tokens_ = std::min(tokens_, capacity_);
  if (last_ == Clock::time_point{}) {
    tokens_ = capacity_;
    last_ = Clock::now();
  }
}

void Pacer::wait(std::size_t bytes) {
  if (!rate_.limited()) return;
  const double cost = rate_.unit == ExportRate::Unit::kMessages ? 1.0 : std::min(static_cast<double>(bytes), capacity_);
  for (;;) {
    const Clock::time_point now = Clock::now();
    tokens_ = std::min(capacity_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_.per_second);
    last_ = now;
    if (tokens_ >= cost) {
      tokens_ -= cost;
      return;
    }
    const auto need = std::chrono::duration<double>((cost - tokens_) / rate_.per_second);
    const auto sleep = std::chrono::duration_cast<std::chrono::nanoseconds>(need) + std::chrono::microseconds(1);
    std::this_thread::sleep_for(sleep);
    waited_ += sleep;
  }
}

}  // namespace tapflow::exporter
