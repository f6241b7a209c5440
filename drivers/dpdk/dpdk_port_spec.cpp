// The command line's words for DPDK ports; no DPDK here, so a build without it parses the same.
#include <charconv>
#include <sstream>

#include "drivers/dpdk/dpdk_driver.h"

namespace tapflow::drivers {

namespace {
constexpr std::string_view kPrefix = "dpdk:";

// "IDX:" in front of the prefix (as "7:eth0" for libpcap), or nothing.
std::size_t prefix_at(const std::string& spec) {
  if (spec.starts_with(kPrefix)) return 0;
  const auto colon = spec.find(':');
  if (colon == std::string::npos || colon == 0 || spec.find_first_not_of("0123456789") != colon) {
    return std::string::npos;
  }
  return std::string_view(spec).substr(colon + 1).starts_with(kPrefix) ? colon + 1 : std::string::npos;
}

bool parse_number(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}
}  // namespace

bool is_dpdk_interface(const std::string& spec) { return prefix_at(spec) != std::string::npos; }

DpdkPort parse_dpdk_port(const std::string& spec) {
  const std::size_t at = prefix_at(spec);
  if (at == std::string::npos) throw std::invalid_argument("'" + spec + "' is not a DPDK port (dpdk:PORT)");
  DpdkPort port;
  std::uint64_t value = 0;
  if (at != 0) {
    if (!parse_number(std::string_view(spec).substr(0, at - 1), 0xffffffffu, value)) {
      throw std::invalid_argument("'" + spec + "': the ifIndex before dpdk: is not a 32-bit number");
    }
    port.if_index = static_cast<std::uint32_t>(value);
  }
  if (!parse_number(std::string_view(spec).substr(at + kPrefix.size()), 0xffff, value)) {
    throw std::invalid_argument("'" + spec + "': expected dpdk:PORT with PORT a DPDK port id (0-65535)");
  }
  port.port_id = static_cast<std::uint16_t>(value);
  return port;
}

std::vector<std::string> split_eal_arguments(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream words(text);
  for (std::string w; words >> w;) out.push_back(w);
  return out;
}

}  // namespace tapflow::drivers
