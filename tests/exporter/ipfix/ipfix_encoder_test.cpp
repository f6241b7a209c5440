// IpfixEncoder against bytes worked out by hand from RFC 7011, sequence numbering (§3.1) and
// message size limits.
#include "exporter/ipfix/ipfix_encoder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <vector>

namespace tapflow::exporter {
namespace {

cache::FlowRecord ipv4_record() {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  const std::uint8_t source[] = {10, 0, 0, 1};
  const std::uint8_t destination[] = {192, 168, 1, 2};
  std::memcpy(r.key.source_address.data(), source, 4);
  std::memcpy(r.key.destination_address.data(), destination, 4);
  r.key.source_port = 49152;       // 0xc000
  r.key.destination_port = 443;    // 0x01bb
  r.key.protocol = 6;
  r.key.tos = 0x28;
  r.key.ingress_interface = 7;
  r.packets = 3;
  r.octets = 0x1234;
  r.first_ns = 1'700'000'000'123'456'789;  // 1700000000123 ms = 0x18bcfe5687b
  r.last_ns = 1'700'000'001'456'000'000;   // 1700000001456 ms = 0x18bcfe56db0
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

// One IPv4 record with templates, observation domain 5, export time 0x65000000, first message.
TEST(IpfixEncoder, OneIpv4RecordMatchesRfc7011Layout) {
  IpfixEncoder encoder(5, 1472);
  encoder.begin_message(true);
  ASSERT_EQ(encoder.add_record(ipv4_record()), IpfixEncoder::AddResult::kAdded);
  const auto message = to_vector(encoder.finish_message(0x65000000));

  const std::vector<std::uint8_t> expected = {
      // Message header (RFC 7011 §3.1), 16 octets: version 10, length 16 + 140 + 60 = 216,
      // export time, sequence number 0 (no data record before), observation domain id 5.
      0x00, 0x0a, 0x00, 0xd8, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
      // Template set (§3.3.2, §3.4.1): set id 2, length 4 + 2 * (4 + 16 * 4) = 140.
      0x00, 0x02, 0x00, 0x8c,
      // Template 256, 16 fields: (IE id, length) pairs, enterprise bit clear.
      0x01, 0x00, 0x00, 0x10,
      0x00, 0x08, 0x00, 0x04,  // sourceIPv4Address
      0x00, 0x0c, 0x00, 0x04,  // destinationIPv4Address
      0x00, 0x07, 0x00, 0x02,  // sourceTransportPort
      0x00, 0x0b, 0x00, 0x02,  // destinationTransportPort
      0x00, 0x04, 0x00, 0x01,  // protocolIdentifier
      0x00, 0x05, 0x00, 0x01,  // ipClassOfService
      0x00, 0x06, 0x00, 0x02,  // tcpControlBits (unsigned16, RFC 7125)
      0x00, 0x02, 0x00, 0x08,  // packetDeltaCount
      0x00, 0x01, 0x00, 0x08,  // octetDeltaCount
      0x00, 0x98, 0x00, 0x08,  // flowStartMilliseconds (152)
      0x00, 0x99, 0x00, 0x08,  // flowEndMilliseconds (153)
      0x00, 0x88, 0x00, 0x01,  // flowEndReason (136)
      0x00, 0x0a, 0x00, 0x04,  // ingressInterface
      0x00, 0x34, 0x00, 0x01,  // minimumTTL (52)
      0x00, 0x35, 0x00, 0x01,  // maximumTTL (53)
      0x00, 0x3c, 0x00, 0x01,  // ipVersion (60)
      // Template 257: the same with sourceIPv6Address (27) and destinationIPv6Address (28).
      0x01, 0x01, 0x00, 0x10,
      0x00, 0x1b, 0x00, 0x10,
      0x00, 0x1c, 0x00, 0x10,
      0x00, 0x07, 0x00, 0x02, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x04, 0x00, 0x01, 0x00, 0x05, 0x00, 0x01,
      0x00, 0x06, 0x00, 0x02, 0x00, 0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x08, 0x00, 0x98, 0x00, 0x08,
      0x00, 0x99, 0x00, 0x08, 0x00, 0x88, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x04, 0x00, 0x34, 0x00, 0x01,
      0x00, 0x35, 0x00, 0x01, 0x00, 0x3c, 0x00, 0x01,
      // Data set (§3.3.2) for template 256: length 4 + 56 = 60 (0x3c), no padding.
      0x01, 0x00, 0x00, 0x3c,
      10, 0, 0, 1,                                      // source address
      192, 168, 1, 2,                                   // destination address
      0xc0, 0x00,                                       // source port 49152
      0x01, 0xbb,                                       // destination port 443
      0x06,                                             // TCP
      0x28,                                             // ToS
      0x00, 0x1b,                                       // flags FIN SYN PSH ACK
      0, 0, 0, 0, 0, 0, 0, 3,                           // packets
      0, 0, 0, 0, 0, 0, 0x12, 0x34,                     // octets
      0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b,   // start ms (ns truncated)
      0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x6d, 0xb0,   // end ms
      0x03,                                             // end of flow
      0x00, 0x00, 0x00, 0x07,                           // ingress interface
      60, 64,                                           // TTLs
      4,                                                // ipVersion
  };
  EXPECT_EQ(message, expected);
}

// Same record without templates; only the header and the data set remain (16 + 60 octets).
TEST(IpfixEncoder, MessageWithoutTemplatesIsHeaderAndDataSet) {
  IpfixEncoder encoder(5, 1472);
  encoder.begin_message(false);
  encoder.add_record(ipv4_record());
  const auto message = to_vector(encoder.finish_message(1));
  ASSERT_EQ(message.size(), 76u);
  EXPECT_EQ(message[2], 0x00);
  EXPECT_EQ(message[3], 76);
  EXPECT_EQ(message[16], 0x01);  // set id 256
  EXPECT_EQ(message[17], 0x00);
  EXPECT_EQ(message[19], 60);
}

TEST(IpfixEncoder, Ipv6RecordLayout) {
  IpfixEncoder encoder(0, 1472);
  encoder.begin_message(false);
  encoder.add_record(ipv6_record());
  const auto m = to_vector(encoder.finish_message(0));
  // Header, data set 257 of 4 + 80 octets: two 16-octet addresses then the 48 common octets.
  ASSERT_EQ(m.size(), 16u + 84u);
  EXPECT_EQ(std::vector<std::uint8_t>(m.begin() + 16, m.begin() + 20),
            (std::vector<std::uint8_t>{0x01, 0x01, 0x00, 84}));
  EXPECT_EQ(m[20], 0x20);
  EXPECT_EQ(m[35], 0x01);
  EXPECT_EQ(m[51], 0x02);
  EXPECT_EQ(m.back(), 6);  // ipVersion
}

TEST(IpfixEncoder, MixedFamiliesOpenANewDataSetAtEachChange) {
  IpfixEncoder encoder(0, 1472);
  encoder.begin_message(false);
  encoder.add_record(ipv4_record());
  encoder.add_record(ipv4_record());
  encoder.add_record(ipv6_record());
  encoder.add_record(ipv4_record());
  const auto m = to_vector(encoder.finish_message(0));
  // Sets: 256 with two records (4 + 112), 257 with one (4 + 80), 256 with one (4 + 56).
  ASSERT_EQ(m.size(), 16u + 116 + 84 + 60);
  EXPECT_EQ(m[16 + 3], 116);
  EXPECT_EQ(m[132 + 1], 0x01);
  EXPECT_EQ(m[132 + 3], 84);
  EXPECT_EQ(m[216 + 1], 0x00);
  EXPECT_EQ(m[216 + 3], 60);
}

// RFC 7011 §3.1: the sequence number counts the data records sent before the message, never
// template records and never the message's own records.
TEST(IpfixEncoder, SequenceNumberCountsDataRecordsBeforeTheMessage) {
  IpfixEncoder encoder(0, 1472);
  auto sequence_of = [](std::span<const std::uint8_t> m) {
    return (std::uint32_t{m[8]} << 24) | (std::uint32_t{m[9]} << 16) | (std::uint32_t{m[10]} << 8) |
           m[11];
  };
  encoder.begin_message(true);
  for (int i = 0; i < 3; ++i) encoder.add_record(ipv4_record());
  EXPECT_EQ(sequence_of(encoder.finish_message(0)), 0u);
  encoder.begin_message(true);
  encoder.add_record(ipv6_record());
  encoder.add_record(ipv4_record());
  EXPECT_EQ(sequence_of(encoder.finish_message(0)), 3u);
  encoder.begin_message(false);
  encoder.add_record(ipv4_record());
  EXPECT_EQ(sequence_of(encoder.finish_message(0)), 5u);
  EXPECT_EQ(encoder.sequence_number(), 6u);
}

TEST(IpfixEncoder, RecordWithoutIpVersionIsUnexportable) {
  IpfixEncoder encoder(0, 1472);
  encoder.begin_message(false);
  cache::FlowRecord r = ipv4_record();
  r.key.ip_version = 0;
  EXPECT_EQ(encoder.add_record(r), IpfixEncoder::AddResult::kUnexportable);
  EXPECT_EQ(encoder.records_in_message(), 0u);
}

TEST(IpfixEncoder, StopsAtTheMaximumMessageSize) {
  const std::size_t limit = 548;  // MTU 576 over IPv4/UDP
  IpfixEncoder encoder(0, limit);
  encoder.begin_message(true);
  int added = 0;
  while (encoder.add_record(ipv4_record()) == IpfixEncoder::AddResult::kAdded) ++added;
  // 548 - 16 header - 140 templates - 4 set header = 388 octets: 6 records of 56.
  EXPECT_EQ(added, 6);
  const auto m = encoder.finish_message(0);
  EXPECT_LE(m.size(), limit);
  EXPECT_EQ(m.size(), 16u + 140 + 4 + 6 * 56);
}

TEST(IpfixEncoder, RejectsAMessageSizeThatCannotHoldTemplatesAndARecord) {
  // Header, template set, the options template sets and records of the reliability statistics
  // ((4 + 42 + 4 + 68) + (4 + 26 + 4 + 36) = 188, sent with every template set by the exporter),
  // one data set of each family.
  EXPECT_THROW(IpfixEncoder(0, 200), std::invalid_argument);
  EXPECT_THROW(IpfixEncoder(0, 16 + 140 + 188 + 60 + 84 - 1), std::invalid_argument);
  EXPECT_NO_THROW(IpfixEncoder(0, 16 + 140 + 188 + 60 + 84));
}

TEST(IpfixEncoder, CapsTheMessageSizeAtTheSixteenBitLength) {
  IpfixEncoder encoder(0, 1'000'000);
  EXPECT_EQ(encoder.max_message_size(), 65535u);
}

}  // namespace
}  // namespace tapflow::exporter
