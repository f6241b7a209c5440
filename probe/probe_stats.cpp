#include "probe/probe_stats.h"

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace tapflow::probe {

namespace {
constexpr cache::FlowEndReason kReasons[] = {
    cache::FlowEndReason::kIdleTimeout, cache::FlowEndReason::kActiveTimeout,
    cache::FlowEndReason::kEndOfFlow, cache::FlowEndReason::kForcedEnd,
    cache::FlowEndReason::kLackOfResources};

}  // namespace

std::string format_summary(const ProbeStats& s) {
  std::string out;
  auto line = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
    out += fmt::format(format, std::forward<Args>(args)...);
    out += '\n';
  };
  // Every count ends in one column, top-level and nested rows alike; a label longer than its
  // room pushes only its own count right.
  auto row = [&out](int indent, std::string_view label, std::uint64_t value, std::string_view note = {}) {
    constexpr std::size_t kRightEdge = 56;
    const std::string text = std::string(static_cast<std::size_t>(indent), ' ') + std::string(label);
    const std::string number = fmt::format("{}", value);
    const std::size_t pad = text.size() + number.size() < kRightEdge ? kRightEdge - text.size() - number.size() : 1;
    out += text + std::string(pad, ' ') + number;
    if (!note.empty()) out += "  " + std::string(note);
    out += '\n';
  };
  const double mpps = s.elapsed_s > 0 ? static_cast<double>(s.packets_read) / s.elapsed_s / 1e6 : 0;
  line("tapflow summary ({:.3f} s, {:.2f} Mpps)", s.elapsed_s, mpps);
  row(2, "files read", s.files_read, s.file_errors ? fmt::format("({} with errors)", s.file_errors) : "");
  row(2, "packets read", s.packets_read);
  row(2, "packets decoded", s.packets_decoded(), fmt::format("({} layer-3 octets)", s.octets_decoded));
  if (s.sampling.mode != cache::SamplingMode::kNone) {
    row(2, "packets sampled", s.packets_sampled(),
        fmt::format("({}; {} skipped{})", to_string(s.sampling), s.packets_sampled_out,
                    s.scale_sampled ? "; counts scaled" : ""));
  }
  row(2, "packets rejected", s.packets_rejected());
  for (std::size_t v = 1; v < s.verdicts.size(); ++v) {
    if (s.verdicts[v] == 0) continue;
    row(4, to_string(static_cast<DecodeVerdict>(v)), s.verdicts[v]);
  }
  row(2, "flows created", s.cache.flows_created);
  row(2, "flows expired", s.cache.expired_total());
  for (auto reason : kReasons) {
    const auto n = s.cache.expired[static_cast<int>(reason)];
    if (n != 0) row(4, cache::to_string(reason), n);
  }
  row(2, "flows still in cache", s.flows_active,
      fmt::format("(capacity {} in {} shard{})", s.cache_capacity, s.shards, s.shards == 1 ? "" : "s"));
  if (s.records_printed != 0) row(2, "records printed", s.records_printed);
  if (s.records_not_printed != 0) row(2, "records NOT printed", s.records_not_printed, "(the output failed)");
  if (s.records_dropped != 0) {
    row(2, "records DROPPED", s.records_dropped, "(the export could not keep up; see --export-rate)");
  }
  if (s.interrupted) line("  input                 stopped by a signal before its end");
  for (const auto& c : s.capture) {
    const std::string down = c.went_down != 0 || c.state != "capturing"
                                 ? fmt::format(" (went down {} time{}, {} now)", c.went_down, c.went_down == 1 ? "" : "s", c.state)
                                 : std::string();
    if (c.name.starts_with("dpdk:")) {
      // A DPDK port's losses in DPDK's words (rte_eth_stats imissed, ierrors, rx_nombuf).
      line("  capture on {}: {} received, {} missed (RX ring full), {} errors, {} without an mbuf{}", c.name,
           c.received, c.dropped_kernel, c.dropped_interface, c.dropped_no_buffer, down);
    } else {
      line("  capture on {}{}: {} received, {} dropped by the kernel, {} by the interface{}{}{}", c.name,
           c.queue >= 0 ? fmt::format(" queue {}", c.queue) : std::string(), c.received, c.dropped_kernel,
           c.dropped_interface, c.dropped_no_buffer != 0 ? fmt::format(", {} for lack of a buffer", c.dropped_no_buffer) : "",
           c.ring_freezes != 0 ? fmt::format(" (ring full {} time{})", c.ring_freezes, c.ring_freezes == 1 ? "" : "s") : "",
           down);
    }
  }
  for (const auto& e : s.exporters) {
    line("  export to {}: {} records in {} messages ({} octets), {} send errors{}", e.destination,
         e.counters.records, e.counters.messages, e.counters.octets, e.counters.send_errors,
         e.counters.unexportable
             ? fmt::format(", {} IPv6 records not exportable in NetFlow v5 (use -v 9 or -v 10)",
                           e.counters.unexportable)
             : "");
    if (e.counters.split_flows != 0 || e.counters.clamped_records != 0) {
      line("    {} flows split over several records (32-bit counters), {} records with a field clamped",
           e.counters.split_flows, e.counters.clamped_records);
    }
  }
  return out;
}

}  // namespace tapflow::probe
