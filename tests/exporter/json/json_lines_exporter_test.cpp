// -n json:PATH: one JSON object per record, every record once, the fields ctl uses; a file that
// cannot be written is counted, never thrown.
#include "exporter/json/json_lines_exporter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "exporter/exporter.h"

namespace tapflow::exporter {
namespace {

std::vector<cache::FlowRecord> records(std::uint32_t n) {
  std::vector<cache::FlowRecord> out;
  for (std::uint32_t i = 0; i < n; ++i) {
    cache::FlowRecord r;
    r.key.ip_version = i % 2 ? 6 : 4;
    r.key.source_address[0] = i % 2 ? 0x20 : 10;
    r.key.source_address[3] = static_cast<std::uint8_t>(i);
    r.key.destination_address[0] = i % 2 ? 0xfd : 192;
    r.key.source_port = static_cast<std::uint16_t>(1000 + i);
    r.key.destination_port = 443;
    r.key.protocol = 6;
    r.packets = i + 1;
    r.octets = 100 * (i + 1);
    r.first_ns = 1'700'000'000'123'000'000ull;
    r.last_ns = r.first_ns + 5'000'000'000ull;
    r.tcp_flags = 0x12;
    r.end_reason = cache::FlowEndReason::kEndOfFlow;
    out.push_back(r);
  }
  return out;
}

TEST(JsonLinesExporter, OneObjectPerRecordWithTheCtlFieldNames) {
  char path[] = "/tmp/tapflow-json-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  ExportOptions options;
  auto e = make_exporter(std::string("json:") + path, options);
  const auto in = records(5000);  // several 64 KiB writes
  e->export_records(in);
  e->close();
  EXPECT_EQ(e->counters().records, 5000u);
  EXPECT_GT(e->counters().messages, 1u);
  EXPECT_EQ(e->counters().records_unsent, 0u);
  std::ifstream file(path);
  std::string line;
  std::uint64_t n = 0, packets = 0;
  while (std::getline(file, line)) {
    const auto j = nlohmann::json::parse(line);
    packets += j["packets"].get<std::uint64_t>();
    if (n == 0) {
      EXPECT_EQ(j["source"], "10.0.0.0");
      EXPECT_EQ(j["destination"], "192.0.0.0");
      EXPECT_EQ(j["source_port"], 1000);
      EXPECT_EQ(j["destination_port"], 443);
      EXPECT_EQ(j["protocol"], 6);
      EXPECT_EQ(j["protocol_name"], "TCP");
      EXPECT_EQ(j["first_ms"], 1'700'000'000'123ull);
      EXPECT_EQ(j["last_ms"], 1'700'000'005'123ull);
      EXPECT_EQ(j["end_reason"], "end of flow");
      EXPECT_TRUE(j.contains("tcp_flags") && j.contains("tos") && j.contains("ingress_interface"));
    }
    if (n == 1) {
      EXPECT_EQ(j["source"], "2000:1::");  // bytes 0x20 0x00 0x00 0x01
    }
    ++n;
  }
  EXPECT_EQ(n, 5000u);
  EXPECT_EQ(packets, 5000u * 5001u / 2);
  unlink(path);
}

TEST(JsonLinesExporter, AnUnwritableFileIsCountedNotThrown) {
  ExportOptions options;
  auto e = make_exporter("json:/dev/full", options);
  e->export_records(records(10));
  e->close();
  EXPECT_EQ(e->counters().records, 10u);
  EXPECT_EQ(e->counters().records_unsent, 10u);
  EXPECT_EQ(e->counters().send_errors, 1u);
  EXPECT_THROW(make_exporter("json:", options), std::runtime_error);
}

}  // namespace
}  // namespace tapflow::exporter
