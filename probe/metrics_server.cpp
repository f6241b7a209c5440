#include "probe/metrics_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <stdexcept>

namespace tapflow::probe {

namespace {
void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP tapflow_{} {}\n# TYPE tapflow_{} {}\n", name, help, name, type);
}
}  // namespace

std::string format_prometheus(const ProbeStats& s) {
  std::string out;
  metric(out, "packets_read_total", "counter", "Packets read from captures and interfaces.");
  out += fmt::format("tapflow_packets_read_total {}\n", s.packets_read);
  metric(out, "packets_decoded_total", "counter", "Packets turned into flow updates.");
  out += fmt::format("tapflow_packets_decoded_total {}\n", s.packets_decoded());
  metric(out, "octets_decoded_total", "counter", "Layer-3 octets of the decoded packets.");
  out += fmt::format("tapflow_octets_decoded_total {}\n", s.octets_decoded);
  metric(out, "packets_sampled_out_total", "counter", "Decoded packets the sampler skipped.");
  out += fmt::format("tapflow_packets_sampled_out_total {}\n", s.packets_sampled_out);
  metric(out, "sampling_interval", "gauge", "Packet sampling: 1 in this many (1 = no sampling).");
  out += fmt::format("tapflow_sampling_interval {}\n",
                     s.sampling.mode == cache::SamplingMode::kNone ? 1u : s.sampling.interval);
  metric(out, "packets_rejected_total", "counter", "Packets not turned into flow updates, by reason.");
  for (std::size_t v = 1; v < s.verdicts.size(); ++v) {
    out += fmt::format("tapflow_packets_rejected_total{{reason=\"{}\"}} {}\n",
                       to_key(static_cast<DecodeVerdict>(v)), s.verdicts[v]);
  }
  metric(out, "flows_created_total", "counter", "Flows created in the cache.");
  out += fmt::format("tapflow_flows_created_total {}\n", s.cache.flows_created);
  metric(out, "flows_expired_total", "counter", "Flows expired, by flowEndReason.");
  for (int r = 1; r <= 5; ++r) {
    std::string reason(cache::to_string(static_cast<cache::FlowEndReason>(r)));
    for (char& c : reason) {
      if (c == ' ') c = '_';
    }
    out += fmt::format("tapflow_flows_expired_total{{reason=\"{}\"}} {}\n", reason, s.cache.expired[r]);
  }
  metric(out, "flows_active", "gauge", "Flows in the cache now.");
  out += fmt::format("tapflow_flows_active {}\n", s.flows_active);
  metric(out, "cache_capacity", "gauge", "Flow cache capacity over all shards.");
  out += fmt::format("tapflow_cache_capacity {}\n", s.cache_capacity);
  metric(out, "capture_received_total", "counter", "Packets the kernel delivered (pcap_stats).");
  for (const auto& c : s.capture) {
    out += fmt::format("tapflow_capture_received_total{{interface=\"{}\"}} {}\n", c.interface, c.received);
  }
  metric(out, "capture_dropped_total", "counter", "Packets dropped before tapflow saw them (pcap_stats).");
  for (const auto& c : s.capture) {
    out += fmt::format("tapflow_capture_dropped_total{{interface=\"{}\",where=\"kernel\"}} {}\n", c.interface,
                       c.dropped_kernel);
    out += fmt::format("tapflow_capture_dropped_total{{interface=\"{}\",where=\"interface\"}} {}\n",
                       c.interface, c.dropped_interface);
  }
  metric(out, "capture_interface_down_total", "counter",
         "Times a capture interface went down or disappeared.");
  for (const auto& c : s.capture) {
    out += fmt::format("tapflow_capture_interface_down_total{{interface=\"{}\"}} {}\n", c.interface, c.went_down);
  }
  metric(out, "capture_interface_up", "gauge", "1 while capturing on the interface, 0 while down or closed.");
  for (const auto& c : s.capture) {
    out += fmt::format("tapflow_capture_interface_up{{interface=\"{}\"}} {}\n", c.interface,
                       c.state == "capturing" ? 1 : 0);
  }
  metric(out, "export_records_total", "counter", "Flow records handed to each destination.");
  for (const auto& e : s.exporters) {
    out += fmt::format("tapflow_export_records_total{{destination=\"{}\"}} {}\n", e.destination, e.counters.records);
  }
  metric(out, "export_messages_total", "counter", "Export messages sent to each destination.");
  for (const auto& e : s.exporters) {
    out += fmt::format("tapflow_export_messages_total{{destination=\"{}\"}} {}\n", e.destination, e.counters.messages);
  }
  metric(out, "export_send_errors_total", "counter", "Export messages the transport failed to send.");
  for (const auto& e : s.exporters) {
    out += fmt::format("tapflow_export_send_errors_total{{destination=\"{}\"}} {}\n", e.destination,
                       e.counters.send_errors);
  }
  return out;
}

MetricsServer::MetricsServer(const std::string& address, Pipeline& pipeline)
    : server_(std::make_unique<httplib::Server>()) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    throw std::runtime_error("--metrics '" + address + "': expected ADDR:PORT");
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    throw std::runtime_error("--metrics '" + address + "': bad port");
  }
  server_->Get("/metrics", [&pipeline](const httplib::Request&, httplib::Response& res) {
    Pipeline::Snapshot snapshot;
    pipeline.request(false, 0, snapshot);
    res.set_content(format_prometheus(snapshot.stats), "text/plain; version=0.0.4");
  });
  if (!server_->bind_to_port(host.empty() ? "0.0.0.0" : host, port)) {
    throw std::runtime_error("--metrics: cannot listen on '" + address + "'");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

MetricsServer::~MetricsServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tapflow::probe
