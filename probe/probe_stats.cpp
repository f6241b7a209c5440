#include "probe/probe_stats.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace tapflow::probe {

namespace {
constexpr cache::FlowEndReason kReasons[] = {
    cache::FlowEndReason::kIdleTimeout, cache::FlowEndReason::kActiveTimeout,
    cache::FlowEndReason::kEndOfFlow, cache::FlowEndReason::kForcedEnd,
    cache::FlowEndReason::kLackOfResources};

std::string reason_key(cache::FlowEndReason reason) {
  std::string key(cache::to_string(reason));
  for (char& c : key) {
    if (c == ' ') c = '_';
  }
  return key;
}
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
  if (s.interrupted) line("  input                 stopped by a signal before its end");
  for (const auto& c : s.capture) {
    line("  capture on {}: {} received, {} dropped by the kernel, {} by the interface{}", c.interface,
         c.received, c.dropped_kernel, c.dropped_interface,
         c.went_down != 0 || c.state != "capturing"
             ? fmt::format(" (went down {} time{}, {} now)", c.went_down, c.went_down == 1 ? "" : "s", c.state)
             : "");
  }
  for (const auto& e : s.exporters) {
    line("  export to {}: {} records in {} messages ({} octets), {} send errors{}", e.destination,
         e.counters.records, e.counters.messages, e.counters.octets, e.counters.send_errors,
         e.counters.unexportable
             ? fmt::format(", {} records not exportable in this format", e.counters.unexportable)
             : "");
    if (e.counters.split_flows != 0 || e.counters.clamped_records != 0) {
      line("    {} flows split over several records (32-bit counters), {} records with a field clamped",
           e.counters.split_flows, e.counters.clamped_records);
    }
  }
  return out;
}

nlohmann::json to_json(const ProbeStats& s) {
  nlohmann::json rejected = nlohmann::json::object();
  for (std::size_t v = 1; v < s.verdicts.size(); ++v) {
    rejected[std::string(to_key(static_cast<DecodeVerdict>(v)))] = s.verdicts[v];
  }
  nlohmann::json expired = nlohmann::json::object();
  for (auto reason : kReasons) expired[reason_key(reason)] = s.cache.expired[static_cast<int>(reason)];
  nlohmann::json exporters = nlohmann::json::array();
  for (const auto& e : s.exporters) {
    exporters.push_back({{"destination", e.destination},
                         {"records", e.counters.records},
                         {"messages", e.counters.messages},
                         {"octets", e.counters.octets},
                         {"template_sets", e.counters.template_sets},
                         {"send_errors", e.counters.send_errors},
                         {"unexportable", e.counters.unexportable},
                         {"records_unsent", e.counters.records_unsent},
                         {"options_records", e.counters.options_records},
                         {"split_flows", e.counters.split_flows},
                         {"clamped_records", e.counters.clamped_records}});
  }
  nlohmann::json capture = nlohmann::json::array();
  for (const auto& c : s.capture) {
    capture.push_back({{"interface", c.interface},
                       {"received", c.received},
                       {"dropped_kernel", c.dropped_kernel},
                       {"dropped_interface", c.dropped_interface},
                       {"went_down", c.went_down},
                       {"state", c.state}});
  }
  return {
      {"elapsed_s", s.elapsed_s},
      {"capture", capture},
      {"files", {{"read", s.files_read}, {"errors", s.file_errors}}},
      {"packets",
       {{"read", s.packets_read},
        {"captured_bytes", s.bytes_read},
        {"decoded", s.packets_decoded()},
        {"decoded_octets", s.octets_decoded},
        {"rejected_octets", s.octets_rejected},
        {"rejected", s.packets_rejected()},
        {"rejected_by_reason", rejected}}},
      {"flows",
       {{"created", s.cache.flows_created},
        {"expired", s.cache.expired_total()},
        {"expired_by_reason", expired},
        {"active", s.flows_active},
        {"cache_capacity", s.cache_capacity},
        {"shards", s.shards},
        {"packets", s.cache.packets},
        {"octets", s.cache.octets}}},
      {"sampling",
       {{"mode", s.sampling.mode == cache::SamplingMode::kNone            ? "none"
                 : s.sampling.mode == cache::SamplingMode::kDeterministic ? "deterministic"
                                                                         : "random"},
        {"interval", s.sampling.mode == cache::SamplingMode::kNone ? 1 : s.sampling.interval},
        {"scaled", s.scale_sampled},
        {"selected", s.packets_sampled()},
        {"skipped", s.packets_sampled_out},
        {"skipped_octets", s.octets_sampled_out}}},
      {"records_printed", s.records_printed},
      {"records_not_printed", s.records_not_printed},
      {"interrupted", s.interrupted},
      {"exporters", exporters},
  };
}

}  // namespace tapflow::probe
