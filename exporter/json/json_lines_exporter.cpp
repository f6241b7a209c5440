#include "exporter/json/json_lines_exporter.h"

#include "cache/flow_text.h"

namespace tapflow::exporter {

nlohmann::json record_json(const cache::FlowRecord& r, const TemplateSpec& fields) {
  nlohmann::json j = {{"source", cache::format_address(r.key.source_address, r.key.is_ipv6())},
          {"destination", cache::format_address(r.key.destination_address, r.key.is_ipv6())},
          {"source_port", r.key.source_port},
          {"destination_port", r.key.destination_port},
          {"protocol", r.key.protocol},
          {"protocol_name", cache::protocol_name(r.key.protocol)},
          {"tos", r.key.tos},
          {"ingress_interface", r.key.ingress_interface},
          {"packets", r.packets},
          {"octets", r.octets},
          {"tcp_flags", cache::format_tcp_flags(r.tcp_flags)},
          {"first_ms", r.first_ns / 1'000'000},
          {"last_ms", r.last_ns / 1'000'000},
          {"end_reason", cache::to_string(r.end_reason)}};
  // --decap: the tunnel the flow was found in (its id is part of the flow key).
  if (r.key.tunnel_type != 0) {
    j["tunnel_type"] = cache::to_string(static_cast<cache::TunnelType>(r.key.tunnel_type));
    j["tunnel_id"] = r.key.tunnel_id;
  }
  if ((fields.features & kRoutingFeature) != 0) {
    j["source_as"] = r.source_as;
    j["destination_as"] = r.destination_as;
    j["source_prefix_length"] = r.source_prefix_length;
    j["destination_prefix_length"] = r.destination_prefix_length;
  }
  if ((fields.features & kBiflowFeature) != 0) {
    j["reverse_packets"] = r.reverse.packets;
    j["reverse_octets"] = r.reverse.octets;
    j["reverse_tcp_flags"] = cache::format_tcp_flags(r.reverse.tcp_flags);
    j["reverse_tos"] = r.reverse.tos;
    j["reverse_ingress_interface"] = r.reverse.ingress_interface;
    j["reverse_first_ms"] = r.reverse.first_ns / 1'000'000;
    j["reverse_last_ms"] = r.reverse.last_ns / 1'000'000;
    j["biflow_direction"] = r.biflow_direction == cache::BiflowDirection::kInitiator ? "initiator" : "arbitrary";
  }
  // --fields: each chosen element under its IANA name, numbers as numbers.
  if (fields.chosen.any()) {
    const auto elements = information_elements();
    for (std::size_t i = 0; i < elements.size(); ++i) {
      if (!fields.chosen.test(i)) continue;
      const auto& e = elements[i];
      // An element of the other family (flowLabelIPv6 on an IPv4 flow) is left out.
      if (!carries(e, r.key.ip_version)) continue;
      const std::string value = render_value(e, r);
      if (value.empty()) continue;  // a tunnel endpoint of a flow that came through no tunnel
      if (e.type == DataType::kUnsigned) {
        j[std::string(e.name)] = std::stoull(value);
      } else {
        j[std::string(e.name)] = value;
      }
    }
  }
  return j;
}

JsonLinesExporter::JsonLinesExporter(std::unique_ptr<Transport> sink, std::string destination, TemplateSpec fields)
    : fields_(fields), sink_(std::move(sink)), destination_(std::move(destination)) {
  buffer_.reserve(kWriteBytes + 1024);
}

void JsonLinesExporter::export_records(std::span<const cache::FlowRecord> records) {
  for (const auto& r : records) {
    buffer_ += record_json(r, fields_).dump();
    buffer_ += '\n';
    ++buffered_records_;
    ++counters_.records;
    if (buffer_.size() >= kWriteBytes) flush();
  }
}

void JsonLinesExporter::flush() {
  if (buffer_.empty()) return;
  ++counters_.messages;
  counters_.octets += buffer_.size();
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(buffer_.data());
  if (sink_->send({bytes, buffer_.size()}) != SendResult::kSent) {
    ++counters_.send_errors;
    counters_.records_unsent += buffered_records_;
  }
  buffer_.clear();
  buffered_records_ = 0;
}

void JsonLinesExporter::reopen() {
  flush();
  sink_->reopen();
}

}  // namespace tapflow::exporter
