#include "probe/counters.h"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

namespace tapflow::probe {

namespace {

using Group = CounterSample::Group;

constexpr cache::FlowEndReason kReasons[] = {
    cache::FlowEndReason::kIdleTimeout, cache::FlowEndReason::kActiveTimeout, cache::FlowEndReason::kEndOfFlow,
    cache::FlowEndReason::kForcedEnd, cache::FlowEndReason::kLackOfResources};

std::string reason_key(cache::FlowEndReason reason) {
  std::string key(cache::to_string(reason));
  for (char& c : key) {
    if (c == ' ') c = '_';
  }
  return key;
}

const char* sampling_mode(const cache::SamplingConfig& s) {
  return s.mode == cache::SamplingMode::kNone            ? "none"
         : s.mode == cache::SamplingMode::kDeterministic ? "deterministic"
                                                         : "random";
}

// One row of the registry for the run as a whole.
struct RunRow {
  std::string_view json, metric, help;
  CounterKind kind;
  CounterValue (*read)(const ProbeStats&);
};

using K = CounterKind;
const RunRow kRunRows[] = {
    {"elapsed_s", "elapsed_seconds", "Seconds since the run started.", K::kGauge,
     [](const ProbeStats& s) -> CounterValue { return s.elapsed_s; }},
    {"files.read", "files_read_total", "Capture files opened.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.files_read; }},
    {"files.errors", "file_errors_total", "Capture files that could not be opened or read to their end.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.file_errors; }},
    {"packets.read", "packets_read_total", "Packets read from captures and interfaces.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.packets_read; }},
    {"packets.captured_bytes", "captured_bytes_total", "Captured bytes of the packets read.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.bytes_read; }},
    {"packets.decoded", "packets_decoded_total", "Packets turned into flow updates.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.packets_decoded(); }},
    {"packets.decoded_octets", "octets_decoded_total", "Layer-3 octets of the decoded packets.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.octets_decoded; }},
    {"packets.rejected", "", "", K::kCounter, [](const ProbeStats& s) -> CounterValue { return s.packets_rejected(); }},
    {"packets.rejected_octets", "octets_rejected_total", "Wire length of the rejected packets.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.octets_rejected; }},
    {"flows.created", "flows_created_total", "Flows created in the cache.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.cache.flows_created; }},
    {"flows.expired", "", "", K::kCounter, [](const ProbeStats& s) -> CounterValue { return s.cache.expired_total(); }},
    {"flows.active", "flows_active", "Flows in the cache now.", K::kGauge,
     [](const ProbeStats& s) -> CounterValue { return s.flows_active; }},
    {"flows.cache_capacity", "cache_capacity", "Flow cache capacity over all shards.", K::kGauge,
     [](const ProbeStats& s) -> CounterValue { return s.cache_capacity; }},
    {"flows.shards", "cache_shards", "Flow cache shards (worker threads owning one each).", K::kGauge,
     [](const ProbeStats& s) -> CounterValue { return s.shards; }},
    {"flows.packets", "flow_packets_total", "Packets accounted in flows (times the rate when scaled).", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.cache.packets; }},
    {"flows.octets", "flow_octets_total", "Octets accounted in flows (times the rate when scaled).", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.cache.octets; }},
    {"sampling.mode", "", "", K::kGauge, [](const ProbeStats& s) -> CounterValue { return std::string(sampling_mode(s.sampling)); }},
    {"sampling.interval", "sampling_interval", "Packet sampling: 1 in this many (1 = no sampling).", K::kGauge,
     [](const ProbeStats& s) -> CounterValue {
       return std::uint64_t{s.sampling.mode == cache::SamplingMode::kNone ? 1u : s.sampling.interval};
     }},
    {"sampling.scaled", "", "", K::kGauge, [](const ProbeStats& s) -> CounterValue { return s.scale_sampled; }},
    {"sampling.selected", "packets_sampled_total", "Decoded packets the sampler kept.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.packets_sampled(); }},
    {"sampling.skipped", "packets_sampled_out_total", "Decoded packets the sampler skipped.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.packets_sampled_out; }},
    {"sampling.skipped_octets", "octets_sampled_out_total", "Layer-3 octets of the packets the sampler skipped.",
     K::kCounter, [](const ProbeStats& s) -> CounterValue { return s.octets_sampled_out; }},
    {"records_printed", "records_printed_total", "Flow records printed as the table.", K::kCounter,
     [](const ProbeStats& s) -> CounterValue { return s.records_printed; }},
    {"records_not_printed", "records_not_printed_total", "Flow records the table could not be written with.",
     K::kCounter, [](const ProbeStats& s) -> CounterValue { return s.records_not_printed; }},
    {"interrupted", "", "", K::kGauge, [](const ProbeStats& s) -> CounterValue { return s.interrupted; }},
};

struct ExporterRow {
  std::string_view json, metric, help;
  std::uint64_t exporter::ExportCounters::*field;
};
const ExporterRow kExporterRows[] = {
    {"records", "export_records_total", "Flow records handed to each destination (sent or not).",
     &exporter::ExportCounters::records},
    {"messages", "export_messages_total", "Export messages handed to each destination.",
     &exporter::ExportCounters::messages},
    {"octets", "export_octets_total", "Octets of those messages.", &exporter::ExportCounters::octets},
    {"template_sets", "export_template_sets_total", "Template sets sent.", &exporter::ExportCounters::template_sets},
    {"send_errors", "export_send_errors_total", "Export messages the transport failed to send.",
     &exporter::ExportCounters::send_errors},
    {"unexportable", "export_unexportable_total", "Flow records the format cannot carry (v5: IPv6), not sent.",
     &exporter::ExportCounters::unexportable},
    {"records_unsent", "export_records_unsent_total", "Flow records in the messages that failed.",
     &exporter::ExportCounters::records_unsent},
    {"options_records", "export_options_records_total", "Options records sent (sampling, statistics).",
     &exporter::ExportCounters::options_records},
    {"split_flows", "export_split_flows_total", "v5: flows split over several records (32-bit counters).",
     &exporter::ExportCounters::split_flows},
    {"clamped_records", "export_clamped_records_total", "v5: records with a field clamped to the format.",
     &exporter::ExportCounters::clamped_records},
};

}  // namespace

void visit_counters(const ProbeStats& s, const std::function<void(const CounterSample&)>& visit) {
  for (const auto& row : kRunRows) {
    visit({row.json, row.metric, row.help, row.kind, {}, Group::kRun, 0, row.read(s)});
    if (row.json == "packets.rejected_octets") {
      for (std::size_t v = 1; v < s.verdicts.size(); ++v) {
        const auto key = to_key(static_cast<DecodeVerdict>(v));
        visit({"packets.rejected_by_reason", "packets_rejected_total", "Packets not turned into flow updates, by reason.",
               K::kCounter, {{"reason", std::string(key)}}, Group::kRun, 0, s.verdicts[v]});
      }
    }
    if (row.json == "flows.expired") {
      for (const auto reason : kReasons) {
        visit({"flows.expired_by_reason", "flows_expired_total", "Flows expired, by flowEndReason.", K::kCounter,
               {{"reason", reason_key(reason)}}, Group::kRun, 0, s.cache.expired[static_cast<int>(reason)]});
      }
    }
  }
  for (std::size_t i = 0; i < s.exporters.size(); ++i) {
    const auto& e = s.exporters[i];
    for (const auto& row : kExporterRows) {
      visit({row.json, row.metric, row.help, K::kCounter, {{"destination", e.destination}}, Group::kExporter, i,
             e.counters.*row.field});
    }
  }
  for (std::size_t i = 0; i < s.capture.size(); ++i) {
    const auto& c = s.capture[i];
    const std::pair<std::string_view, std::string> itf{"interface", c.name};
    visit({"received", "capture_received_total", "Packets the kernel delivered (pcap_stats).", K::kCounter, {itf},
           Group::kCapture, i, c.received});
    visit({"dropped_kernel", "capture_dropped_total", "Packets dropped before tapflow saw them (pcap_stats).",
           K::kCounter, {itf, {"where", "kernel"}}, Group::kCapture, i, c.dropped_kernel});
    visit({"dropped_interface", "capture_dropped_total", "Packets dropped before tapflow saw them (pcap_stats).",
           K::kCounter, {itf, {"where", "interface"}}, Group::kCapture, i, c.dropped_interface});
    visit({"dropped_no_buffer", "capture_dropped_total", "Packets dropped before tapflow saw them (pcap_stats).",
           K::kCounter, {itf, {"where", "no_buffer"}}, Group::kCapture, i, c.dropped_no_buffer});
    visit({"went_down", "capture_interface_down_total", "Times a capture interface went down or disappeared.",
           K::kCounter, {itf}, Group::kCapture, i, c.went_down});
    visit({"state", "", "", K::kGauge, {itf}, Group::kCapture, i, c.state});
    visit({"", "capture_interface_up", "1 while capturing on the interface, 0 while down or closed.", K::kGauge,
           {itf}, Group::kCapture, i, std::uint64_t{c.state == "capturing" ? 1u : 0u}});
  }
}

namespace {

nlohmann::json to_json_value(const CounterValue& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

// Sets `value` at the dotted `path` under `root`; a labelled reason becomes the last key.
void set_path(nlohmann::json& root, std::string_view path, nlohmann::json value) {
  nlohmann::json* node = &root;
  while (true) {
    const auto dot = path.find('.');
    const std::string key(path.substr(0, dot));
    if (dot == std::string_view::npos) {
      (*node)[key] = std::move(value);
      return;
    }
    node = &(*node)[key];
    path.remove_prefix(dot + 1);
  }
}

}  // namespace

nlohmann::json to_json(const ProbeStats& stats) {
  nlohmann::json j = nlohmann::json::object();
  j["exporters"] = nlohmann::json::array();
  j["capture"] = nlohmann::json::array();
  for (const auto& e : stats.exporters) j["exporters"].push_back({{"destination", e.destination}});
  for (const auto& c : stats.capture) j["capture"].push_back({{"interface", c.name}});
  j["packets"]["rejected_by_reason"] = nlohmann::json::object();
  j["flows"]["expired_by_reason"] = nlohmann::json::object();
  visit_counters(stats, [&j](const CounterSample& s) {
    if (s.json.empty()) return;
    nlohmann::json value = to_json_value(s.value);
    switch (s.group) {
      case Group::kRun:
        if (!s.labels.empty()) {
          j[std::string(s.json.substr(0, s.json.find('.')))][std::string(s.json.substr(s.json.find('.') + 1))]
           [s.labels[0].second] = std::move(value);
        } else {
          set_path(j, s.json, std::move(value));
        }
        break;
      case Group::kExporter: j["exporters"][s.index][std::string(s.json)] = std::move(value); break;
      case Group::kCapture: j["capture"][s.index][std::string(s.json)] = std::move(value); break;
    }
  });
  return j;
}

std::string format_prometheus(const ProbeStats& stats) {
  // Samples of one metric together, under one HELP and TYPE, in registry order.
  std::vector<std::string_view> order;
  std::map<std::string_view, std::pair<const CounterSample*, std::string>, std::less<>> metrics;
  std::vector<CounterSample> samples;
  visit_counters(stats, [&samples](const CounterSample& s) {
    if (!s.metric.empty() && !std::holds_alternative<std::string>(s.value)) samples.push_back(s);
  });
  for (const auto& s : samples) {
    auto [it, fresh] = metrics.try_emplace(s.metric, &s, std::string());
    if (fresh) order.push_back(s.metric);
    std::string labels;
    for (const auto& [name, value] : s.labels) {
      std::string escaped;
      for (char c : value) {
        if (c == '\\' || c == '"') escaped += '\\';
        if (c == '\n') {
          escaped += "\\n";
          continue;
        }
        escaped += c;
      }
      labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "" : ",", name, escaped);
    }
    const std::string number = std::visit(
        [](const auto& x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, bool>) {
            return x ? "1" : "0";
          } else if constexpr (std::is_same_v<T, std::string>) {
            return "";
          } else {
            return fmt::format("{}", x);
          }
        },
        s.value);
    it->second.second += fmt::format("tapflow_{}{}{}{} {}\n", s.metric, labels.empty() ? "" : "{", labels,
                                     labels.empty() ? "" : "}", number);
  }
  std::string out;
  for (const auto metric : order) {
    const auto& [first, lines] = metrics.find(metric)->second;
    out += fmt::format("# HELP tapflow_{} {}\n# TYPE tapflow_{} {}\n", metric, first->help, metric,
                       first->kind == CounterKind::kGauge ? "gauge" : "counter");
    out += lines;
  }
  return out;
}

}  // namespace tapflow::probe
