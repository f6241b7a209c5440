// The request language of the control socket ("stats", "flows 20", "top 10 bytes", "expire";
// "--json" anywhere asks for JSON), parsed once for both ends: `tapflow ctl` refuses a malformed
// request before connecting (exit 2, with the usage line), the server answers it with an error.
// Pure parsing, no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tapflow::probe {

inline constexpr std::string_view kControlUsage =
    "stats | flows [N] | top [N] [bytes|packets|flows | hosts [bytes|packets]] | expire  (add --json)";

struct ControlRequest {
  enum class Command : unsigned char { kStats, kFlows, kTop, kExpire };
  // What `top` ranks: flows by their bytes or packets, sources by their active flows, or hosts
  // (either end) by the bytes or packets of their flows.
  enum class Rank : unsigned char { kBytes, kPackets, kFlows, kHosts };
  Command command = Command::kStats;
  std::size_t count = 0;  // flows N (default 20), top N (default 10); at least 1
  Rank rank = Rank::kBytes;
  bool hosts_by_packets = false;  // top N hosts packets
  bool json = false;
};

// nullopt with `error` set ("'flows -1': N is a whole number from 1", "'stats' takes no
// argument, got 'extra'") when `line` is not a request.
std::optional<ControlRequest> parse_control_request(std::string_view line, std::string& error);

}  // namespace tapflow::probe
