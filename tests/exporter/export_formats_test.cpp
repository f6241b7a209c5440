// The exporter in each format end to end with an injected clock and transport: encoder ->
// MessageDecoder round trips for v5, v9 and IPFIX; template refresh by time and by packet count;
// the sampling and reliability statistics options records; close(), reopen() and the system
// start; and malformed v5/v9 input to the decoder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "probe/collect/collector.h"
#include "exporter/decoded_record.h"
#include "exporter/exporter.h"
#include "exporter/ipfix/ipfix_file_reader.h"
#include "exporter/message_decoder.h"
#include "exporter/message_exporter.h"

namespace tapflow::exporter {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
constexpr std::uint64_t kMs = 1'000'000;

cache::FlowRecord make_record(std::uint8_t ip_version, std::uint32_t n) {
  cache::FlowRecord r;
  r.key.ip_version = ip_version;
  r.key.source_address[0] = ip_version == 4 ? 10 : 0x20;
  r.key.source_address[2] = static_cast<std::uint8_t>(n >> 8);
  r.key.source_address[3] = static_cast<std::uint8_t>(n);
  r.key.destination_address[0] = ip_version == 4 ? 192 : 0xfd;
  r.key.source_port = static_cast<std::uint16_t>(n);
  r.key.destination_port = 80;
  r.key.protocol = 6;
  r.key.tos = 4;
  r.key.ingress_interface = 3;
  r.packets = n + 1;
  r.octets = 40 * (n + 1);
  r.first_ns = 1'700'000'000 * kSecond + 123 * kMs + 456;  // sub-ms part is not exported
  r.last_ns = r.first_ns + n * kMs;
  r.tcp_flags = 0x12;
  r.end_reason = cache::FlowEndReason::kActiveTimeout;
  return r;
}

std::vector<cache::FlowRecord> make_records(std::size_t count, bool with_ipv6 = true) {
  std::vector<cache::FlowRecord> records;
  for (std::uint32_t i = 0; i < count; ++i) {
    records.push_back(make_record(with_ipv6 && i % 5 == 4 ? 6 : 4, i));
  }
  return records;
}

class RecordingTransport final : public Transport {
 public:
  struct State {
    std::vector<std::vector<std::uint8_t>> messages;
    int reopens = 0;
  };
  RecordingTransport(State& state, bool periodic) : state_(state), periodic_(periodic) {}
  SendResult send(std::span<const std::uint8_t> message) override {
    state_.messages.emplace_back(message.begin(), message.end());
    return SendResult::kSent;
  }
  void flush() override {}
  std::size_t max_message_size(std::size_t mtu) const override { return mtu - 28; }
  bool periodic_templates() const override { return periodic_; }
  bool reopen() override {
    ++state_.reopens;
    return !periodic_;  // behaves like a file when not periodic
  }
  const std::string& description() const override { return name_; }

