// The one registry of the run's counters: each is defined once here (its place in --stats-json
// and `ctl stats --json`, its Prometheus name, help text and kind, its labels) and every machine
// output reads it, so JSON and /metrics can never disagree or forget one. The human summary
// (probe_stats.h) reads the same ProbeStats.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "probe/probe_stats.h"

namespace tapflow::probe {

enum class CounterKind : std::uint8_t { kCounter, kGauge };

// One value: counters and gauges are numbers; a few JSON fields are flags or words (no metric).
using CounterValue = std::variant<std::uint64_t, double, bool, std::string>;

struct CounterSample {
  std::string_view json;    // path in the JSON: "packets.read"; in an exporter's or interface's
                            // object for per-destination and per-interface counters
  std::string_view metric;  // Prometheus name without "tapflow_"; empty: JSON only
  std::string_view help;
  CounterKind kind = CounterKind::kCounter;
  // Label pairs: the destination, interface or reason it is of, plus fixed ones (where="kernel").
  std::vector<std::pair<std::string_view, std::string>> labels;
  enum class Group : std::uint8_t { kRun, kExporter, kCapture } group = Group::kRun;
  std::size_t index = 0;  // of the exporter or interface
  CounterValue value;
};

// Calls visit(sample) for every counter of `stats`, in registry order.
void visit_counters(const ProbeStats& stats, const std::function<void(const CounterSample&)>& visit);

nlohmann::json to_json(const ProbeStats& stats);
// The Prometheus text exposition format (version 0.0.4).
std::string format_prometheus(const ProbeStats& stats);

}  // namespace tapflow::probe
