#include "probe/flow_printer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "probe/probe_stats.h"

namespace tapflow::probe {
namespace {

std::vector<std::string> table(const std::vector<cache::FlowRecord>& records, const exporter::TemplateSpec& fields = {}) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  {
    FlowPrinter printer(out);
    printer.set_fields(fields);
    printer.print(records);
  }
  std::fclose(out);
  std::istringstream in(std::string(buffer, size));
  std::free(buffer);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The widest IPv4 row there is: every address part and port at its longest, a 1000 s flow,
// ten million packets, the longest end reason.
TEST(FlowPrinter, AnIpv4TableFitsIn140Columns) {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  r.key.protocol = 58;  // the longest protocol name, ICMPv6
  r.key.source_address = {255, 255, 255, 255};
  r.key.destination_address = {255, 255, 255, 254};
  r.key.source_port = 65535;
  r.key.destination_port = 65534;
  r.key.tos = 255;
  r.key.ingress_interface = 999;
  r.first_ns = 1'500'000'000'000'000'000ull;
  r.last_ns = r.first_ns + 1000'000'000'000ull;
  r.packets = 9'999'999;
  r.octets = 9'999'999'999;
  r.end_reason = cache::FlowEndReason::kLackOfResources;
  const auto lines = table({r});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_LE(lines[0].size(), 140u) << lines[0];
  EXPECT_LE(lines[1].size(), 140u) << lines[1];
  // The header's columns end where the row's do.
  EXPECT_EQ(lines[0].find("end reason"), lines[1].find("lack of resources"));
  EXPECT_EQ(lines[0].find("packets") + 7, lines[1].find("9999999") + 7);
}

// IPv6 rows have their own, wider endpoint columns, the same for every IPv6 row.
TEST(FlowPrinter, Ipv6RowsAlignAmongThemselves) {
  cache::FlowRecord a;
  a.key.ip_version = 6;
  a.key.source_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  a.key.destination_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  cache::FlowRecord b = a;
  b.key.source_address[15] = 0xff;
  b.key.source_address[4] = 0x12;
  const auto lines = table({a, b});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].size(), lines[2].size());
  EXPECT_EQ(lines[1].find(" -> "), lines[2].find(" -> "));
}

// --decap: a tunnel column (type:id, "-" through no tunnel), then the chosen fields.
TEST(FlowPrinter, DecapAddsATunnelColumn) {
  cache::FlowRecord inner;
  inner.key.ip_version = 4;
  inner.key.tunnel_type = static_cast<std::uint8_t>(cache::TunnelType::kVxlan);
  inner.key.tunnel_id = 100;
  inner.extras.first.tunnel_ip_version = 4;
  inner.extras.first.tunnel_source = {192, 0, 2, 1};
  cache::FlowRecord outer;
  outer.key.ip_version = 4;
  exporter::TemplateSpec spec;
  spec.features = exporter::kTunnelFeature;
  auto lines = table({inner, outer}, spec);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("tunnel"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("vxlan:100"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].substr(lines[2].size() - 2), " -") << lines[2];
  std::string error;
  spec.chosen = *exporter::parse_field_list("tunnel-src", error);
  lines = table({inner, outer}, spec);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[1].find("vxlan:100" + std::string(8, ' ') + "tunnel-src=192.0.2.1"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find(" -" + std::string(16, ' ') + "tunnel-src=-"), std::string::npos) << lines[2];
}

// Nested rows (per verdict, per expiry reason) end their counts in the same column as the rows
// they detail.
TEST(Summary, NestedRowsAlignWithTheirParents) {
  ProbeStats s;
  s.packets_read = 1234567;
  s.verdicts[0] = 1234000;
  s.verdicts[static_cast<std::size_t>(DecodeVerdict::kTruncatedLinkLayer)] = 567;
  s.cache.flows_created = 4000;
  s.cache.expired[static_cast<int>(cache::FlowEndReason::kIdleTimeout)] = 3000;
  s.cache.expired[static_cast<int>(cache::FlowEndReason::kLackOfResources)] = 1000;
  std::istringstream in(format_summary(s));
  std::vector<std::size_t> ends;
  std::string line;
  std::getline(in, line);  // the title
  while (std::getline(in, line)) {
    if (line.find("capture on") != std::string::npos || line.find("export to") != std::string::npos) continue;
    const auto notes = line.find("  (", 4);
    const std::string counted = line.substr(0, notes);
    ends.push_back(counted.find_last_of("0123456789") + 1);
  }
  ASSERT_GE(ends.size(), 8u);
  for (std::size_t e : ends) EXPECT_EQ(e, ends[0]) << format_summary(s);
}

}  // namespace
}  // namespace tapflow::probe
