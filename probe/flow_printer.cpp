#include "probe/flow_printer.h"

#include <fmt/format.h>

#include <system_error>

#include "cache/flow_text.h"
#include "probe/log.h"

namespace tapflow::probe {

namespace {
using cache::format_endpoint;
using cache::protocol_name;
}  // namespace

void FlowPrinter::print(std::span<const cache::FlowRecord> records) {
  if (records.empty()) return;
  if (failed_) {
    not_printed_ += records.size();
    return;
  }
  const std::uint64_t before = printed_;
  try {
    print_rows(records);
  } catch (const std::system_error& e) {
    // A reader that went away (`tapflow -r f | head`) or a full disk: said once, then counted.
    failed_ = true;
    not_printed_ += records.size() - (printed_ - before);
    log::error("cannot write the flow table: {}; the remaining records are counted, not printed",
               e.code().message());
  }
}

// 140 columns for IPv4 (the longest end reason included): endpoint columns sized for
// 255.255.255.255:65535, counters for 10^7 packets and 10^10 octets (a larger one widens its own
// row only). IPv6 rows take 47-column endpoints ([v6]:port), aligned among themselves. The width
// of a row never depends on the rows before it, so the table is the same for every --threads.
void FlowPrinter::print_rows(std::span<const cache::FlowRecord> records) {
  constexpr int kIpv4Endpoint = 21;
  constexpr int kIpv6Endpoint = 47;
  const bool biflow = (fields_.features & exporter::kBiflowFeature) != 0;
  const bool tunnel = (fields_.features & exporter::kTunnelFeature) != 0;
  // --decap: the tunnel's type and id ("gtp-u:4294967295" is the longest), "-" through none.
  constexpr int kTunnelWidth = 16;
  const bool more = biflow || tunnel || fields_.chosen.any();
  // The end reason is padded only when columns follow it ("lack of resources" is the longest).
  const int reason_width = more ? 17 : 0;
  if (!header_printed_) {
    std::string header = fmt::format("{:<23} {:>8} {:<6} {:>{}}    {:<{}} {:>7} {:>10} {:<8} {:>3} {:>3} {:<{}}",
                                     "first seen (UTC)", "duration", "proto", "source", kIpv4Endpoint, "destination",
                                     kIpv4Endpoint, "packets", "octets", "flags", "tos", "if", "end reason",
                                     reason_width);
    if (tunnel) header += fmt::format(" {:<{}}", "tunnel", biflow || fields_.chosen.any() ? kTunnelWidth : 0);
    if (biflow) header += fmt::format(" {:>8} {:>10} {:<8} {:>4} {:>4}", "rpackets", "roctets", "rflags", "rtos", "rif");
    if (fields_.chosen.any()) header += " fields";
    while (!header.empty() && header.back() == ' ') header.pop_back();
    fmt::print(out_, "{}\n", header);
    header_printed_ = true;
  }
  const auto elements = exporter::information_elements();
  std::string row;
  for (const auto& r : records) {
    const int endpoint = r.key.is_ipv6() ? kIpv6Endpoint : kIpv4Endpoint;
    row = fmt::format("{:<23} {:>8.3f} {:<6} {:>{}} -> {:<{}} {:>7} {:>10} {:<8} {:>3} {:>3} {:<{}}",
                      cache::format_time_utc(r.first_ns), static_cast<double>(r.last_ns - r.first_ns) / 1e9,
                      protocol_name(r.key.protocol), format_endpoint(r.key, true), endpoint,
                      format_endpoint(r.key, false), endpoint, r.packets, r.octets, format_tcp_flags(r.tcp_flags),
                      r.key.tos, r.key.ingress_interface, cache::to_string(r.end_reason), reason_width);
    if (tunnel) {
      const auto type = static_cast<cache::TunnelType>(r.key.tunnel_type);
      const std::string text =
          type == cache::TunnelType::kNone ? "-" : fmt::format("{}:{}", cache::to_string(type), r.key.tunnel_id);
      row += fmt::format(" {:<{}}", text, kTunnelWidth);
    }
    if (biflow) {
      row += fmt::format(" {:>8} {:>10} {:<8} {:>4} {:>4}", r.reverse.packets, r.reverse.octets,
                         format_tcp_flags(r.reverse.tcp_flags), r.reverse.tos, r.reverse.ingress_interface);
    }
    for (std::size_t i = 0; i < elements.size(); ++i) {
      if (!fields_.chosen.test(i)) continue;
      const auto& e = elements[i];
      if (!exporter::carries(e, r.key.ip_version)) continue;
      const std::string value = exporter::render_value(e, r);
      row += fmt::format(" {}={}", e.alias.empty() ? e.name : e.alias, value.empty() ? "-" : value);
    }
    while (!row.empty() && row.back() == ' ') row.pop_back();
    row += '\n';
    fmt::print(out_, "{}", row);  // throws std::system_error when the output fails
    ++printed_;
  }
}

}  // namespace tapflow::probe
