#include "probe/traffic_profile.h"

#include <algorithm>

#include <fmt/format.h>

namespace tapflow::probe {

std::string_view to_string(ProtocolClass c) {
  static constexpr std::string_view kNames[] = {
      "TCP-Telnet", "TCP-FTP", "TCP-FTPD", "TCP-WWW", "TCP-SMTP", "TCP-X", "TCP-BGP", "TCP-other",
      "UDP-DNS", "UDP-NTP", "UDP-TFTP", "UDP-Frag", "UDP-other", "ICMP", "IP-other"};
  return kNames[static_cast<std::size_t>(c)];
}

ProtocolClass classify(const cache::FlowKey& key) {
  const auto port_is = [&key](std::uint16_t p) { return key.source_port == p || key.destination_port == p; };
  switch (key.protocol) {
    case 6:
      if (port_is(23)) return ProtocolClass::kTcpTelnet;
      if (port_is(21)) return ProtocolClass::kTcpFtp;
      if (port_is(20)) return ProtocolClass::kTcpFtpData;
      if (port_is(80) || port_is(443) || port_is(8080)) return ProtocolClass::kTcpWww;
      if (port_is(25)) return ProtocolClass::kTcpSmtp;
      if ((key.destination_port >= 6000 && key.destination_port <= 6063)) return ProtocolClass::kTcpX;
      if (port_is(179)) return ProtocolClass::kTcpBgp;
      return ProtocolClass::kTcpOther;
    case 17:
      if (port_is(53)) return ProtocolClass::kUdpDns;
      if (port_is(123)) return ProtocolClass::kUdpNtp;
      if (port_is(69)) return ProtocolClass::kUdpTftp;
      if (key.source_port == 0 && key.destination_port == 0) return ProtocolClass::kUdpFrag;
      return ProtocolClass::kUdpOther;
    case 1:
    case 58:
      return ProtocolClass::kIcmp;
    default:
      return ProtocolClass::kIpOther;
  }
}

void TrafficProfile::count_flow(const cache::FlowRecord& r, std::uint64_t clock_ns) {
  auto& t = protocols[static_cast<std::size_t>(classify(r.key))];
  ++t.flows;
  t.packets += r.packets;
  t.octets += r.octets;
  t.active_ns += r.last_ns - r.first_ns;
  t.idle_ns += clock_ns > r.last_ns ? clock_ns - r.last_ns : 0;
}

void TrafficProfile::add_packets(const TrafficProfile& o) {
  for (std::size_t i = 0; i < packet_sizes.size(); ++i) packet_sizes[i] += o.packet_sizes[i];
  if (o.first_ns != 0 && (first_ns == 0 || o.first_ns < first_ns)) first_ns = o.first_ns;
  last_ns = std::max(last_ns, o.last_ns);
}

std::string format_profile(const TrafficProfile& p) {
  std::string out;
  std::uint64_t packets = 0;
  for (auto n : p.packet_sizes) packets += n;
  out += fmt::format("IP packet size distribution ({} total packets):\n", packets);
  auto row = [&](std::size_t from, std::size_t to) {
    std::string labels = "  ", values = "  ";
    for (std::size_t i = from; i < to; ++i) {
      labels += fmt::format("{:>6}", i < kPacketSizeBounds.size() ? std::to_string(kPacketSizeBounds[i]) : ">4096");
      values += fmt::format("{:>6.3f}", packets ? static_cast<double>(p.packet_sizes[i]) / static_cast<double>(packets) : 0.0);
    }
    out += labels + "\n" + values + "\n";
  };
  row(0, 13);
  row(13, p.packet_sizes.size());
  const double span_s = p.last_ns > p.first_ns ? static_cast<double>(p.last_ns - p.first_ns) / 1e9 : 0.0;
  out += fmt::format("\n{:<12}{:>12}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}\n", "Protocol", "Total Flows",
                     "Flows/Sec", "Packets", "Bytes", "Packets", "Active", "Idle");
  out += fmt::format("{:<12}{:>12}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}\n", "", "", "", "/Flow", "/Pkt", "/Sec",
                     "(Sec)/Flow", "(Sec)/Flow");
  ProtocolTotals total;
  auto line = [&](std::string_view name, const ProtocolTotals& t) {
    if (t.flows == 0) return;
    const auto f = static_cast<double>(t.flows);
    out += fmt::format("{:<12}{:>12}{:>11.1f}{:>11.1f}{:>11.0f}{:>11.1f}{:>11.1f}{:>11.1f}\n", name, t.flows,
                       span_s > 0 ? f / span_s : 0.0, static_cast<double>(t.packets) / f,
                       t.packets ? static_cast<double>(t.octets) / static_cast<double>(t.packets) : 0.0,
                       span_s > 0 ? static_cast<double>(t.packets) / span_s : 0.0,
                       static_cast<double>(t.active_ns) / f / 1e9, static_cast<double>(t.idle_ns) / f / 1e9);
  };
  for (std::size_t c = 0; c < p.protocols.size(); ++c) {
    line(to_string(static_cast<ProtocolClass>(c)), p.protocols[c]);
    total.flows += p.protocols[c].flows;
    total.packets += p.protocols[c].packets;
    total.octets += p.protocols[c].octets;
    total.active_ns += p.protocols[c].active_ns;
    total.idle_ns += p.protocols[c].idle_ns;
  }
  line("Total:", total);
  return out;
}

}  // namespace tapflow::probe
