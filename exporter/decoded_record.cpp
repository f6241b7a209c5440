#include "exporter/decoded_record.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <ctime>

#include "cache/flow_text.h"
#include "exporter/ie/information_elements.h"

namespace tapflow::exporter {

namespace {

std::string format_time_ms(std::uint64_t ns) {
  const auto ms = ns / 1'000'000;
  const auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

using cache::format_tcp_flags;
using cache::protocol_name;

// Addresses as the endpoints show them: IPv6 in brackets.
std::string format_address(const std::array<std::uint8_t, 16>& address, bool ipv6) {
  return ipv6 ? "[" + cache::format_address(address, true) + "]" : cache::format_address(address, false);
}

}  // namespace

std::string format_record(const DecodedRecord& record) {
  const auto& f = record.flow;
  const auto& key = f.key;
  const bool ipv6 = key.ip_version == 6;
  std::string line = fmt::format("{} {} {:<6} ", format_time_ms(f.first_ns),
                                 format_time_ms(f.last_ns), protocol_name(key.protocol));
  if (key.protocol == 1 || key.protocol == 58) {
    // Cisco convention: the destination port carries type * 256 + code.
    line += fmt::format("{} -> {} type {} code {}", format_address(key.source_address, ipv6),
                        format_address(key.destination_address, ipv6), key.destination_port >> 8,
                        key.destination_port & 0xff);
  } else {
    line += fmt::format("{}:{} -> {}:{}", format_address(key.source_address, ipv6), key.source_port,
                        format_address(key.destination_address, ipv6), key.destination_port);
  }
  line += fmt::format(" packets {} bytes {}", f.packets, f.octets);
  if (record.has(ie::kTcpControlBits)) line += " flags " + format_tcp_flags(f.tcp_flags);
  if (record.has(ie::kIpClassOfService)) line += fmt::format(" tos {}", key.tos);
  if (record.has(ie::kMinimumTtl) || record.has(ie::kMaximumTtl)) {
    line += fmt::format(" ttl {}-{}", f.min_ttl, f.max_ttl);
  }
  if (record.has(ie::kIngressInterface)) line += fmt::format(" in-if {}", key.ingress_interface);
  if (record.has(ie::kLayer2SegmentId) && key.tunnel_type != 0) {
    line += fmt::format(" tunnel {} {}", cache::to_string(static_cast<cache::TunnelType>(key.tunnel_type)), key.tunnel_id);
  }
  if (record.has(ie::kBgpSourceAsNumber) || record.has(ie::kBgpDestinationAsNumber)) {
    line += fmt::format(" as {}->{}", f.source_as, f.destination_as);
  }
  if (record.has(ie::kSourceIpv4PrefixLength) || record.has(ie::kSourceIpv6PrefixLength)) {
    line += fmt::format(" mask {}/{}", f.source_prefix_length, f.destination_prefix_length);
  }
  if (record.has(ie::kFlowEndReason)) {
    line += fmt::format(" end {}", cache::to_string(f.end_reason));
  }
  // RFC 5103 biflows: the reverse direction.
  if (record.has(ie::kPacketDeltaCount, kReverseEnterprise)) {
    line += fmt::format(" reverse packets {} bytes {}", f.reverse.packets, f.reverse.octets);
    if (record.has(ie::kTcpControlBits, kReverseEnterprise)) line += " flags " + format_tcp_flags(f.reverse.tcp_flags);
    if (record.has(ie::kIpClassOfService, kReverseEnterprise)) line += fmt::format(" tos {}", f.reverse.tos);
    if (record.has(ie::kIngressInterface, kReverseEnterprise)) line += fmt::format(" in-if {}", f.reverse.ingress_interface);
    if (record.has(ie::kBiflowDirection)) {
      line += f.biflow_direction == cache::BiflowDirection::kInitiator ? " initiator" : " arbitrary";
    }
  }
  // --fields: every optional element the record carried, by name.
  const auto elements = information_elements();
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (!record.fields.test(i) || (elements[i].needs & kChosenFeature) == 0) continue;
    line += fmt::format(" {}={}", elements[i].name, render_value(elements[i], f));
  }
  if (!record.unknown_fields.empty()) {
    line += fmt::format(" (+{} unknown fields)", record.unknown_fields.size());
  }
  return line;
}

TemplateSpec record_spec(const DecodedRecord& record) {
  TemplateSpec spec;
  if (record.has(ie::kBgpSourceAsNumber)) spec.features |= kRoutingFeature;
  if (record.has(ie::kPacketDeltaCount, kReverseEnterprise)) spec.features |= kBiflowFeature;
  const auto elements = information_elements();
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (record.fields.test(i) && (elements[i].needs & kChosenFeature) != 0) spec.chosen.set(i);
  }
  return spec;
}

