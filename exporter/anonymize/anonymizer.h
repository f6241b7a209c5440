// The record stage of --anonymize in front of one destination (anonymize_spec.h says what it does).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/flow_record.h"
#include "exporter/anonymize/anonymize_spec.h"
#include "exporter/exporter.h"

namespace tapflow::exporter {

// Wraps a destination: its records go through anonymize() first (copied; the caller's stay).
class AnonymizingExporter final : public FlowExporter {
 public:
  AnonymizingExporter(AnonymizeSpec spec, std::unique_ptr<FlowExporter> inner);

  void export_records(std::span<const cache::FlowRecord> records) override;
  void flush() override { inner_->flush(); }
  const ExportCounters& counters() const override { return inner_->counters(); }
  const std::string& destination() const override { return inner_->destination(); }
  void set_system_start(std::uint64_t ns) override { inner_->set_system_start(ns); }
  void close() override { inner_->close(); }
  void reopen() override { inner_->reopen(); }
  void set_rate(const ExportRate& rate) override { inner_->set_rate(rate); }
  ExportRate rate() const override { return inner_->rate(); }
  void force_templates() override { inner_->force_templates(); }
  bool has_events() const override { return inner_->has_events(); }
  void take_events(std::vector<TransportEvent>& out) override { inner_->take_events(out); }

 private:
  AnonymizeSpec spec_;
  std::unique_ptr<FlowExporter> inner_;
  std::vector<cache::FlowRecord> scratch_;  // grows to the largest batch once, then reused
};

}  // namespace tapflow::exporter
