#include "probe/flow_printer.h"

#include <arpa/inet.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <chrono>
#include <system_error>

#include "cache/log.h"

namespace tapflow::probe {

std::string format_address(const std::array<std::uint8_t, 16>& address, bool ipv6) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ipv6 ? AF_INET6 : AF_INET, address.data(), text, sizeof text);
  return text;
}

std::string format_tcp_flags(std::uint8_t flags) {
  static constexpr char kNames[] = "CEUAPRSF";  // bit 7 .. bit 0
  std::string s(8, '.');
  for (int bit = 0; bit < 8; ++bit) {
    if (flags & (1u << (7 - bit))) s[static_cast<std::size_t>(bit)] = kNames[bit];
  }
  return s;
}

namespace {
std::string protocol_name(std::uint8_t protocol) {
  switch (protocol) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 47: return "GRE";
    case 50: return "ESP";
    case 58: return "ICMP6";
    case 132: return "SCTP";
    default: return std::to_string(protocol);
  }
}

std::string endpoint(const std::array<std::uint8_t, 16>& address, bool ipv6, std::uint16_t port) {
  return ipv6 ? fmt::format("[{}]:{}", format_address(address, true), port)
              : fmt::format("{}:{}", format_address(address, false), port);
}

std::string format_time(std::uint64_t ns) {
  const std::chrono::sys_time<std::chrono::milliseconds> t{std::chrono::milliseconds(ns / 1'000'000)};
  return fmt::format("{:%Y-%m-%d %H:%M:%S}", t);
}
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

void FlowPrinter::print_rows(std::span<const cache::FlowRecord> records) {
  if (!header_printed_) {
    fmt::print(out_, "{:<23} {:>9} {:<5} {:>45}    {:<45} {:>9} {:>12} {:<8} {:>3} {:>3} {}\n",
               "first seen (UTC)", "duration", "proto", "source", "destination", "packets",
               "octets", "flags", "tos", "if", "end reason");
    header_printed_ = true;
  }
  for (const auto& r : records) {
    const bool v6 = r.key.is_ipv6();
    fmt::print(out_, "{:<23} {:>9.3f} {:<5} {:>45} -> {:<45} {:>9} {:>12} {:<8} {:>3} {:>3} {}\n",
               format_time(r.first_ns), static_cast<double>(r.last_ns - r.first_ns) / 1e9,
               protocol_name(r.key.protocol),
               endpoint(r.key.source_address, v6, r.key.source_port),
               endpoint(r.key.destination_address, v6, r.key.destination_port), r.packets,
               r.octets, format_tcp_flags(r.tcp_flags), r.key.tos, r.key.ingress_interface,
               cache::to_string(r.end_reason));
    ++printed_;
  }
}

}  // namespace tapflow::probe