std::optional<std::uint64_t> DecodedOptionsRecord::get(std::uint16_t id, int occurrence) const {
  for (const auto& v : values) {
    if (v.enterprise_number == 0 && v.id == id && occurrence-- == 0) return v.value;
  }
  return std::nullopt;
}

std::string format_options_record(const DecodedOptionsRecord& r) {
  const auto value = [&r](std::uint16_t id, int occurrence = 0) {
    return r.get(id, occurrence).value_or(0);
  };
  const auto interval_text = [&]() -> std::string {
    const auto from = r.get(ie::kObservationTimeMilliseconds);
    const auto to = r.get(ie::kObservationTimeMilliseconds, 1);
    if (!from || !to) return "";
    return fmt::format(" from {} to {}", format_time_ms(*from * 1'000'000),
                       format_time_ms(*to * 1'000'000));
  };
  // Sampling: v9 (34/35, or the sampler 48/49/50) and IPFIX (RFC 5476 selector IEs).
  std::optional<std::uint64_t> interval;
  std::string algorithm;
  if (const auto n = r.get(ie::kSamplingInterval)) {
    interval = n;
    const auto a = value(ie::kSamplingAlgorithm);
    algorithm = a == 1 ? "deterministic" : a == 2 ? "random" : fmt::format("{}", a);
  } else if (const auto n50 = r.get(ie::kFlowSamplerRandomInterval)) {
    interval = n50;
    const auto a = value(ie::kFlowSamplerMode);
    algorithm = a == 1 ? "deterministic" : a == 2 ? "random" : fmt::format("{}", a);
  } else if (const auto a = r.get(ie::kSelectorAlgorithm)) {
    if (*a == 1 && r.get(ie::kSamplingPacketSpace)) {
      const auto selected = value(ie::kSamplingPacketInterval);
      interval = selected == 0 ? 0 : (selected + value(ie::kSamplingPacketSpace)) / selected;
      algorithm = "deterministic";
    } else if (*a == 3 && r.get(ie::kSamplingPopulation)) {
      const auto size = value(ie::kSamplingSize);
      interval = size == 0 ? 0 : value(ie::kSamplingPopulation) / size;
      algorithm = "random";
    }
    if (algorithm.empty()) algorithm = fmt::format("selector algorithm {}", *a);
  }
  if (interval || !algorithm.empty()) {
    std::string line = fmt::format("options: sampling interval {} algorithm {}", interval.value_or(0),
                                   algorithm);
    if (const auto id = r.get(ie::kSelectorId)) line += fmt::format(" selector {}", *id);
    return line;
  }
  if (r.get(ie::kNotSentFlowTotalCount) || r.get(ie::kExportedMessageTotalCount)) {
    return fmt::format(
        "options: exporting process {} statistics: exported {} messages {} flow records {} octets, "
        "not sent {} flows {} packets {} octets{}",
        value(ie::kExportingProcessId), value(ie::kExportedMessageTotalCount),
        value(ie::kExportedFlowRecordTotalCount), value(ie::kExportedOctetTotalCount),
        value(ie::kNotSentFlowTotalCount), value(ie::kNotSentPacketTotalCount),
        value(ie::kNotSentOctetTotalCount), interval_text());
  }
  if (r.get(ie::kIgnoredPacketTotalCount) || r.get(ie::kIgnoredOctetTotalCount)) {
    return fmt::format("options: metering process domain {} statistics: ignored {} packets {} octets{}",
                       value(ie::kObservationDomainId), value(ie::kIgnoredPacketTotalCount),
                       value(ie::kIgnoredOctetTotalCount), interval_text());
  }
  std::string line = fmt::format("options: template {}:", r.template_id);
  for (const auto& v : r.values) {
    if (v.enterprise_number != 0) line += fmt::format(" {}/{}", v.enterprise_number, v.id);
    else line += fmt::format(" {}", v.id);
    if (v.length <= 8) line += fmt::format("={}", v.value);
    else line += fmt::format("=({} octets)", v.length);
  }
  return line;
}

}  // namespace tapflow::exporter
