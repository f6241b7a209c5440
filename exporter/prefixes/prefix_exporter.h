// The record stage of --prefixes in front of one destination: each record's source and destination
// get the AS number (origin, or peer with --prefix-as peer) and prefix length of their longest
// matching prefix, before any anonymisation. SIGHUP (reopen) reloads the file when it changed.
#pragma once

#include <memory>
#include <vector>

#include "exporter/forwarding_exporter.h"
#include "exporter/prefixes/prefix_table.h"

namespace tapflow::exporter {

// Fills the routing fields of one record from the table.
void apply_prefixes(const PrefixTable& table, bool peer_as, cache::FlowRecord& r);

class PrefixExporter final : public ForwardingExporter {
 public:
  PrefixExporter(std::shared_ptr<PrefixSource> source, std::unique_ptr<FlowExporter> inner);

  void export_records(std::span<const cache::FlowRecord> records) override;
  void reopen() override;
  bool has_events() const override { return !events_.empty() || ForwardingExporter::has_events(); }
  void take_events(std::vector<TransportEvent>& out) override;

 private:
  std::shared_ptr<PrefixSource> source_;
  std::vector<cache::FlowRecord> scratch_;  // grows to the largest batch once, then reused
  std::vector<TransportEvent> events_;
};

}  // namespace tapflow::exporter
