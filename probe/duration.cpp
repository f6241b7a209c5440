// Hand-written: neither CLI11 (its AsNumberWithUnit takes one unit, no "1h30m") nor any C++
// library Debian 12 packages parses Go/systemd-style durations; this is thirty lines.
#include "probe/duration.h"

namespace tapflow::probe {

std::optional<std::uint32_t> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  struct Unit {
    char name;
    std::uint64_t seconds;
  };
  static constexpr Unit kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
  std::uint64_t total = 0;
  std::size_t next_unit = 0;  // units come largest first, each at most once
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint64_t number = 0;
    const std::size_t digits_start = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      number = number * 10 + static_cast<unsigned>(text[i] - '0');
      if (number > UINT32_MAX) return std::nullopt;
    }
    if (i == digits_start) return std::nullopt;  // a unit with no number, or a stray character
    if (i == text.size()) {
      if (digits_start != 0) return std::nullopt;  // "1m30": the unit of the last number is missing
      total = number;                              // plain seconds
      break;
    }
    std::size_t u = next_unit;
    while (u < std::size(kUnits) && kUnits[u].name != text[i]) ++u;
    if (u == std::size(kUnits)) return std::nullopt;  // unknown, repeated or out of order
    total += number * kUnits[u].seconds;
    if (total > UINT32_MAX) return std::nullopt;
    next_unit = u + 1;
    ++i;
  }
  return static_cast<std::uint32_t>(total);
}

}  // namespace tapflow::probe
