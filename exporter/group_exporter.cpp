#include "exporter/group_exporter.h"

#include <fmt/format.h>

#include <stdexcept>

namespace tapflow::exporter {

GroupExporter::GroupExporter(Mode mode, std::vector<std::unique_ptr<FlowExporter>> members, std::string destination)
    : mode_(mode), members_(std::move(members)), errors_seen_(members_.size(), 0), destination_(std::move(destination)) {
  if (members_.size() < 2) throw std::runtime_error("'" + destination_ + "': a group needs at least two collectors");
}

void GroupExporter::export_records(std::span<const cache::FlowRecord> records) {
  if (mode_ == Mode::kBalance) {
    for (const auto& r : records) {
      members_[active_]->export_records({&r, 1});
      active_ = (active_ + 1) % members_.size();
    }
  } else {
    // One record at a time, so that a failure switches members before the next record.
    for (std::size_t i = 0; i < records.size(); ++i) {
      members_[active_]->export_records(records.subspan(i, 1));
      check_failover();
    }
  }
  sum_counters();
}

void GroupExporter::check_failover() {
  if (mode_ != Mode::kFailover) return;
  const std::uint64_t errors = members_[active_]->counters().send_errors;
  if (errors == errors_seen_[active_]) return;
  errors_seen_[active_] = errors;
  const std::size_t failed = active_;
  active_ = (active_ + 1) % members_.size();
  errors_seen_[active_] = members_[active_]->counters().send_errors;
  members_[active_]->force_templates();
  events_.push_back({TransportEvent::Severity::kWarning,
                     fmt::format("{}: {} failed, {} takes over", destination_, members_[failed]->destination(),
                                 members_[active_]->destination())});
}

void GroupExporter::flush() {
  for (std::size_t i = 0; i < members_.size(); ++i) {
    members_[i]->flush();
    if (i == active_) check_failover();
  }
  sum_counters();
}

void GroupExporter::set_system_start(std::uint64_t ns) {
  for (auto& m : members_) m->set_system_start(ns);
}

void GroupExporter::close() {
  for (auto& m : members_) m->close();
  sum_counters();
}

void GroupExporter::reopen() {
  for (auto& m : members_) m->reopen();
}

void GroupExporter::set_rate(const ExportRate& rate) {
  for (auto& m : members_) m->set_rate(rate);
}

void GroupExporter::force_templates() {
  for (auto& m : members_) m->force_templates();
}

bool GroupExporter::has_events() const {
  if (!events_.empty()) return true;
  for (const auto& m : members_) {
    if (m->has_events()) return true;
  }
  return false;
}

void GroupExporter::take_events(std::vector<TransportEvent>& out) {
  for (auto& m : members_) {
    if (m->has_events()) m->take_events(out);
  }
  out.insert(out.end(), events_.begin(), events_.end());
  events_.clear();
}

void GroupExporter::sum_counters() {
  counters_ = {};
  for (const auto& m : members_) {
    const ExportCounters& c = m->counters();
    counters_.records += c.records;
    counters_.messages += c.messages;
    counters_.octets += c.octets;
    counters_.template_sets += c.template_sets;
    counters_.send_errors += c.send_errors;
    counters_.records_unsent += c.records_unsent;
    counters_.unexportable += c.unexportable;
    counters_.split_flows += c.split_flows;
    counters_.clamped_records += c.clamped_records;
    counters_.options_records += c.options_records;
  }
}

}  // namespace tapflow::exporter
