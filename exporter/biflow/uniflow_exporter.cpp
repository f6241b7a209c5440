#include "exporter/biflow/uniflow_exporter.h"

#include <algorithm>
#include <utility>

namespace tapflow::exporter {

bool split_biflow(const cache::FlowRecord& biflow, cache::FlowRecord& forward, cache::FlowRecord& reverse) {
  forward = biflow;
  forward.reverse = {};
  forward.biflow_direction = cache::BiflowDirection::kArbitrary;
  if (biflow.reverse.packets == 0) return false;
  reverse = forward;
  std::swap(reverse.key.source_address, reverse.key.destination_address);
  std::swap(reverse.key.source_port, reverse.key.destination_port);
  std::swap(reverse.extras.first.source_mac, reverse.extras.first.destination_mac);
  std::swap(reverse.source_as, reverse.destination_as);
  std::swap(reverse.source_prefix_length, reverse.destination_prefix_length);
  reverse.packets = biflow.reverse.packets;
  reverse.octets = biflow.reverse.octets;
  reverse.first_ns = biflow.reverse.first_ns;
  reverse.last_ns = biflow.reverse.last_ns;
  reverse.tcp_flags = biflow.reverse.tcp_flags;
  reverse.min_ttl = biflow.reverse.min_ttl;
  reverse.max_ttl = biflow.reverse.max_ttl;
  reverse.key.tos = biflow.reverse.tos;
  reverse.key.ingress_interface = biflow.reverse.ingress_interface;
  return true;
}

void UniflowExporter::export_records(std::span<const cache::FlowRecord> records) {
  scratch_.resize(std::max(scratch_.size(), 2 * records.size()));
  std::size_t n = 0;
  for (const auto& r : records) {
    cache::FlowRecord& forward = scratch_[n++];
    if (split_biflow(r, forward, scratch_[n])) ++n;
  }
  inner().export_records(std::span(scratch_).first(n));
}

}  // namespace tapflow::exporter
