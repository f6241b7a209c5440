// Durations on the command line and in the configuration file: plain seconds (`90`) or numbers
// with units, largest first (`90s`, `15m`, `1h30m`, `2d`), as softflowd's `-t` takes them.
// Pure parsing, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tapflow::probe {

// The message for a malformed duration, shared by every option that takes one.
inline constexpr std::string_view kDurationFormat = "expected seconds or a duration like 90s, 15m, 1h30m";

// Seconds in `text`, or nullopt when it is not a duration (empty, a unit without a number, a unit
// repeated or out of order, a sign, a fraction, or more than 2^32-1 seconds).
std::optional<std::uint32_t> parse_duration(std::string_view text);

}  // namespace tapflow::probe
