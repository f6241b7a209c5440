// NetflowV5Encoder and NetflowV9Encoder against bytes worked out by hand (flow-tools' ftpdu_v5 /
// ftrec_v5 layout; RFC 3954 §5-§6), the 30-record and MTU limits, 32-bit counter splitting,
// sequence numbers and header Count, and the sampling announcements.
#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "exporter/netflow_v5/netflow_v5_encoder.h"
#include "exporter/netflow_v9/netflow_v9_encoder.h"

namespace tapflow::exporter {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;
// sysUpTime zero point: 1699999000 s. Export clock: 1700000002.5 s.
constexpr std::uint64_t kSystemStart = 1'699'999'000 * kSecond;
constexpr std::uint64_t kExportNs = 1'700'000'002 * kSecond + 500'000'000;

cache::FlowRecord ipv4_record() {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  const std::uint8_t source[] = {10, 0, 0, 1};
  const std::uint8_t destination[] = {192, 168, 1, 2};
  std::memcpy(r.key.source_address.data(), source, 4);
  std::memcpy(r.key.destination_address.data(), destination, 4);
  r.key.source_port = 49152;     // 0xc000
  r.key.destination_port = 443;  // 0x01bb
  r.key.protocol = 6;
  r.key.tos = 0x28;
  r.key.ingress_interface = 7;
  r.packets = 3;
  r.octets = 0x1234;
  r.first_ns = 1'700'000'000'123'456'789;  // uptime 1000123 ms = 0x000f42bb
  r.last_ns = 1'700'000'001'456'000'000;   // uptime 1001456 ms = 0x000f47f0
  r.tcp_flags = 0x1b;
  r.min_ttl = 60;
  r.max_ttl = 64;
  r.end_reason = cache::FlowEndReason::kEndOfFlow;
  return r;
}

cache::FlowRecord ipv6_record() {
  cache::FlowRecord r = ipv4_record();
  r.key.ip_version = 6;
  r.key.source_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  r.key.destination_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  return r;
}

std::vector<std::uint8_t> to_vector(std::span<const std::uint8_t> s) { return {s.begin(), s.end()}; }

std::uint32_t u32_at(const std::vector<std::uint8_t>& m, std::size_t offset) {
  return std::uint32_t{m[offset]} << 24 | std::uint32_t{m[offset + 1]} << 16 |
         std::uint32_t{m[offset + 2]} << 8 | m[offset + 3];
}

TEST(NetflowV5Encoder, OneRecordMatchesTheV5Layout) {
  NetflowV5Encoder encoder(1, 2, 1472, {cache::SamplingMode::kDeterministic, 100});
  encoder.begin_message(kExportNs, kSystemStart);
  ASSERT_EQ(encoder.add_record(ipv4_record()), NetflowV5Encoder::AddResult::kAdded);
  const auto m = to_vector(encoder.finish_message());
  const std::vector<std::uint8_t> expected = {
      // Header: version 5, count 1, sysUpTime 1002500 ms (export clock - system start),
      // unix_secs 1700000002, unix_nsecs 500000000, flow_sequence 0, engine type 1, id 2,
      // sampling: mode 1 (deterministic) << 14 | interval 100 = 0x4064.
      0x00, 0x05, 0x00, 0x01, 0x00, 0x0f, 0x4c, 0x04, 0x65, 0x53, 0xf1, 0x02,
      0x1d, 0xcd, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x40, 0x64,
      // Record: srcaddr, dstaddr, nexthop 0, input 7, output 0, dPkts 3, dOctets 0x1234,
      // First 1000123, Last 1001456, srcport, dstport, pad, tcp_flags, prot, tos,
      // src_as, dst_as, src_mask, dst_mask, pad (all 0).
      0x0a, 0x00, 0x00, 0x01, 0xc0, 0xa8, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x12, 0x34,
      0x00, 0x0f, 0x42, 0xbb, 0x00, 0x0f, 0x47, 0xf0, 0xc0, 0x00, 0x01, 0xbb,
      0x00, 0x1b, 0x06, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  EXPECT_EQ(m, expected);
}

TEST(NetflowV5Encoder, ThirtyRecordsPerDatagramAndFlowSequenceCountsRecordsBefore) {
  NetflowV5Encoder encoder(0, 0, 1472);
  EXPECT_EQ(encoder.max_records(), 30u);
  std::vector<std::vector<std::uint8_t>> messages;
  encoder.begin_message(kExportNs, kSystemStart);
  for (int i = 0; i < 70; ++i) {
    if (encoder.add_record(ipv4_record()) == NetflowV5Encoder::AddResult::kMessageFull) {
      messages.push_back(to_vector(encoder.finish_message()));
      encoder.begin_message(kExportNs, kSystemStart);
      ASSERT_EQ(encoder.add_record(ipv4_record()), NetflowV5Encoder::AddResult::kAdded);
    }
  }
  messages.push_back(to_vector(encoder.finish_message()));
  ASSERT_EQ(messages.size(), 3u);
  const std::uint32_t counts[] = {30, 30, 10};
  const std::uint32_t sequences[] = {0, 30, 60};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(messages[i].size(), 24 + 48 * counts[i]);
    EXPECT_EQ(messages[i][3], counts[i]);
    EXPECT_EQ(u32_at(messages[i], 16), sequences[i]);
  }
  EXPECT_EQ(encoder.flow_sequence(), 70u);
}

TEST(NetflowV5Encoder, FewerRecordsUnderASmallMtu) {
  // 576 - 28 = 548 octets: (548 - 24) / 48 = 10 records.
  NetflowV5Encoder encoder(0, 0, 548);
  EXPECT_EQ(encoder.max_records(), 10u);
  EXPECT_THROW(NetflowV5Encoder(0, 0, 71), std::invalid_argument);
}

TEST(NetflowV5Encoder, Ipv6IsUnexportable) {
  NetflowV5Encoder encoder(0, 0, 1472);
  encoder.begin_message(kExportNs, kSystemStart);
  EXPECT_EQ(encoder.add_record(ipv6_record()), NetflowV5Encoder::AddResult::kUnexportable);
  EXPECT_EQ(encoder.records_in_message(), 0u);
}

TEST(NetflowV5Encoder, SamplingBitsAndTheFourteenBitLimit) {
  for (const auto& [sampling, field] :
       std::vector<std::pair<cache::SamplingConfig, std::uint16_t>>{{{cache::SamplingMode::kNone, 1}, 0x0000},
                                                       {{cache::SamplingMode::kDeterministic, 1}, 0x4001},
                                                       {{cache::SamplingMode::kRandom, 16383}, 0xbfff}}) {
    NetflowV5Encoder encoder(0, 0, 1472, sampling);
    encoder.begin_message(kExportNs, kSystemStart);
    encoder.add_record(ipv4_record());
    const auto m = to_vector(encoder.finish_message());
    EXPECT_EQ(m[22] << 8 | m[23], field);
  }
  EXPECT_THROW(NetflowV5Encoder(0, 0, 1472, {cache::SamplingMode::kRandom, 16384}),
               std::invalid_argument);
  EXPECT_THROW(NetflowV5Encoder(0, 0, 1472, {cache::SamplingMode::kDeterministic, 0}),
               std::invalid_argument);
}

TEST(NetflowV5Encoder, TimesBeforeTheSystemStartClampToZero) {
  NetflowV5Encoder encoder(0, 0, 1472);
  encoder.begin_message(kExportNs, kExportNs);  // the system started after the flow
  encoder.add_record(ipv4_record());
  const auto m = to_vector(encoder.finish_message());
  EXPECT_EQ(u32_at(m, 4), 0u);        // sysUpTime
  EXPECT_EQ(u32_at(m, 24 + 24), 0u);  // First
  EXPECT_EQ(u32_at(m, 24 + 28), 0u);  // Last
}

TEST(NetflowV5Encoder, SplitsCountersAboveThirtyTwoBitsWithoutLoss) {
  NetflowV5Encoder encoder(0, 0, 1472);
  auto r = ipv4_record();
  r.packets = 5'000'000'000;   // 2 pieces of 2.5 G
  r.octets = 10'000'000'001;   // 3 pieces: 3333333334 + 3333333334 + 3333333333
  r.key.ingress_interface = 70000;  // wider than v5's 16 bits: clamped to 65535
  encoder.begin_message(kExportNs, kSystemStart);
  ASSERT_EQ(encoder.add_record(r), NetflowV5Encoder::AddResult::kAdded);
  const auto m = to_vector(encoder.finish_message());
  ASSERT_EQ(m[3], 3);
  std::uint64_t packets = 0;
  std::uint64_t octets = 0;
  for (int i = 0; i < 3; ++i) {
    packets += u32_at(m, 24 + 48 * i + 16);
    octets += u32_at(m, 24 + 48 * i + 20);
    EXPECT_EQ(m[24 + 48 * i + 12] << 8 | m[24 + 48 * i + 13], 0xffff);
  }
  EXPECT_EQ(packets, r.packets);
  EXPECT_EQ(octets, r.octets);
  EXPECT_EQ(encoder.split_flows(), 1u);
  EXPECT_EQ(encoder.clamped_records(), 1u);
  EXPECT_EQ(encoder.flow_sequence(), 3u);
}

TEST(NetflowV5Encoder, ASplitFlowThatDoesNotFitStartsTheNextDatagram) {
  NetflowV5Encoder encoder(0, 0, 1472);
  encoder.begin_message(kExportNs, kSystemStart);
  for (int i = 0; i < 29; ++i) encoder.add_record(ipv4_record());
  auto big = ipv4_record();
  big.octets = 5'000'000'000;
  EXPECT_EQ(encoder.add_record(big), NetflowV5Encoder::AddResult::kMessageFull);
  EXPECT_EQ(encoder.records_in_message(), 29u);
}

// NetFlow v9, source id 5, deterministic 1-in-100 sampling, one IPv4 record, first packet.
TEST(NetflowV9Encoder, TemplatesOptionsAndOneRecordMatchRfc3954Layout) {
  NetflowV9Encoder encoder(5, 1472, {cache::SamplingMode::kDeterministic, 100});
  encoder.begin_message(true, kExportNs, kSystemStart);
  ASSERT_EQ(encoder.add_record(ipv4_record()), NetflowV9Encoder::AddResult::kAdded);
  const auto m = to_vector(encoder.finish_message());
  std::vector<std::uint8_t> expected = {
      // Header (§5.1): version 9, Count 5 = 2 templates + 1 options template + 1 options record
      // + 1 data record, sysUpTime 1003000 ms (to the export time 1700000002.5 rounded up to
      // the second, so unix_secs * 1000 - sysUpTime is the system start exactly and no record
      // ends after it), unix_secs 1700000003, sequence 0 (packets before), source id 5.
      0x00, 0x09, 0x00, 0x05, 0x00, 0x0f, 0x4d, 0xf8, 0x65, 0x53, 0xf1, 0x03,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
      // Template FlowSet (§5.2): id 0, length 4 + 2 * (4 + 17 * 4) = 148.
      0x00, 0x00, 0x00, 0x94,
      0x01, 0x00, 0x00, 0x11,  // template 256, 17 fields
      0x00, 0x08, 0x00, 0x04, 0x00, 0x0c, 0x00, 0x04,  // IPV4_SRC_ADDR, IPV4_DST_ADDR
      0x00, 0x07, 0x00, 0x02, 0x00, 0x0b, 0x00, 0x02,  // L4_SRC_PORT, L4_DST_PORT
      0x00, 0x04, 0x00, 0x01, 0x00, 0x05, 0x00, 0x01,  // PROTOCOL, SRC_TOS
      0x00, 0x06, 0x00, 0x01, 0x00, 0x20, 0x00, 0x02,  // TCP_FLAGS (one octet), ICMP_TYPE
      0x00, 0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x08,  // IN_PKTS, IN_BYTES: 64 bits
      0x00, 0x16, 0x00, 0x04, 0x00, 0x15, 0x00, 0x04,  // FIRST_SWITCHED, LAST_SWITCHED
      0x00, 0x88, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x04,  // flowEndReason, INPUT_SNMP
      0x00, 0x34, 0x00, 0x01, 0x00, 0x35, 0x00, 0x01,  // MIN_TTL, MAX_TTL
      0x00, 0x3c, 0x00, 0x01,                          // IP_PROTOCOL_VERSION
      0x01, 0x01, 0x00, 0x11,  // template 257: IPV6_SRC_ADDR, IPV6_DST_ADDR, then the same
      0x00, 0x1b, 0x00, 0x10, 0x00, 0x1c, 0x00, 0x10,
      0x00, 0x07, 0x00, 0x02, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x04, 0x00, 0x01,
      0x00, 0x05, 0x00, 0x01, 0x00, 0x06, 0x00, 0x01, 0x00, 0x20, 0x00, 0x02, 0x00, 0x02, 0x00, 0x08,
      0x00, 0x01, 0x00, 0x08, 0x00, 0x16, 0x00, 0x04, 0x00, 0x15, 0x00, 0x04,
      0x00, 0x88, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x04, 0x00, 0x34, 0x00, 0x01,
      0x00, 0x35, 0x00, 0x01, 0x00, 0x3c, 0x00, 0x01,
      // Options template FlowSet (§6.1): id 1, length 22 padded to 24; template 258, scope
      // length 4, option length 8; scope System (1) 4 octets, SAMPLING_INTERVAL (34) 4,
      // SAMPLING_ALGORITHM (35) 1; 2 octets of padding.
      0x00, 0x01, 0x00, 0x18, 0x01, 0x02, 0x00, 0x04, 0x00, 0x08,
      0x00, 0x01, 0x00, 0x04, 0x00, 0x22, 0x00, 0x04, 0x00, 0x23, 0x00, 0x01, 0x00, 0x00,
      // Options data FlowSet 258: source id 5, interval 100, algorithm 1 (deterministic),
      // padded from 13 to 16.
      0x01, 0x02, 0x00, 0x10, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x64, 0x01,
      0x00, 0x00, 0x00,
      // Data FlowSet 256: 49-octet record padded to 52, length 56.
      0x01, 0x00, 0x00, 0x38,
      0x0a, 0x00, 0x00, 0x01, 0xc0, 0xa8, 0x01, 0x02, 0xc0, 0x00, 0x01, 0xbb, 0x06, 0x28, 0x1b,
      0x00, 0x00,                                      // ICMP_TYPE: 0, not ICMP
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,  // packets
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34,  // octets
      0x00, 0x0f, 0x42, 0xbb, 0x00, 0x0f, 0x47, 0xf0,  // FIRST/LAST_SWITCHED
      0x03, 0x00, 0x00, 0x00, 0x07, 0x3c, 0x40, 0x04,  // end reason, input, TTLs, version
      0x00, 0x00, 0x00,                                // padding
  };
  EXPECT_EQ(m, expected);
}

TEST(NetflowV9Encoder, SequenceCountsPacketsAndCountCountsRecords) {
  NetflowV9Encoder encoder(9, 1472);
  encoder.begin_message(true, kExportNs, kSystemStart);
  encoder.add_record(ipv4_record());
  encoder.add_record(ipv6_record());
  const auto first = to_vector(encoder.finish_message());
  EXPECT_EQ(first[3], 2 + 2);  // two templates, no options (no sampling), two records
  encoder.begin_message(false, kExportNs, kSystemStart);
  for (int i = 0; i < 5; ++i) encoder.add_record(ipv4_record());
  const auto second = to_vector(encoder.finish_message());
  EXPECT_EQ(second[3], 5);
  EXPECT_EQ(u32_at(first, 12), 0u);
  EXPECT_EQ(u32_at(second, 12), 1u);  // one packet before, whatever it held
  EXPECT_EQ(encoder.sequence_number(), 2u);
  // Every FlowSet length is a multiple of 4.
  for (const auto* m : {&first, &second}) {
    std::size_t offset = 20;
    while (offset < m->size()) {
      const std::size_t length = (*m)[offset + 2] << 8 | (*m)[offset + 3];
      EXPECT_EQ(length % 4, 0u);
      ASSERT_GE(length, 4u);
      offset += length;
    }
    EXPECT_EQ(offset, m->size());
    EXPECT_EQ(m->size() % 4, 0u);
  }
}

TEST(NetflowV9Encoder, FillsToTheMtuWithPaddingIncluded) {
  NetflowV9Encoder encoder(0, 548);
  encoder.begin_message(false, kExportNs, kSystemStart);
  int added = 0;
  while (encoder.add_record(ipv4_record()) == NetflowV9Encoder::AddResult::kAdded) ++added;
  // (548 - 20 - 4 - 3 padding) / 49 = 10.
  EXPECT_EQ(added, 10);
  EXPECT_LE(encoder.finish_message().size(), 548u);
  EXPECT_THROW(NetflowV9Encoder(0, 200), std::invalid_argument);
}

TEST(NetflowV9Encoder, RandomSamplingIsAlgorithmTwo) {
  NetflowV9Encoder encoder(5, 1472, {cache::SamplingMode::kRandom, 512});
  encoder.begin_message(true, kExportNs, kSystemStart);
  encoder.add_record(ipv4_record());
  const auto m = to_vector(encoder.finish_message());
  // Options data FlowSet after the header (20), template FlowSet (148) and options template (24).
  const std::size_t data = 20 + 148 + 24;
  EXPECT_EQ(m[data] << 8 | m[data + 1], 258);
  EXPECT_EQ(u32_at(m, data + 8), 512u);
  EXPECT_EQ(m[data + 12], 2);
}

}  // namespace
}  // namespace tapflow::exporter
