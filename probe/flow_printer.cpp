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

void FlowPrinter::print_rows(std::span<const cache::FlowRecord> records) {
  if (!header_printed_) {
    fmt::print(out_, "{:<23} {:>9} {:<5} {:>45}    {:<45} {:>9} {:>12} {:<8} {:>3} {:>3} {}\n",
               "first seen (UTC)", "duration", "proto", "source", "destination", "packets",
               "octets", "flags", "tos", "if", "end reason");
    header_printed_ = true;
  }
  for (const auto& r : records) {
    fmt::print(out_, "{:<23} {:>9.3f} {:<5} {:>45} -> {:<45} {:>9} {:>12} {:<8} {:>3} {:>3} {}\n",
               cache::format_time_utc(r.first_ns), static_cast<double>(r.last_ns - r.first_ns) / 1e9,
               protocol_name(r.key.protocol), format_endpoint(r.key, true), format_endpoint(r.key, false), r.packets,
               r.octets, format_tcp_flags(r.tcp_flags), r.key.tos, r.key.ingress_interface,
               cache::to_string(r.end_reason));
    ++printed_;
  }
}

}  // namespace tapflow::probe