 private:
  State& state_;
  bool periodic_;
  std::string name_ = "recording";
};

template <typename Exporter>
struct Harness {
  RecordingTransport::State state;
  std::uint64_t now_ns = 1'700'000'100 * kSecond;
  std::unique_ptr<Exporter> exporter;
  explicit Harness(ExportOptions options = {}, bool periodic = true) {
    exporter = std::make_unique<Exporter>(std::make_unique<RecordingTransport>(state, periodic),
                                          options, [this] { return now_ns; }, "test");
    exporter->set_system_start(1'699'999'000 * kSecond);
  }
  void send(const std::vector<cache::FlowRecord>& records) {
    exporter->export_records(records);
    exporter->flush();
  }
  // Decodes every message sent so far with one decoder; fails on malformed messages or gaps.
  std::vector<DecodedRecord> decode(std::vector<DecodedOptionsRecord>* options = nullptr) {
    MessageDecoder decoder;
    std::vector<DecodedRecord> out;
    for (const auto& m : state.messages) {
      const auto s = decoder.decode(m, "h", out);
      EXPECT_FALSE(s.malformed) << s.reason;
      EXPECT_FALSE(s.gap) << s.gap->expected << " " << s.gap->got;
      if (options != nullptr) options->insert(options->end(), s.options.begin(), s.options.end());
    }
    return out;
  }
};

void expect_same_flow(const DecodedRecord& got, const cache::FlowRecord& want) {
  EXPECT_EQ(got.flow.key.source_address, want.key.source_address);
  EXPECT_EQ(got.flow.key.destination_address, want.key.destination_address);
  EXPECT_EQ(got.flow.key.source_port, want.key.source_port);
  EXPECT_EQ(got.flow.key.destination_port, want.key.destination_port);
  EXPECT_EQ(got.flow.key.protocol, want.key.protocol);
  EXPECT_EQ(got.flow.key.tos, want.key.tos);
  EXPECT_EQ(got.flow.key.ingress_interface, want.key.ingress_interface);
  EXPECT_EQ(got.flow.packets, want.packets);
  EXPECT_EQ(got.flow.octets, want.octets);
  EXPECT_EQ(got.flow.tcp_flags, want.tcp_flags);
  // Milliseconds survive every format, anchored through sysUpTime for v5 and v9.
  EXPECT_EQ(got.flow.first_ns, want.first_ns / kMs * kMs);
  EXPECT_EQ(got.flow.last_ns, want.last_ns / kMs * kMs);
}

TEST(ExportFormats, NetflowV5RoundTripCountsIpv6Unexportable) {
  ExportOptions options;
  options.version = 5;
  options.sampling = {cache::SamplingMode::kRandom, 64};
  Harness<NetflowV5Exporter> h(options);
  const auto records = make_records(100);
  h.send(records);
  std::vector<DecodedOptionsRecord> decoded_options;
  const auto out = h.decode(&decoded_options);
  std::vector<cache::FlowRecord> ipv4;
  for (const auto& r : records) {
    if (r.key.ip_version == 4) ipv4.push_back(r);
  }
  ASSERT_EQ(out.size(), ipv4.size());
  for (std::size_t i = 0; i < out.size(); ++i) expect_same_flow(out[i], ipv4[i]);
  const auto& c = h.exporter->counters();
  EXPECT_EQ(c.records, 80u);
  EXPECT_EQ(c.unexportable, 20u);
  EXPECT_EQ(c.messages, 3u);  // 30 + 30 + 20
  ASSERT_FALSE(decoded_options.empty());
  EXPECT_EQ(format_options_record(decoded_options[0]),
            "options: sampling interval 64 algorithm random");
}

TEST(ExportFormats, NetflowV9RoundTripWithSamplingOptions) {
  ExportOptions options;
  options.version = 9;
  options.observation_domain_id = 42;
  options.sampling = {cache::SamplingMode::kDeterministic, 100};
  Harness<NetflowV9Exporter> h(options);
  const auto records = make_records(200);
  h.send(records);
  std::vector<DecodedOptionsRecord> decoded_options;
  const auto out = h.decode(&decoded_options);
  ASSERT_EQ(out.size(), records.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    expect_same_flow(out[i], records[i]);
    EXPECT_EQ(out[i].version, 9);
    EXPECT_EQ(out[i].observation_domain_id, 42u);
    EXPECT_EQ(out[i].flow.min_ttl, records[i].min_ttl);
    EXPECT_EQ(out[i].flow.end_reason, records[i].end_reason);
  }
  ASSERT_EQ(decoded_options.size(), 1u);
  EXPECT_EQ(format_options_record(decoded_options[0]),
            "options: sampling interval 100 algorithm deterministic");
  EXPECT_EQ(h.exporter->counters().options_records, 1u);
}

TEST(ExportFormats, NetflowV9TemplatesByPacketCountAndByTime) {
  ExportOptions options;
  options.version = 9;
  options.template_refresh_packets = 3;
  options.template_refresh_interval_s = 600;
  Harness<NetflowV9Exporter> h(options);
  for (int i = 0; i < 7; ++i) h.send(make_records(1));
  h.now_ns += 600 * kSecond;
  h.send(make_records(1));
  h.send(make_records(1));
  ASSERT_EQ(h.state.messages.size(), 9u);
  std::vector<bool> with_templates;
  for (const auto& m : h.state.messages) with_templates.push_back(m[20] == 0 && m[21] == 0);
  EXPECT_EQ(with_templates,
            (std::vector<bool>{true, false, false, true, false, false, true, true, false}));
  EXPECT_EQ(h.exporter->counters().template_sets, 4u);
  h.decode();
}

TEST(ExportFormats, NetflowV9TemplatesByTimeOnlyWhenPacketCountIsZero) {
  ExportOptions options;
  options.version = 9;
  options.template_refresh_packets = 0;
  Harness<NetflowV9Exporter> h(options);
  for (int i = 0; i < 50; ++i) h.send(make_records(1));
  EXPECT_EQ(h.exporter->counters().template_sets, 1u);
}

TEST(ExportFormats, FilesGetTemplatesAtTheStartAndAfterAReopen) {
  ExportOptions options;
  options.version = 9;
  options.template_refresh_packets = 2;
  Harness<NetflowV9Exporter> h(options, /*periodic=*/false);
  h.send(make_records(1));
  h.send(make_records(1));
  h.send(make_records(1));
  h.exporter->reopen();
  h.send(make_records(1));
  h.send(make_records(1));
  EXPECT_EQ(h.state.reopens, 1);
  std::vector<bool> with_templates;
  for (const auto& m : h.state.messages) with_templates.push_back(m[20] == 0 && m[21] == 0);
  EXPECT_EQ(with_templates, (std::vector<bool>{true, false, false, true, false}));
}

TEST(ExportFormats, IpfixSamplingOptionsAndSelectorIdInDataRecords) {
  for (const auto mode : {cache::SamplingMode::kDeterministic, cache::SamplingMode::kRandom}) {
    ExportOptions options;
    options.observation_domain_id = 3;
    options.sampling = {mode, 100};
    options.totals = [] { return ProbeTotals{5, 700}; };
    Harness<IpfixExporter> h(options);
    const auto records = make_records(50);
    h.send(records);
    std::vector<DecodedOptionsRecord> decoded_options;
    const auto out = h.decode(&decoded_options);
    ASSERT_EQ(out.size(), records.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      expect_same_flow(out[i], records[i]);
      EXPECT_TRUE(out[i].has(ie::kSelectorId));
    }
    ASSERT_EQ(decoded_options.size(), 3u);
    const bool random = mode == cache::SamplingMode::kRandom;
    EXPECT_EQ(format_options_record(decoded_options[0]),
              std::string("options: sampling interval 100 algorithm ") +
                  (random ? "random" : "deterministic") + " selector 1");
    // RFC 5476: systematic = 1 selected, 99 skipped; random n-out-of-N = 1 out of 100.
    EXPECT_EQ(decoded_options[0].get(ie::kSelectorAlgorithm), random ? 3u : 1u);
    if (random) {
      EXPECT_EQ(decoded_options[0].get(ie::kSamplingSize), 1u);
      EXPECT_EQ(decoded_options[0].get(ie::kSamplingPopulation), 100u);
    } else {
      EXPECT_EQ(decoded_options[0].get(ie::kSamplingPacketInterval), 1u);
      EXPECT_EQ(decoded_options[0].get(ie::kSamplingPacketSpace), 99u);
    }
    EXPECT_EQ(format_options_record(decoded_options[1]),
              "options: exporting process 3 statistics: exported 0 messages 0 flow records 0 "
              "octets, not sent 0 flows 0 packets 0 octets from 2023-11-14T21:56:40.000Z to "
              "2023-11-14T22:15:00.000Z");
    EXPECT_EQ(format_options_record(decoded_options[2]),
              "options: metering process domain 3 statistics: ignored 5 packets 700 octets from "
              "2023-11-14T21:56:40.000Z to 2023-11-14T22:15:00.000Z");
  }
}

TEST(ExportFormats, IpfixCloseSendsFinalStatisticsWithTemplates) {
  ExportOptions options;
  options.totals = [] { return ProbeTotals{9, 900}; };
  Harness<IpfixExporter> h(options);
  auto records = make_records(10);
  records[2].key.ip_version = 0;  // unexportable: counted as not sent
  h.send(records);
  h.now_ns += 5 * kSecond;
  h.exporter->close();
  ASSERT_EQ(h.state.messages.size(), 2u);
  std::vector<DecodedOptionsRecord> decoded_options;
  const auto out = h.decode(&decoded_options);
  EXPECT_EQ(out.size(), 9u);
  ASSERT_EQ(decoded_options.size(), 4u);  // 2 with the first templates, 2 at close
  const auto& last = decoded_options[2];
  EXPECT_EQ(last.get(ie::kExportedMessageTotalCount), 1u);
  EXPECT_EQ(last.get(ie::kExportedFlowRecordTotalCount), 9u);
  EXPECT_EQ(last.get(ie::kExportedOctetTotalCount), h.state.messages[0].size());
  EXPECT_EQ(last.get(ie::kNotSentFlowTotalCount), 1u);
  EXPECT_EQ(last.get(ie::kNotSentPacketTotalCount), records[2].packets);
  EXPECT_EQ(last.get(ie::kNotSentOctetTotalCount), records[2].octets);
  EXPECT_EQ(last.get(ie::kObservationTimeMilliseconds, 1), 1'700'000'105'000u);
  EXPECT_EQ(decoded_options[3].get(ie::kIgnoredPacketTotalCount), 9u);
  EXPECT_EQ(h.exporter->counters().messages, 2u);
  h.exporter->close();  // once only
  EXPECT_EQ(h.state.messages.size(), 2u);
}

TEST(ExportFormats, NetflowCloseOnlyFlushes) {
  ExportOptions options;
  options.version = 9;
  Harness<NetflowV9Exporter> h(options);
  h.exporter->export_records(make_records(3));
  h.exporter->close();
  EXPECT_EQ(h.state.messages.size(), 1u);
  EXPECT_EQ(h.decode().size(), 3u);
}

TEST(ExportFormats, SystemStartAnchorsV9TimesAndMovesBackForAnEarlierFlow) {
  ExportOptions options;
  options.version = 9;
  RecordingTransport::State state;
  std::uint64_t now_ns = 1'700'000'100 * kSecond;
  NetflowV9Exporter exporter(std::make_unique<RecordingTransport>(state, true), options,
                             [&now_ns] { return now_ns; }, "t");
  // Never set: the system started when the exporter was built (1700000100 s). A flow from before
  // then cannot be given as uptime from that start: its message starts its own window, half the
  // 2^32 ms uptime range before the export time, so the flow keeps its time (never clamped to 0).
  exporter.export_records(make_records(1));
  exporter.flush();
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto s = decoder.decode(state.messages[0], "t", out);
  EXPECT_EQ(s.system_uptime_ms, (std::uint64_t{1} << 31));
  ASSERT_EQ(out.size(), 1u);
  expect_same_flow(out[0], make_records(1)[0]);
}

// v5 and v9 times are 32-bit milliseconds of uptime (49.7 days): inputs longer than that, or two
// capture files 100 days apart, still give every flow its own time.
template <typename Exporter>
void long_input_keeps_every_time(int version) {
  ExportOptions options;
  options.version = version;
  Harness<Exporter> h(options);
  h.exporter->set_system_start(1'700'000'000 * kSecond - kSecond);
  std::vector<cache::FlowRecord> want;
  // A file on day 0, a second one 100 days later (its packets' clock expires the first file's
  // flows), then a long run: a flow every 10 days up to day 160.
  auto flow = [](std::uint32_t n, std::uint64_t at) {
    auto r = make_record(4, n);
    r.first_ns = at + 123 * kMs;
    r.last_ns = r.first_ns + 5 * kSecond;
    return r;
  };
  constexpr std::uint64_t kDay = 86'400 * kSecond;
  const std::uint64_t day0 = 1'700'000'000 * kSecond;
  h.now_ns = day0 + 10 * kSecond;
  want.push_back(flow(1, day0));
  h.send({want.back()});
  h.now_ns = day0 + 100 * kDay;  // the first file's last flow expires when the second file starts
  want.push_back(flow(2, day0 + 20 * kSecond));
  want.push_back(flow(3, day0 + 100 * kDay));
  h.send({want[1], want[2]});
  for (std::uint32_t d = 110; d <= 160; d += 10) {
    h.now_ns = day0 + d * kDay + 30 * kSecond;
    want.push_back(flow(d, day0 + d * kDay));
    h.send({want.back()});
  }
  const auto got = h.decode();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(got[i].flow.first_ns, want[i].first_ns / kMs * kMs);
    EXPECT_EQ(got[i].flow.last_ns, want[i].last_ns / kMs * kMs);
  }
}

TEST(ExportFormats, NetflowV5TimesStayRightPastTheUptimeWrap) { long_input_keeps_every_time<NetflowV5Exporter>(5); }
TEST(ExportFormats, NetflowV9TimesStayRightPastTheUptimeWrap) { long_input_keeps_every_time<NetflowV9Exporter>(9); }

TEST(ExportFormats, IpfixFileReopenAppendsAndResendsTemplates) {
  const auto path = (std::filesystem::temp_directory_path() /
                     ("tapflow-reopen." + std::to_string(getpid()) + ".ipfix"))
                        .string();
  {
    auto exporter = make_exporter("file:" + path, {}, [] { return 1'700'000'000 * kSecond; });
    exporter->export_records(make_records(3));
    exporter->reopen();  // no rotation: the same file, appended to
    exporter->export_records(make_records(2));
    exporter->close();
    EXPECT_EQ(exporter->counters().template_sets, 3u);  // start, after reopen, close
  }
  const auto records = read_ipfix_file(path);
  EXPECT_EQ(records.size(), 5u);
  std::filesystem::remove(path);
}

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string text;
  char buffer[4096];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, f)) text.append(buffer, n);
  return text;
}

TEST(ExportFormats, CollectPrintsSamplingAndStatisticsOnStderr) {
  const auto path = (std::filesystem::temp_directory_path() /
                     ("tapflow-collect-options." + std::to_string(getpid()) + ".ipfix"))
                        .string();
  {
    ExportOptions options;
    options.observation_domain_id = 8;
    options.sampling = {cache::SamplingMode::kDeterministic, 100};
    auto exporter = make_exporter("file:" + path, options, [] { return 1'700'000'000 * kSecond; });
    exporter->export_records(make_records(4));
    exporter->close();
  }
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  probe::CollectorOptions c;
  c.listen = "file:" + path;
  c.handle_signals = false;
  c.out = out;
  c.err = err;
  EXPECT_EQ(probe::run_collector(c), 0);
  const auto records = read_all(out);
  const auto reports = read_all(err);
  EXPECT_EQ(std::count(records.begin(), records.end(), '\n'), 4);
  EXPECT_EQ(records.find("options"), std::string::npos);
  // Printed once although sent twice (with the first templates and at close).
  const std::string sampling = "options: sampling interval 100 algorithm deterministic selector 1";
  EXPECT_NE(reports.find(sampling), std::string::npos) << reports;
  EXPECT_EQ(reports.find(sampling), reports.rfind(sampling)) << reports;
  EXPECT_NE(reports.find("options: exporting process 8 statistics: exported 1 messages 4 flow "
                         "records"),
            std::string::npos)
      << reports;
  EXPECT_NE(reports.find("6 options records"), std::string::npos) << reports;
  std::fclose(out);
  std::fclose(err);
  std::filesystem::remove(path);
}

// Malformed NetFlow input: every case is reported with a reason and never crashes.
struct Bytes {
  std::vector<std::uint8_t> data;
  Bytes& u8(std::uint8_t v) {
    data.push_back(v);
    return *this;
  }
  Bytes& u16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v)); }
  Bytes& u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v)); }
  Bytes& zeros(std::size_t n) {
    data.insert(data.end(), n, 0);
    return *this;
  }
  Bytes& v9_header(std::uint16_t count) { return u16(9).u16(count).u32(1000).u32(1'700'000'000).u32(0).u32(1); }
};

TEST(ExportFormats, MalformedNetflowInputIsReportedWithAReason) {
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  struct Case {
    std::vector<std::uint8_t> bytes;
    const char* expected;
  };
  std::vector<Case> cases;
  cases.push_back({Bytes().u16(5).u16(1).zeros(10).data, "shorter than the 24-octet NetFlow v5"});
  cases.push_back({Bytes().u16(5).u16(0).zeros(20).data, "header count 0"});
  cases.push_back({Bytes().u16(5).u16(31).zeros(20 + 31 * 48).data, "header count 31"});
  cases.push_back({Bytes().u16(5).u16(2).zeros(20 + 48).data, "needs 120 octets"});
  cases.push_back({Bytes().u16(9).u16(1).zeros(10).data, "shorter than the 20-octet NetFlow v9"});
  cases.push_back({Bytes().v9_header(1).u16(0).u16(200).zeros(8).data, "has length 200"});
  cases.push_back({Bytes().v9_header(1).u16(0).u16(2).data, "has length 2"});
  cases.push_back({Bytes().v9_header(1).u16(0).u16(8).u16(256).u16(0).data, "no fields"});
  cases.push_back({Bytes().v9_header(1).u16(0).u16(12).u16(256).u16(3).u16(8).u16(4).data,
                   "runs past the end"});
  cases.push_back({Bytes().v9_header(1).u16(1).u16(12).u16(258).u16(3).u16(4).u16(1).u16(4).data,
                   "not multiples of 4"});
  cases.push_back({Bytes().v9_header(1).u16(0).u16(12).u16(100).u16(1).u16(8).u16(4).data,
                   "below 256"});
  cases.push_back({Bytes().v9_header(1).u16(7).u16(4).data, "reserved FlowSet id 7"});
  // A template and a 4-octet record, but the header says 5 records.
  cases.push_back({Bytes().v9_header(5).u16(0).u16(12).u16(256).u16(1).u16(8).u16(4)
                       .u16(256).u16(8).u32(0x0a000001).data,
                   "header count 5 but the packet holds 2"});
  for (const auto& c : cases) {
    const auto s = decoder.decode(c.bytes, "bad", out);
    EXPECT_TRUE(s.malformed) << c.expected;
    EXPECT_NE(s.reason.find(c.expected), std::string::npos) << s.reason;
  }
  EXPECT_EQ(decoder.counters().malformed, cases.size());
}

TEST(ExportFormats, V9DataBeforeItsTemplateIsSkippedAndCounted) {
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto s = decoder.decode(Bytes().v9_header(1).u16(300).u16(8).u32(1).data, "late", out);
  EXPECT_FALSE(s.malformed) << s.reason;
  EXPECT_EQ(s.sets_without_template, 1u);
  EXPECT_TRUE(out.empty());
}

TEST(ExportFormats, V9TemplatesAreBoundedPerSourceAndScopedBySourceId) {
  MessageDecoder decoder(4, 8);
  std::vector<DecodedRecord> out;
  for (std::uint16_t id = 256; id < 262; ++id) {
    Bytes b;
    b.v9_header(1).u16(0).u16(12).u16(id).u16(1).u16(8).u16(4);
    decoder.decode(b.data, "s", out);
  }
  EXPECT_EQ(decoder.template_count("s"), 4u);
  // The same template id from another source id is a different template.
  Bytes data;
  data.u16(9).u16(1).u32(0).u32(0).u32(0).u32(2).u16(256).u16(8).u32(0x0a000001);
  EXPECT_EQ(decoder.decode(data.data, "s", out).sets_without_template, 1u);
}

TEST(ExportFormats, V5AndV9SequenceGapsFollowEachVersionsRule) {
  ExportOptions v5;
  v5.version = 5;
  Harness<NetflowV5Exporter> h5(v5);
  for (int i = 0; i < 3; ++i) h5.send(make_records(10, false));
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  decoder.decode(h5.state.messages[0], "x", out);
  const auto s5 = decoder.decode(h5.state.messages[2], "x", out);
  ASSERT_TRUE(s5.gap);
  EXPECT_EQ(s5.gap->missing(), 10u);  // flows

  ExportOptions v9;
  v9.version = 9;
  Harness<NetflowV9Exporter> h9(v9);
  for (int i = 0; i < 4; ++i) h9.send(make_records(10));
  decoder.decode(h9.state.messages[0], "y", out);
  const auto s9 = decoder.decode(h9.state.messages[3], "y", out);
  ASSERT_TRUE(s9.gap);
  EXPECT_EQ(s9.gap->missing(), 2u);  // packets
}

}  // namespace
}  // namespace tapflow::exporter
