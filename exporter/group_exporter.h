// One destination made of several collectors (-n failover:URL,URL... or balance:URL,URL...).
// Each member is a whole exporter of its own (its transport, templates and sequence numbers).
//
// failover: every record goes to the active member; when a send to it fails (a UDP collector's
// ICMP refusal, a TCP or SCTP connection that is down), the next member takes over, with the
// templates first. The failed message is counted lost in the member that failed, as any failed
// send; nothing else is lost. Members are tried in turn, wrapping around.
// balance: records go to the members in turn, one by one, so each collector gets 1/N of the
// flows with its own sequence numbers and templates; their counters add up.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "exporter/exporter.h"

namespace tapflow::exporter {

class GroupExporter final : public FlowExporter {
 public:
  enum class Mode : std::uint8_t { kFailover, kBalance };
  GroupExporter(Mode mode, std::vector<std::unique_ptr<FlowExporter>> members, std::string destination);

  void export_records(std::span<const cache::FlowRecord> records) override;
  void flush() override;
  const ExportCounters& counters() const override { return counters_; }
  const std::string& destination() const override { return destination_; }
  void set_system_start(std::uint64_t ns) override;
  void close() override;
  void reopen() override;
  void set_rate(const ExportRate& rate) override;
  ExportRate rate() const override { return members_.front()->rate(); }
  void force_templates() override;
  bool has_events() const override;
  void take_events(std::vector<TransportEvent>& out) override;

  std::size_t active() const { return active_; }
  const FlowExporter& member(std::size_t i) const { return *members_[i]; }

 private:
  void check_failover();
  void sum_counters();

  Mode mode_;
  std::vector<std::unique_ptr<FlowExporter>> members_;
  std::vector<std::uint64_t> errors_seen_;
  std::string destination_;
  std::size_t active_ = 0;  // failover: the member in use; balance: the next one to get a record
  ExportCounters counters_;
  std::vector<TransportEvent> events_;
};

}  // namespace tapflow::exporter
