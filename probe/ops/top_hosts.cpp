#include "probe/ops/top_hosts.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "cache/flow_text.h"

namespace tapflow::probe {

std::vector<HostTotal> rank_hosts(const std::vector<cache::FlowRecord>& flows, std::size_t n, bool by_packets) {
  // Keyed by version and raw address: formatting happens once per host, not per flow.
  std::map<std::pair<std::uint8_t, std::array<std::uint8_t, 16>>, HostTotal> hosts;
  for (const auto& f : flows) {
    for (const auto* address : {&f.key.source_address, &f.key.destination_address}) {
      HostTotal& h = hosts[{f.key.ip_version, *address}];
      h.octets += f.octets;
      h.packets += f.packets;
      ++h.flows;
    }
  }
  std::vector<HostTotal> ranked;
  ranked.reserve(hosts.size());
  for (auto& [key, total] : hosts) {
    total.address = cache::format_address(key.second, key.first == 6);
    ranked.push_back(std::move(total));
  }
  const auto more = [by_packets](const HostTotal& a, const HostTotal& b) {
    const auto va = by_packets ? a.packets : a.octets;
    const auto vb = by_packets ? b.packets : b.octets;
    return va != vb ? va > vb : a.address < b.address;
  };
  const std::size_t keep = std::min(n, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(), more);
  ranked.resize(keep);
  return ranked;
}

}  // namespace tapflow::probe
