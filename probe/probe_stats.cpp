#include "probe/probe_stats.h"

#include <fmt/format.h>


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
  const double mpps = s.elapsed_s > 0 ? static_cast<double>(s.packets_read) / s.elapsed_s / 1e6 : 0;
  line("tapflow summary ({:.3f} s, {:.2f} Mpps)", s.elapsed_s, mpps);
  line("  files read            {:>14}{}", s.files_read,
       s.file_errors ? fmt::format("  ({} with errors)", s.file_errors) : "");
  line("  packets read          {:>14}", s.packets_read);
  line("  packets decoded       {:>14}  ({} layer-3 octets)", s.packets_decoded(), s.octets_decoded);
  if (s.sampling.mode != cache::SamplingMode::kNone) {
    line("  packets sampled       {:>14}  ({}; {} skipped{})", s.packets_sampled(), to_string(s.sampling),
         s.packets_sampled_out, s.scale_sampled ? "; counts scaled" : "");
  }
  line("  packets rejected      {:>14}", s.packets_rejected());
  for (std::size_t v = 1; v < s.verdicts.size(); ++v) {
    if (s.verdicts[v] == 0) continue;
    line("    {:<36}{:>10}", to_string(static_cast<DecodeVerdict>(v)), s.verdicts[v]);
  }
  line("  flows created         {:>14}", s.cache.flows_created);
  line("  flows expired         {:>14}", s.cache.expired_total());
  for (auto reason : kReasons) {
    const auto n = s.cache.expired[static_cast<int>(reason)];
    if (n != 0) line("    {:<36}{:>10}", cache::to_string(reason), n);
  }
  line("  flows still in cache  {:>14}  (capacity {} in {} shard{})", s.flows_active,
       s.cache_capacity, s.shards, s.shards == 1 ? "" : "s");
  if (s.records_printed != 0) line("  records printed       {:>14}", s.records_printed);
  if (s.records_not_printed != 0) line("  records NOT printed   {:>14}  (the output failed)", s.records_not_printed);
  if (s.records_dropped != 0) {
    line("  records DROPPED       {:>14}  (the export could not keep up; see --export-rate)", s.records_dropped);
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
