// `ctl top N hosts`: the hosts that move the most traffic, as Cisco's top talkers rank them. Each
// active flow counts for both its ends (a host is ranked by what it sent and received together).
// Pure: works on a snapshot of the active flows, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cache/flow_record.h"

namespace tapflow::probe {

struct HostTotal {
  std::string address;
  std::uint64_t octets = 0;
  std::uint64_t packets = 0;
  std::uint64_t flows = 0;  // active flows with this host at either end
};

// The `n` hosts with the most octets (or packets), ties broken by address so the order is stable.
std::vector<HostTotal> rank_hosts(const std::vector<cache::FlowRecord>& flows, std::size_t n, bool by_packets);

}  // namespace tapflow::probe
