// --biflow in front of a NetFlow v5 or v9 destination: those formats have no reverse elements
// (RFC 5103 is IPFIX's), so each biflow goes out as its two uniflows, the forward one and, when
// the responder answered, the reverse one (source and destination swapped, the reverse
// counters, flags, TTLs and times). Packets and octets are conserved; records are not (a
// connection that was one IPFIX record is two v9 records).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "cache/flow_record.h"
#include "exporter/forwarding_exporter.h"

namespace tapflow::exporter {

// The forward half of `biflow` (its reverse counters cleared) in `forward`; returns true and its
// reverse half in `reverse` when the reverse direction saw packets.
bool split_biflow(const cache::FlowRecord& biflow, cache::FlowRecord& forward, cache::FlowRecord& reverse);

class UniflowExporter final : public ForwardingExporter {
 public:
  explicit UniflowExporter(std::unique_ptr<FlowExporter> inner) : ForwardingExporter(std::move(inner)) {}
  void export_records(std::span<const cache::FlowRecord> records) override;

 private:
  std::vector<cache::FlowRecord> scratch_;  // grows to twice the largest batch once, then reused
};

}  // namespace tapflow::exporter
