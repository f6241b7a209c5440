// The base of record stages in front of one destination (--anonymize, --prefixes): everything but
// export_records goes to the wrapped exporter unchanged.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "exporter/exporter.h"

namespace tapflow::exporter {

class ForwardingExporter : public FlowExporter {
 public:
  explicit ForwardingExporter(std::unique_ptr<FlowExporter> inner) : inner_(std::move(inner)) {}

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

 protected:
  FlowExporter& inner() { return *inner_; }

 private:
  std::unique_ptr<FlowExporter> inner_;
};

}  // namespace tapflow::exporter
