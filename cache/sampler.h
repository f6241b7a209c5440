// Packet sampling in front of the cache, as routers do it. Exactly one packet in every window of
// `interval` consecutive packets is selected:
//   deterministic: the first packet of each window (systematic count-based, RFC 5475 §6.1);
//   random:        one packet at a uniformly random position in each window (random
//                  n-out-of-N with n = 1, RFC 5475 §6.2.1).
// So either way the selected count is the offered count divided by the interval, give or take
// one window. One branch and an increment per packet; never allocates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tapflow::cache {

enum class SamplingMode : std::uint8_t { kNone, kDeterministic, kRandom };

struct SamplingConfig {
  SamplingMode mode = SamplingMode::kNone;
  std::uint32_t interval = 1;  // 1 in `interval`; 1 = every packet
};

// Parses "N", "deterministic:N" or "random:N" (N >= 1). "1" means no sampling.
// Returns std::nullopt with `error` set when the text is not one of those.
std::optional<SamplingConfig> parse_sampling(std::string_view text, std::string& error);
std::string to_string(const SamplingConfig& config);

class PacketSampler {
 public:
  explicit PacketSampler(SamplingConfig config = {}, std::uint64_t seed = 0)
      : interval_(config.mode == SamplingMode::kNone ? 1 : config.interval),
        random_(config.mode == SamplingMode::kRandom),
        state_(seed) {
    if (random_) pick_ = next_pick();
  }

  // True if this packet is kept. Call once per offered packet, in order.
  bool select() {
    if (interval_ <= 1) return true;
    const bool hit = position_ == pick_;
    if (++position_ == interval_) {
      position_ = 0;
      if (random_) pick_ = next_pick();
    }
    return hit;
  }

  std::uint32_t interval() const { return interval_; }

 private:
  // splitmix64: fast, good enough to place one sample per window, and reproducible for a seed.
  std::uint64_t next_random() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint32_t next_pick() {
    // Lemire's multiply-shift: uniform in [0, interval) up to a negligible bias.
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint32_t>((static_cast<u128>(next_random()) * interval_) >> 64);
  }

  std::uint32_t interval_;
  bool random_;
  std::uint64_t state_;
  std::uint32_t position_ = 0;
  std::uint32_t pick_ = 0;
};

}  // namespace tapflow::cache
