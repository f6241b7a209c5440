#include "cache/sampler.h"

#include <charconv>

namespace tapflow::cache {

std::optional<SamplingConfig> parse_sampling(std::string_view text, std::string& error) {
  SamplingConfig config{SamplingMode::kDeterministic, 1};
  std::string_view number = text;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    const std::string_view mode = text.substr(0, colon);
    number = text.substr(colon + 1);
    if (mode == "random") {
      config.mode = SamplingMode::kRandom;
    } else if (mode != "deterministic") {
      error = "unknown sampling mode '" + std::string(mode) + "' (expected N, deterministic:N or random:N)";
      return std::nullopt;
    }
  }
  std::uint32_t interval = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), interval);
  if (ec != std::errc{} || end != number.data() + number.size() || interval == 0) {
    error = "bad sampling interval '" + std::string(number) + "' (expected a whole number from 1 to 4294967295)";
    return std::nullopt;
  }
  config.interval = interval;
  if (interval == 1) config.mode = SamplingMode::kNone;
  return config;
}

std::string to_string(const SamplingConfig& config) {
  switch (config.mode) {
    case SamplingMode::kNone: return "none";
    case SamplingMode::kDeterministic: return "deterministic 1 in " + std::to_string(config.interval);
    case SamplingMode::kRandom: return "random 1 in " + std::to_string(config.interval);
  }
  return "unknown";
}

}  // namespace tapflow::cache
