#include "exporter/prefixes/prefix_exporter.h"

namespace tapflow::exporter {

void apply_prefixes(const PrefixTable& table, bool peer_as, cache::FlowRecord& r) {
  const bool ipv6 = r.key.is_ipv6();
  const auto lookup = [&](const std::array<std::uint8_t, 16>& a) {
    return ipv6 ? table.lookup_ipv6(a.data()) : table.lookup_ipv4(a.data());
  };
  const PrefixMatch source = lookup(r.key.source_address);
  const PrefixMatch destination = lookup(r.key.destination_address);
  r.source_as = peer_as ? source.peer_as : source.origin_as;
  r.destination_as = peer_as ? destination.peer_as : destination.origin_as;
  r.source_prefix_length = source.length;
  r.destination_prefix_length = destination.length;
}

PrefixExporter::PrefixExporter(std::shared_ptr<PrefixSource> source, std::unique_ptr<FlowExporter> inner)
    : ForwardingExporter(std::move(inner)), source_(std::move(source)) {}

void PrefixExporter::export_records(std::span<const cache::FlowRecord> records) {
  scratch_.assign(records.begin(), records.end());
  const PrefixTable& table = source_->table();
  for (auto& r : scratch_) apply_prefixes(table, source_->peer_as(), r);
  inner().export_records(scratch_);
}

void PrefixExporter::reopen() {
  if (auto event = source_->reload()) events_.push_back(std::move(*event));
  ForwardingExporter::reopen();
}

void PrefixExporter::take_events(std::vector<TransportEvent>& out) {
  for (auto& e : events_) out.push_back(std::move(e));
  events_.clear();
  ForwardingExporter::take_events(out);
}

}  // namespace tapflow::exporter
