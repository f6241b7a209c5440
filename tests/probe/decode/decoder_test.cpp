// Decoder tests: crafted frames for every link type, encapsulation, IP option and extension header
// the decoder knows, one frame per rejection verdict, and every valid frame cut short at every
// offset (the decoder must never read past the capture, and a cut frame is only ever "truncated").
#include "probe/decode/decoder.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace tapflow::probe {
namespace {

using cache::PacketSummary;
using enum drivers::LinkType;
using Bytes = std::vector<std::uint8_t>;

// ---- frame builders ------------------------------------------------------------------------

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes be16(std::uint16_t v) {
  return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
Bytes be32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
Bytes le32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
          static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
}
// Parentheses on purpose: braces would make a two-element initializer list.
Bytes zeros(std::size_t n) { return Bytes(n, 0); }  // NOLINT(modernize-return-braced-init-list)
Bytes filler(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(0xa0 + i);
  return b;
}

// Ethernet II: destination, source, ethertype.
Bytes ethernet(std::uint16_t ethertype) {
  return Bytes{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb} +
         be16(ethertype);
}
// An 802.1Q/802.1ad tag after its TPID: TCI (PCP 3, VID), then the next ethertype.
Bytes vlan_tag(std::uint16_t vid, std::uint16_t next_ethertype) {
  return be16(static_cast<std::uint16_t>(0x6000 | vid)) + be16(next_ethertype);
}
// RFC 3032 label stack entry: label(20) TC(3) S(1) TTL(8).
Bytes mpls_label(std::uint32_t label, bool bottom) {
  return be32((label << 12) | (bottom ? 0x100u : 0u) | 64u);
}
// RFC 2516 session header (ver 1 type 1, code 0, session 0x1234, length) + PPP protocol.
Bytes pppoe_session(std::uint16_t ppp_protocol, std::uint16_t payload_length) {
  return Bytes{0x11, 0x00, 0x12, 0x34} + be16(payload_length) + be16(ppp_protocol);
}
// Linux cooked v1: packet type, ARPHRD_ETHER, address length 6, 8 address bytes, protocol.
Bytes sll(std::uint16_t protocol) {
  return be16(0) + be16(1) + be16(6) + Bytes{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0} +
         be16(protocol);
}
// Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address.
Bytes sll2(std::uint16_t protocol) {
  return be16(protocol) + be16(0) + be32(3) + be16(1) + Bytes{0x04, 6} +
         Bytes{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0};
}

constexpr std::uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpv6 = 58, kSctp = 132, kUdpLite = 136,
                       kDccp = 33, kGre = 47, kEsp = 50, kAh = 51, kHopByHop = 0, kRouting = 43,
                       kFragment = 44, kDestinationOptions = 60, kNoNextHeader = 59,
                       kMobility = 135;

struct Ipv4 {
  std::uint8_t protocol = kTcp;
  std::uint8_t tos = 0x28;
  std::uint8_t ttl = 61;
  std::uint16_t fragment = 0x4000;  // DF, offset 0
  Bytes options{};
  int total_length = -1;  // -1: header + payload
  int ihl = -1;           // -1: from the options
  std::uint8_t version = 4;

  [[nodiscard]] Bytes build(const Bytes& payload) const {
    const std::size_t header = 20 + options.size();
    const auto ihl_field = static_cast<std::uint8_t>(ihl >= 0 ? ihl : header / 4);
    const auto total =
        static_cast<std::uint16_t>(total_length >= 0 ? total_length : header + payload.size());
    return Bytes{static_cast<std::uint8_t>(version << 4 | ihl_field), tos} + be16(total) +
           be16(0xbeef) + be16(fragment) + Bytes{ttl, protocol} + be16(0) + Bytes{192, 0, 2, 1} +
           Bytes{198, 51, 100, 2} + options + payload;
  }
};

const Bytes kV6Source = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
const Bytes kV6Destination = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

struct Ipv6 {
  std::uint8_t next_header = kTcp;
  std::uint8_t traffic_class = 0xb8;
  std::uint8_t hop_limit = 63;
  int payload_length = -1;  // -1: size of what follows
  std::uint8_t version = 6;

  [[nodiscard]] Bytes build(const Bytes& payload) const {
    const auto length =
        static_cast<std::uint16_t>(payload_length >= 0 ? payload_length : payload.size());
    // version(4) traffic class(8) flow label(20)
    const std::uint32_t first =
        std::uint32_t{version} << 28 | std::uint32_t{traffic_class} << 20 | 0x12345u;
    return be32(first) + be16(length) + Bytes{next_header, hop_limit} + kV6Source + kV6Destination +
           payload;
  }
};

// TCP: ports, sequence, acknowledgment, data offset 5, flags (byte 13), window, checksum, urgent.
Bytes tcp(std::uint16_t source, std::uint16_t destination, std::uint8_t flags) {
  return be16(source) + be16(destination) + be32(1000) + be32(2000) + Bytes{0x50, flags} +
         be16(65535) + be16(0) + be16(0);
}
Bytes udp(std::uint16_t source, std::uint16_t destination, std::uint16_t payload = 4) {
  return be16(source) + be16(destination) + be16(static_cast<std::uint16_t>(8 + payload)) +
         be16(0) + filler(payload);
}
Bytes icmp(std::uint8_t type, std::uint8_t code) {
  return Bytes{type, code} + be16(0) + be32(0x00010002);
}
// Generic IPv6 extension header (RFC 6564): next header, Hdr Ext Len in 8-octet units - 1.
Bytes extension(std::uint8_t next_header, std::size_t total_length) {
  Bytes b = Bytes{next_header, static_cast<std::uint8_t>(total_length / 8 - 1)};
  // PadN option filling the rest (RFC 8200 §4.2), valid for HBH and destination options.
  b = b + Bytes{0x01, static_cast<std::uint8_t>(total_length - 4)} + zeros(total_length - 4);
  return b;
}
Bytes fragment_header(std::uint8_t next_header, std::uint16_t offset_units, bool more) {
  return Bytes{next_header, 0} +
         be16(static_cast<std::uint16_t>(offset_units << 3 | (more ? 1 : 0))) + be32(0xcafe);
}
// RFC 4302 AH: next header, payload length (4-octet units - 2), reserved, SPI, sequence, ICV.
Bytes ah_header(std::uint8_t next_header, std::size_t total_length) {
  return Bytes{next_header, static_cast<std::uint8_t>(total_length / 4 - 2)} + be16(0) +
         be32(0x100) + be32(1) + filler(total_length - 12);
}
// Hop-by-Hop header with an RFC 2675 Jumbo Payload option (at offset 2, so 4n+2 aligned).
Bytes jumbo_hop_by_hop(std::uint8_t next_header, std::uint32_t jumbo_length) {
  return Bytes{next_header, 0, 0xc2, 4} + be32(jumbo_length);
}

// ---- decoding helpers ------------------------------------------------------------------------

struct Decoded {
  DecodeVerdict verdict;
  PacketSummary summary;
};

constexpr std::uint64_t kTimestamp = 1'700'000'000'123'456'789ull;
constexpr std::uint32_t kIngress = 7;

Decoded decode(int link_type, const Bytes& frame, std::uint32_t wire_length = 0) {
  Decoded d{};
  d.verdict =
      decode_packet(link_type, std::span<const std::uint8_t>(frame.data(), frame.size()),
                    wire_length != 0 ? wire_length : static_cast<std::uint32_t>(frame.size()),
                    kTimestamp, kIngress, d.summary);
  return d;
}

std::array<std::uint8_t, 16> v4_address(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                        std::uint8_t d) {
  return {a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
}
std::array<std::uint8_t, 16> v6_address(const Bytes& b) {
  std::array<std::uint8_t, 16> a{};
  std::memcpy(a.data(), b.data(), 16);
  return a;
}

// Checks a decoded IPv4 packet built by Ipv4{} defaults plus the given fields.
void expect_v4(const Decoded& d, std::uint8_t protocol, std::uint16_t source_port,
               std::uint16_t destination_port, std::uint32_t octets) {
  ASSERT_EQ(d.verdict, DecodeVerdict::kOk) << to_key(d.verdict);
  const auto& k = d.summary.key;
  EXPECT_EQ(k.ip_version, 4);
  EXPECT_EQ(k.source_address, v4_address(192, 0, 2, 1));
  EXPECT_EQ(k.destination_address, v4_address(198, 51, 100, 2));
  EXPECT_EQ(k.protocol, protocol);
  EXPECT_EQ(k.source_port, source_port);
  EXPECT_EQ(k.destination_port, destination_port);
  EXPECT_EQ(k.ingress_interface, kIngress);
  EXPECT_EQ(k.tunnel_type, 0);
  EXPECT_EQ(k.tunnel_id, 0u);
  EXPECT_EQ(d.summary.octets, octets);
  EXPECT_EQ(d.summary.timestamp_ns, kTimestamp);
}

void expect_v6(const Decoded& d, std::uint8_t protocol, std::uint16_t source_port,
               std::uint16_t destination_port, std::uint32_t octets) {
  ASSERT_EQ(d.verdict, DecodeVerdict::kOk) << to_key(d.verdict);
  const auto& k = d.summary.key;
  EXPECT_EQ(k.ip_version, 6);
  EXPECT_EQ(k.source_address, v6_address(kV6Source));
  EXPECT_EQ(k.destination_address, v6_address(kV6Destination));
  EXPECT_EQ(k.protocol, protocol);
  EXPECT_EQ(k.source_port, source_port);
  EXPECT_EQ(k.destination_port, destination_port);
  EXPECT_EQ(k.ingress_interface, kIngress);
  EXPECT_EQ(k.tunnel_type, 0);
  EXPECT_EQ(k.tunnel_id, 0u);
  EXPECT_EQ(d.summary.octets, octets);
  EXPECT_EQ(d.summary.timestamp_ns, kTimestamp);
}

// ---- the valid frames, shared with the cut-short test -------------------------------------

Bytes v4_tcp() { return Ipv4{}.build(tcp(40000, 443, 0x12) + filler(10)); }  // 50 octets
Bytes v4_udp() { return Ipv4{.protocol = kUdp}.build(udp(5353, 53)); }       // 32 octets
Bytes v6_udp() { return Ipv6{.next_header = kUdp}.build(udp(5353, 53)); }    // 52 octets
Bytes v6_tcp() { return Ipv6{}.build(tcp(40000, 443, 0x18) + filler(6)); }   // 66 octets

struct Case {
  std::string name;
  int link_type;
  Bytes frame;
  std::uint32_t wire_length = 0;  // 0: the frame's size
};

std::vector<Case> valid_cases() {
  std::vector<Case> cases = {
      {"ethernet_v4_tcp", kLinkTypeEthernet, ethernet(0x0800) + v4_tcp()},
      {"ethernet_v6_udp", kLinkTypeEthernet, ethernet(0x86dd) + v6_udp()},
      {"vlan", kLinkTypeEthernet, ethernet(0x8100) + vlan_tag(100, 0x0800) + v4_udp()},
      {"qinq", kLinkTypeEthernet,
       ethernet(0x88a8) + vlan_tag(10, 0x8100) + vlan_tag(20, 0x0800) + v4_tcp()},
      {"three_tags", kLinkTypeEthernet,
       ethernet(0x9100) + vlan_tag(1, 0x88a8) + vlan_tag(2, 0x8100) + vlan_tag(3, 0x86dd) +
           v6_tcp()},
      {"mpls_1_v4", kLinkTypeEthernet, ethernet(0x8847) + mpls_label(100, true) + v4_udp()},
      {"mpls_3_v6", kLinkTypeEthernet,
       ethernet(0x8848) + mpls_label(16, false) + mpls_label(17, false) + mpls_label(18, true) +
           v6_tcp()},
      {"mpls_3_v4", kLinkTypeEthernet,
       ethernet(0x8847) + mpls_label(16, false) + mpls_label(17, false) + mpls_label(0, true) +
           v4_tcp()},
      {"mpls_1_v6", kLinkTypeEthernet, ethernet(0x8847) + mpls_label(2, true) + v6_udp()},
      {"vlan_mpls", kLinkTypeEthernet,
       ethernet(0x8100) + vlan_tag(5, 0x8847) + mpls_label(100, true) + v4_tcp()},
      {"pppoe_v4", kLinkTypeEthernet, ethernet(0x8864) + pppoe_session(0x0021, 52) + v4_tcp()},
      {"pppoe_v6", kLinkTypeEthernet, ethernet(0x8864) + pppoe_session(0x0057, 54) + v6_udp()},
      {"pppoe_compressed_protocol", kLinkTypeEthernet,
       ethernet(0x8864) + Bytes{0x11, 0x00, 0x12, 0x34, 0x00, 51, 0x21} + v4_tcp()},
      {"qinq_pppoe", kLinkTypeEthernet,
       ethernet(0x88a8) + vlan_tag(10, 0x8100) + vlan_tag(20, 0x8864) + pppoe_session(0x0021, 52) +
           v4_tcp()},
      {"arista_timestamp_64", kLinkTypeEthernet,
       ethernet(0xd28b) + be16(1) + be16(0x0010) + filler(8) + be16(0x0800) + v4_tcp()},
      {"arista_timestamp_48_vlan", kLinkTypeEthernet,
       ethernet(0xd28b) + be16(1) + be16(0x0120) + filler(6) + be16(0x8100) + vlan_tag(7, 0x86dd) +
           v6_udp()},
      {"sll_v4", kLinkTypeLinuxSll, sll(0x0800) + v4_tcp()},
      {"sll_vlan_v4", kLinkTypeLinuxSll, sll(0x8100) + vlan_tag(42, 0x0800) + v4_udp()},
      {"sll2_v6", kLinkTypeLinuxSll2, sll2(0x86dd) + v6_udp()},
      {"null_le_v4", kLinkTypeNull, le32(2) + v4_tcp()},
      {"null_be_v4", kLinkTypeNull, be32(2) + v4_tcp()},
      {"loop_v4", kLinkTypeLoop, be32(2) + v4_udp()},
      {"loop_v6", kLinkTypeLoop, be32(24) + v6_udp()},
      {"raw101_v4", kLinkTypeRaw, v4_tcp()},
      {"raw101_v6", kLinkTypeRaw, v6_udp()},
      {"raw12_v4", kLinkTypeRawAlt12, v4_tcp()},
      {"raw14_v6", kLinkTypeRawAlt14, v6_tcp()},
      {"ipv4_link", kLinkTypeIpv4, v4_udp()},
      {"ipv6_link", kLinkTypeIpv6, v6_tcp()},
      {"ipv4_options", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.options = {0x94, 0x04, 0x00, 0x00}}.build(tcp(1, 2, 0x02))},
      {"ipv4_max_options", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.protocol = kUdp, .options = Bytes(40, 0x01)}.build(udp(7, 9))},
      {"v6_hop_by_hop", kLinkTypeEthernet,
       ethernet(0x86dd) +
           Ipv6{.next_header = kHopByHop}.build(extension(kTcp, 8) + tcp(1234, 80, 0x10))},
      {"v6_routing", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kRouting}.build(extension(kUdp, 24) + udp(1, 2))},
      {"v6_destination_options", kLinkTypeEthernet,
       ethernet(0x86dd) +
           Ipv6{.next_header = kDestinationOptions}.build(extension(kTcp, 16) + tcp(5, 6, 0x01))},
      {"v6_ah", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kAh}.build(ah_header(kTcp, 24) + tcp(7, 8, 0x04))},
      {"v6_chain", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kHopByHop}.build(
                              extension(kDestinationOptions, 8) + extension(kRouting, 16) +
                              extension(kFragment, 8) + fragment_header(kAh, 0, false) +
                              ah_header(kUdp, 16) + udp(11, 12))},
      {"v6_esp", kLinkTypeEthernet,
       ethernet(0x86dd) +
           Ipv6{.next_header = kDestinationOptions}.build(extension(kEsp, 8) + filler(24))},
      {"v4_first_fragment", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.protocol = kUdp, .fragment = 0x2000}.build(udp(53, 1024, 16))},
      {"v4_later_fragment", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.protocol = kUdp, .fragment = 185}.build(filler(16))},
      {"v6_first_fragment", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kFragment}.build(fragment_header(kUdp, 0, true) +
                                                               udp(53, 1024, 16))},
      {"v6_later_fragment", kLinkTypeEthernet,
       ethernet(0x86dd) +
           Ipv6{.next_header = kFragment}.build(fragment_header(kUdp, 181, false) + filler(16))},
      {"icmp", kLinkTypeEthernet, ethernet(0x0800) + Ipv4{.protocol = kIcmp}.build(icmp(3, 3))},
      {"icmpv6", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kIcmpv6}.build(icmp(128, 0))},
      {"sctp", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.protocol = kSctp}.build(be16(2905) + be16(2906) + filler(8))},
      {"udplite", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kUdpLite}.build(udp(100, 200))},
      {"dccp", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.protocol = kDccp}.build(be16(5001) + be16(5002) + filler(12))},
      {"gre", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.protocol = kGre}.build(be16(0) + be16(0x0800) + v4_udp())},
      {"tso_total_length_0", kLinkTypeEthernet,
       ethernet(0x0800) + Ipv4{.total_length = 0}.build(tcp(1, 2, 0x10) + filler(64)), 70014},
      {"jumbo", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kHopByHop, .payload_length = 0}.build(
                              jumbo_hop_by_hop(kTcp, 70000) + tcp(3, 4, 0x18) + filler(32)),
       14 + 40 + 70000},
      {"v6_payload_length_0", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.payload_length = 0}.build(tcp(3, 4, 0x18) + filler(32)), 80054},
      {"v6_no_next_header", kLinkTypeEthernet,
       ethernet(0x86dd) + Ipv6{.next_header = kNoNextHeader}.build({}) + zeros(6)},
  };
  for (std::uint32_t family : {10u, 23u, 24u, 28u, 30u}) {
    cases.push_back(
        {"null_le_af" + std::to_string(family), kLinkTypeNull, le32(family) + v6_udp()});
    cases.push_back(
        {"null_be_af" + std::to_string(family), kLinkTypeNull, be32(family) + v6_tcp()});
  }
  return cases;
}

const Case& find_case(const std::string& name) {
  static const std::vector<Case> cases = valid_cases();
  for (const Case& c : cases) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no case " << name;
  return cases.front();
}

Decoded decode_case(const std::string& name) {
  const Case& c = find_case(name);
  return decode(c.link_type, c.frame, c.wire_length);
}

// ---- link layers and encapsulations --------------------------------------------------------

TEST(DecoderTest, EthernetIpv4TcpFillsEveryField) {
  const Decoded d = decode_case("ethernet_v4_tcp");
  expect_v4(d, kTcp, 40000, 443, 50);
  EXPECT_EQ(d.summary.key.tos, 0x28);
  EXPECT_EQ(d.summary.ttl, 61);
  EXPECT_EQ(d.summary.tcp_flags, 0x12);
}

TEST(DecoderTest, EthernetIpv6UdpFillsEveryField) {
  const Decoded d = decode_case("ethernet_v6_udp");
  expect_v6(d, kUdp, 5353, 53, 52);
  EXPECT_EQ(d.summary.key.tos, 0xb8);  // traffic class, straddling the first two bytes
  EXPECT_EQ(d.summary.ttl, 63);
  EXPECT_EQ(d.summary.tcp_flags, 0);
}

TEST(DecoderTest, VlanTags) {
  expect_v4(decode_case("vlan"), kUdp, 5353, 53, 32);
  expect_v4(decode_case("qinq"), kTcp, 40000, 443, 50);
  expect_v6(decode_case("three_tags"), kTcp, 40000, 443, 66);
}

TEST(DecoderTest, MplsLabelStacks) {
  expect_v4(decode_case("mpls_1_v4"), kUdp, 5353, 53, 32);
  expect_v6(decode_case("mpls_3_v6"), kTcp, 40000, 443, 66);
  expect_v4(decode_case("mpls_3_v4"), kTcp, 40000, 443, 50);
  expect_v6(decode_case("mpls_1_v6"), kUdp, 5353, 53, 52);
  expect_v4(decode_case("vlan_mpls"), kTcp, 40000, 443, 50);
}

TEST(DecoderTest, PppoeSession) {
  expect_v4(decode_case("pppoe_v4"), kTcp, 40000, 443, 50);
  expect_v6(decode_case("pppoe_v6"), kUdp, 5353, 53, 52);
  expect_v4(decode_case("pppoe_compressed_protocol"), kTcp, 40000, 443, 50);
  expect_v4(decode_case("qinq_pppoe"), kTcp, 40000, 443, 50);
}

TEST(DecoderTest, AristaTimestampHeader) {
  expect_v4(decode_case("arista_timestamp_64"), kTcp, 40000, 443, 50);
  expect_v6(decode_case("arista_timestamp_48_vlan"), kUdp, 5353, 53, 52);
}

TEST(DecoderTest, LinuxCooked) {
  expect_v4(decode_case("sll_v4"), kTcp, 40000, 443, 50);
  expect_v4(decode_case("sll_vlan_v4"), kUdp, 5353, 53, 32);
  expect_v6(decode_case("sll2_v6"), kUdp, 5353, 53, 52);
}

TEST(DecoderTest, NullInBothByteOrdersAndLoop) {
  expect_v4(decode_case("null_le_v4"), kTcp, 40000, 443, 50);
  expect_v4(decode_case("null_be_v4"), kTcp, 40000, 443, 50);
  for (const char* family : {"10", "23", "24", "28", "30"}) {
    SCOPED_TRACE(family);
    expect_v6(decode_case(std::string("null_le_af") + family), kUdp, 5353, 53, 52);
    expect_v6(decode_case(std::string("null_be_af") + family), kTcp, 40000, 443, 66);
  }
  expect_v4(decode_case("loop_v4"), kUdp, 5353, 53, 32);
  expect_v6(decode_case("loop_v6"), kUdp, 5353, 53, 52);
}

TEST(DecoderTest, LoopFamilyIsAlwaysNetworkOrder) {
  // DLT_LOOP with a little-endian family is not OpenBSD's format: not IP.
  EXPECT_EQ(decode(kLinkTypeLoop, le32(2) + v4_tcp()).verdict, DecodeVerdict::kNotIp);
}

TEST(DecoderTest, RawAndIpLinkTypes) {
  expect_v4(decode_case("raw101_v4"), kTcp, 40000, 443, 50);
  expect_v6(decode_case("raw101_v6"), kUdp, 5353, 53, 52);
  expect_v4(decode_case("raw12_v4"), kTcp, 40000, 443, 50);
  expect_v6(decode_case("raw14_v6"), kTcp, 40000, 443, 66);
  expect_v4(decode_case("ipv4_link"), kUdp, 5353, 53, 32);
  expect_v6(decode_case("ipv6_link"), kTcp, 40000, 443, 66);
}

// ---- IPv4 options, IPv6 extension headers ------------------------------------------------

TEST(DecoderTest, Ipv4OptionsAreSkippedByIhl) {
  expect_v4(decode_case("ipv4_options"), kTcp, 1, 2, 44);           // IHL 6 (router alert)
  expect_v4(decode_case("ipv4_max_options"), kUdp, 7, 9, 60 + 12);  // IHL 15
}

TEST(DecoderTest, Ipv6ExtensionHeaders) {
  expect_v6(decode_case("v6_hop_by_hop"), kTcp, 1234, 80, 40 + 8 + 20);
  expect_v6(decode_case("v6_routing"), kUdp, 1, 2, 40 + 24 + 12);
  expect_v6(decode_case("v6_destination_options"), kTcp, 5, 6, 40 + 16 + 20);
  expect_v6(decode_case("v6_ah"), kTcp, 7, 8, 40 + 24 + 20);
  expect_v6(decode_case("v6_chain"), kUdp, 11, 12, 40 + 8 + 16 + 8 + 8 + 16 + 12);
  EXPECT_EQ(decode_case("v6_hop_by_hop").summary.tcp_flags, 0x10);
  EXPECT_EQ(decode_case("v6_ah").summary.tcp_flags, 0x04);
}

TEST(DecoderTest, EspEndsTheIpv6Chain) {
  expect_v6(decode_case("v6_esp"), kEsp, 0, 0, 40 + 8 + 24);
}

TEST(DecoderTest, MobilityIsAProtocolNotAnExtensionToWalk) {
  // RFC 6275: a Binding Update whose Payload Proto is 59; keyed as Mobility, not "no next header".
  const Bytes frame = ethernet(0x86dd) + Ipv6{.next_header = kMobility}.build(
                                             Bytes{kNoNextHeader, 1, 5, 0} + filler(12));
  expect_v6(decode(kLinkTypeEthernet, frame), kMobility, 0, 0, 56);
}

TEST(DecoderTest, OverlongExtensionChainIsCountedUnderTheLastHeader) {
  Bytes chain;
  for (int i = 0; i < 20; ++i) chain = chain + extension(kDestinationOptions, 8);
  const Bytes frame =
      ethernet(0x86dd) + Ipv6{.next_header = kDestinationOptions}.build(chain + udp(1, 2));
  expect_v6(decode(kLinkTypeEthernet, frame), kDestinationOptions, 0, 0, 40 + 160 + 12);
}

// ---- fragments -------------------------------------------------------------------------------

TEST(DecoderTest, Ipv4Fragments) {
  expect_v4(decode_case("v4_first_fragment"), kUdp, 53, 1024, 20 + 24);
  expect_v4(decode_case("v4_later_fragment"), kUdp, 0, 0, 20 + 16);
  // A later fragment needs nothing past the IP header, even if the capture stops there.
  const Bytes frame =
      ethernet(0x0800) + Ipv4{.protocol = kTcp, .fragment = 0x2000 | 3}.build(filler(24));
  expect_v4(decode(kLinkTypeEthernet, Bytes(frame.begin(), frame.begin() + 34), 14 + 44), kTcp, 0,
            0, 44);
}

TEST(DecoderTest, Ipv6Fragments) {
  expect_v6(decode_case("v6_first_fragment"), kUdp, 53, 1024, 40 + 8 + 24);
  expect_v6(decode_case("v6_later_fragment"), kUdp, 0, 0, 40 + 8 + 16);
  // An atomic fragment (offset 0, M = 0, RFC 6946) is a whole packet.
  const Bytes atomic = ethernet(0x86dd) + Ipv6{.next_header = kFragment}.build(
                                              fragment_header(kTcp, 0, false) + tcp(9, 10, 2));
  expect_v6(decode(kLinkTypeEthernet, atomic), kTcp, 9, 10, 40 + 8 + 20);
}

// ---- transport -------------------------------------------------------------------------------

TEST(DecoderTest, IcmpTypeAndCodeGoToTheDestinationPort) {
  expect_v4(decode_case("icmp"), kIcmp, 0, 3 * 256 + 3, 28);
  expect_v6(decode_case("icmpv6"), kIcmpv6, 0, 128 * 256, 48);
  const Bytes unreachable =
      ethernet(0x86dd) + Ipv6{.next_header = kIcmpv6}.build(icmp(1, 4) + v6_udp());
  expect_v6(decode(kLinkTypeEthernet, unreachable), kIcmpv6, 0, 1 * 256 + 4, 40 + 8 + 52);
}

TEST(DecoderTest, PortsOfOtherTransports) {
  expect_v4(decode_case("sctp"), kSctp, 2905, 2906, 32);
  expect_v6(decode_case("udplite"), kUdpLite, 100, 200, 52);
  expect_v4(decode_case("dccp"), kDccp, 5001, 5002, 36);
}

TEST(DecoderTest, TunnelsAreTheOuterFlowWithoutPorts) {
  expect_v4(decode_case("gre"), kGre, 0, 0, 20 + 4 + 32);
  const Bytes esp =
      ethernet(0x0800) + Ipv4{.protocol = kEsp}.build(be32(0x1001) + be32(1) + filler(16));
  expect_v4(decode(kLinkTypeEthernet, esp), kEsp, 0, 0, 44);
  // IPv4 AH is a protocol of its own here (only IPv6 walks AH as an extension header).
  const Bytes ah =
      ethernet(0x0800) + Ipv4{.protocol = kAh}.build(ah_header(kTcp, 24) + tcp(1, 2, 2));
  expect_v4(decode(kLinkTypeEthernet, ah), kAh, 0, 0, 64);
}

TEST(DecoderTest, TcpFlags) {
  for (std::uint8_t flags : {0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0xc2, 0xff}) {
    const Decoded d = decode(kLinkTypeEthernet, ethernet(0x0800) + Ipv4{}.build(tcp(1, 2, flags)));
    ASSERT_EQ(d.verdict, DecodeVerdict::kOk);
    EXPECT_EQ(d.summary.tcp_flags, flags);
  }
}

TEST(DecoderTest, FrameCutAfterThePortsButBeforeTheTcpFlagsStillDecodes) {
  const Bytes full = ethernet(0x0800) + v4_tcp();
  for (std::size_t tcp_bytes = 4; tcp_bytes < 14; ++tcp_bytes) {
    const Bytes cut(full.begin(), full.begin() + 14 + 20 + static_cast<long>(tcp_bytes));
    const Decoded d = decode(kLinkTypeEthernet, cut, static_cast<std::uint32_t>(full.size()));
    expect_v4(d, kTcp, 40000, 443, 50);  // octets from the header, not the capture
    EXPECT_EQ(d.summary.tcp_flags, 0);
  }
  const Bytes with_flags(full.begin(), full.begin() + 14 + 20 + 14);
  EXPECT_EQ(decode(kLinkTypeEthernet, with_flags, 64).summary.tcp_flags, 0x12);
}

TEST(DecoderTest, EthernetPaddingIsNeverReadAsTransport) {
  // A 60-byte minimum frame: IPv4 says 22 octets (2 bytes of UDP), the rest is padding.
  const Bytes short_udp =
      ethernet(0x0800) + Ipv4{.protocol = kUdp, .total_length = 22}.build(be16(53)) + filler(24);
  EXPECT_EQ(decode(kLinkTypeEthernet, short_udp).verdict, DecodeVerdict::kTruncatedTransportLayer);
  // TCP whose datagram ends before byte 13: ports are known, the flags byte is padding.
  const Bytes tcp_bytes = tcp(1, 2, 0x02);
  const Bytes short_tcp =
      ethernet(0x0800) +
      Ipv4{.total_length = 20 + 12}.build(Bytes(tcp_bytes.begin(), tcp_bytes.begin() + 12)) +
      Bytes{0, 0xff} + zeros(12);
  const Decoded d = decode(kLinkTypeEthernet, short_tcp);
  expect_v4(d, kTcp, 1, 2, 32);
  EXPECT_EQ(d.summary.tcp_flags, 0);
  // IPv6 with nothing after the header: 40 octets, not 46.
  expect_v6(decode_case("v6_no_next_header"), kNoNextHeader, 0, 0, 40);
}

// ---- octets ----------------------------------------------------------------------------------

TEST(DecoderTest, OctetsComeFromTheHeaderNotTheCapture) {
  const Bytes full = ethernet(0x0800) + Ipv4{}.build(tcp(1, 2, 0x10) + filler(1400));
  const Bytes snapped(full.begin(), full.begin() + 96);
  expect_v4(decode(kLinkTypeEthernet, snapped, static_cast<std::uint32_t>(full.size())), kTcp, 1, 2,
            1440);
}

TEST(DecoderTest, TsoTotalLengthZeroUsesTheWireLength) {
  const Decoded d = decode_case("tso_total_length_0");
  expect_v4(d, kTcp, 1, 2, 70014 - 14);
  // Behind a VLAN tag the offset grows by 4.
  const Bytes tagged = ethernet(0x8100) + vlan_tag(9, 0x0800) +
                       Ipv4{.total_length = 0}.build(tcp(1, 2, 0x10) + filler(64));
  expect_v4(decode(kLinkTypeEthernet, tagged, 70018), kTcp, 1, 2, 70000);
}

TEST(DecoderTest, JumboPayloadOption) {
  const Decoded d = decode_case("jumbo");
  expect_v6(d, kTcp, 3, 4, 70040);
  EXPECT_EQ(d.summary.tcp_flags, 0x18);
  // Pad1 and PadN before the option are stepped over.
  const Bytes padded_hbh =
      Bytes{kTcp, 1, 0x00, 0x01, 0x00, 0xc2, 4} + be32(100000) + Bytes{0x01, 3, 0, 0, 0};
  const Bytes padded = ethernet(0x86dd) + Ipv6{.next_header = kHopByHop, .payload_length = 0}.build(
                                              padded_hbh + tcp(3, 4, 0x18));
  expect_v6(decode(kLinkTypeEthernet, padded, 14 + 40 + 100000), kTcp, 3, 4, 100040);
}

TEST(DecoderTest, Ipv6PayloadLengthZeroWithoutJumboUsesTheWireLength) {
  expect_v6(decode_case("v6_payload_length_0"), kTcp, 3, 4, 80040);
  // A Hop-by-Hop header without the option: same rule.
  const Bytes frame = ethernet(0x86dd) + Ipv6{.next_header = kHopByHop, .payload_length = 0}.build(
                                             extension(kUdp, 8) + udp(1, 2));
  expect_v6(decode(kLinkTypeEthernet, frame, 70000), kUdp, 1, 2, 70000 - 14);
}

TEST(DecoderTest, HeaderLengthsBeyondTheWireAreCappedAtTheWire) {
  // A header cannot make a flow count more bytes than the frame carried.
  const Bytes v4 = ethernet(0x0800) + Ipv4{.total_length = 1500}.build(tcp(1, 2, 0x10));
  expect_v4(decode(kLinkTypeEthernet, v4), kTcp, 1, 2, 40);
  const Bytes jumbo = ethernet(0x86dd) + Ipv6{.next_header = kHopByHop, .payload_length = 0}.build(
                                             jumbo_hop_by_hop(kTcp, 0xffffffffu) + tcp(3, 4, 2));
  expect_v6(decode(kLinkTypeEthernet, jumbo, 490), kTcp, 3, 4, 490 - 14);
}

TEST(DecoderTest, WireLengthBelowCaplenIsTreatedAsCaplen) {
  const Bytes frame = ethernet(0x0800) + Ipv4{.total_length = 0}.build(tcp(1, 2, 0x10));
  expect_v4(decode(kLinkTypeEthernet, frame, 20), kTcp, 1, 2, 40);
}

// ---- rejections ------------------------------------------------------------------------------

TEST(DecoderTest, UnsupportedLinkType) {
  for (int link_type : {-1, 9, 105, 127, 242, 274, 0x30000001}) {
    EXPECT_EQ(decode(link_type, ethernet(0x0800) + v4_tcp()).verdict,
              DecodeVerdict::kUnsupportedLinkType);
  }
}

TEST(DecoderTest, TruncatedLinkLayer) {
  const Bytes eth = ethernet(0x0800);
  EXPECT_EQ(decode(kLinkTypeEthernet, Bytes(eth.begin(), eth.end() - 1)).verdict,
            DecodeVerdict::kTruncatedLinkLayer);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x8100) + Bytes{0x00, 0x05, 0x08}).verdict,
            DecodeVerdict::kTruncatedLinkLayer);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x8864) + Bytes{0x11, 0, 0, 1, 0, 20}).verdict,
            DecodeVerdict::kTruncatedLinkLayer);
  const Bytes cooked = sll(0x0800);
  EXPECT_EQ(decode(kLinkTypeLinuxSll, Bytes(cooked.begin(), cooked.end() - 1)).verdict,
            DecodeVerdict::kTruncatedLinkLayer);
  const Bytes cooked2 = sll2(0x0800);
  EXPECT_EQ(decode(kLinkTypeLinuxSll2, Bytes(cooked2.begin(), cooked2.end() - 1)).verdict,
            DecodeVerdict::kTruncatedLinkLayer);
  EXPECT_EQ(decode(kLinkTypeNull, Bytes{2, 0, 0}).verdict, DecodeVerdict::kTruncatedLinkLayer);
  EXPECT_EQ(decode(kLinkTypeLoop, Bytes{}).verdict, DecodeVerdict::kTruncatedLinkLayer);
}

TEST(DecoderTest, TruncatedMpls) {
  EXPECT_EQ(
      decode(kLinkTypeEthernet, ethernet(0x8847) + mpls_label(1, false) + Bytes{0, 0, 1}).verdict,
      DecodeVerdict::kTruncatedMpls);
  // The stack ends exactly at the end of the capture: what it carries is unknown.
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x8847) + mpls_label(1, true)).verdict,
            DecodeVerdict::kTruncatedMpls);
}

TEST(DecoderTest, MplsNotIp) {
  // A pseudowire control word (first nibble 0) then Ethernet.
  EXPECT_EQ(decode(kLinkTypeEthernet,
                   ethernet(0x8847) + mpls_label(300, true) + be32(0) + ethernet(0x0800) + v4_tcp())
                .verdict,
            DecodeVerdict::kMplsNotIp);
  // A stack deeper than any real one: the walk stops without reading on.
  Bytes labels;
  for (int i = 0; i < 40; ++i) labels = labels + mpls_label(16, false);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x8847) + labels + v4_tcp()).verdict,
            DecodeVerdict::kMplsNotIp);
}

TEST(DecoderTest, NotIp) {
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x0806) + zeros(28)).verdict, DecodeVerdict::kNotIp);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x88cc) + zeros(30)).verdict, DecodeVerdict::kNotIp);
  // 802.3 length field with LLC (spanning tree).
  EXPECT_EQ(
      decode(kLinkTypeEthernet, ethernet(0x0026) + Bytes{0x42, 0x42, 0x03} + zeros(35)).verdict,
      DecodeVerdict::kNotIp);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x8100) + vlan_tag(1, 0x05dc) + zeros(40)).verdict,
            DecodeVerdict::kNotIp);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x8863) + zeros(20)).verdict, DecodeVerdict::kNotIp);
  EXPECT_EQ(
      decode(kLinkTypeEthernet, ethernet(0x8864) + pppoe_session(0xc021, 10) + zeros(8)).verdict,
      DecodeVerdict::kNotIp);
  EXPECT_EQ(
      decode(kLinkTypeEthernet, ethernet(0xd28b) + be16(3) + be16(0x0020) + zeros(20)).verdict,
      DecodeVerdict::kNotIp);
  EXPECT_EQ(decode(kLinkTypeLinuxSll, sll(0x0004) + zeros(20)).verdict, DecodeVerdict::kNotIp);
  EXPECT_EQ(decode(kLinkTypeNull, le32(7) + v4_tcp()).verdict, DecodeVerdict::kNotIp);
  // More tags than the walk allows.
  Bytes tags;
  for (int i = 0; i < 20; ++i) tags = tags + vlan_tag(static_cast<std::uint16_t>(i), 0x8100);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x8100) + tags + v4_tcp()).verdict,
            DecodeVerdict::kNotIp);
}

TEST(DecoderTest, TruncatedNetworkLayer) {
  const Bytes v4 = ethernet(0x0800) + v4_tcp();
  EXPECT_EQ(decode(kLinkTypeEthernet, Bytes(v4.begin(), v4.begin() + 14 + 19), 64).verdict,
            DecodeVerdict::kTruncatedNetworkLayer);
  const Bytes options = ethernet(0x0800) + Ipv4{.options = zeros(8)}.build(tcp(1, 2, 2));
  EXPECT_EQ(
      decode(kLinkTypeEthernet, Bytes(options.begin(), options.begin() + 14 + 24), 82).verdict,
      DecodeVerdict::kTruncatedNetworkLayer);
  const Bytes v6 = ethernet(0x86dd) + v6_udp();
  EXPECT_EQ(decode(kLinkTypeEthernet, Bytes(v6.begin(), v6.begin() + 14 + 39), 66).verdict,
            DecodeVerdict::kTruncatedNetworkLayer);
  const Bytes chain =
      ethernet(0x86dd) + Ipv6{.next_header = kRouting}.build(extension(kUdp, 24) + udp(1, 2));
  EXPECT_EQ(
      decode(kLinkTypeEthernet, Bytes(chain.begin(), chain.begin() + 14 + 40 + 20), 90).verdict,
      DecodeVerdict::kTruncatedNetworkLayer);
  EXPECT_EQ(decode(kLinkTypeRaw, Bytes{}).verdict, DecodeVerdict::kTruncatedNetworkLayer);
  // Zeek's ip6-ext-trunc: the header promises a Hop-by-Hop header, the frame (wire length =
  // caplen) stops after the fixed header. Cut, not malformed, even though the wire length agrees.
  const Bytes promised =
      ethernet(0x86dd) + Ipv6{.next_header = kHopByHop, .payload_length = 20}.build({});
  EXPECT_EQ(decode(kLinkTypeEthernet, promised).verdict, DecodeVerdict::kTruncatedNetworkLayer);
}

TEST(DecoderTest, BadIpVersion) {
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x0800) + v6_udp()).verdict,
            DecodeVerdict::kBadIpVersion);
  EXPECT_EQ(decode(kLinkTypeEthernet, ethernet(0x86dd) + v4_udp()).verdict,
            DecodeVerdict::kBadIpVersion);
  EXPECT_EQ(decode(kLinkTypeRaw, Ipv4{.version = 5}.build(tcp(1, 2, 2))).verdict,
            DecodeVerdict::kBadIpVersion);
  EXPECT_EQ(decode(kLinkTypeIpv4, v6_udp()).verdict, DecodeVerdict::kBadIpVersion);
  EXPECT_EQ(decode(kLinkTypeIpv6, v4_udp()).verdict, DecodeVerdict::kBadIpVersion);
  EXPECT_EQ(decode(kLinkTypeNull, le32(2) + v6_udp()).verdict, DecodeVerdict::kBadIpVersion);
  EXPECT_EQ(
      decode(kLinkTypeEthernet, ethernet(0x8864) + pppoe_session(0x0057, 52) + v4_udp()).verdict,
      DecodeVerdict::kBadIpVersion);
}

TEST(DecoderTest, BadIpHeaderLength) {
  for (int ihl : {0, 1, 4}) {
    EXPECT_EQ(
        decode(kLinkTypeEthernet, ethernet(0x0800) + Ipv4{.ihl = ihl}.build(tcp(1, 2, 2))).verdict,
        DecodeVerdict::kBadIpHeaderLength);
  }
}

TEST(DecoderTest, BadIpTotalLength) {
  EXPECT_EQ(
      decode(kLinkTypeEthernet, ethernet(0x0800) + Ipv4{.total_length = 19}.build(tcp(1, 2, 2)))
          .verdict,
      DecodeVerdict::kBadIpTotalLength);
  EXPECT_EQ(
      decode(kLinkTypeEthernet,
             ethernet(0x0800) + Ipv4{.options = zeros(4), .total_length = 23}.build(tcp(1, 2, 2)))
          .verdict,
      DecodeVerdict::kBadIpTotalLength);
  // The extension chain claims more than the payload length holds.
  EXPECT_EQ(decode(kLinkTypeEthernet,
                   ethernet(0x86dd) + Ipv6{.next_header = kRouting, .payload_length = 16}.build(
                                          extension(kUdp, 24) + udp(1, 2)))
                .verdict,
            DecodeVerdict::kBadIpTotalLength);
  EXPECT_EQ(decode(kLinkTypeEthernet,
                   ethernet(0x86dd) + Ipv6{.next_header = kFragment, .payload_length = 4}.build(
                                          fragment_header(kUdp, 0, true) + udp(1, 2)))
                .verdict,
            DecodeVerdict::kBadIpTotalLength);
  // RFC 2675 §3: a Jumbo Payload length below 65536 is an error.
  EXPECT_EQ(decode(kLinkTypeEthernet,
                   ethernet(0x86dd) + Ipv6{.next_header = kHopByHop, .payload_length = 0}.build(
                                          jumbo_hop_by_hop(kTcp, 1000) + tcp(1, 2, 2)))
                .verdict,
            DecodeVerdict::kBadIpTotalLength);
}

TEST(DecoderTest, TruncatedTransportLayer) {
  const Bytes v4 = ethernet(0x0800) + v4_tcp();
  for (std::size_t tcp_bytes = 0; tcp_bytes < 4; ++tcp_bytes) {
    EXPECT_EQ(decode(kLinkTypeEthernet,
                     Bytes(v4.begin(), v4.begin() + 34 + static_cast<long>(tcp_bytes)), 64)
                  .verdict,
              DecodeVerdict::kTruncatedTransportLayer);
  }
  const Bytes icmp4 = ethernet(0x0800) + Ipv4{.protocol = kIcmp}.build(icmp(8, 0));
  EXPECT_EQ(decode(kLinkTypeEthernet, Bytes(icmp4.begin(), icmp4.begin() + 35), 42).verdict,
            DecodeVerdict::kTruncatedTransportLayer);
  // A first fragment cut before the ports (RFC 7112 says it must not be, but it happens).
  const Bytes first = ethernet(0x0800) + Ipv4{.protocol = kUdp, .fragment = 0x2000}.build(be16(53));
  EXPECT_EQ(decode(kLinkTypeEthernet, first).verdict, DecodeVerdict::kTruncatedTransportLayer);
  const Bytes v6 = ethernet(0x86dd) + Ipv6{.next_header = kFragment}.build(
                                          fragment_header(kUdp, 0, true) + be16(53) + be16(0));
  EXPECT_EQ(decode(kLinkTypeEthernet, Bytes(v6.begin(), v6.end() - 1), 66).verdict,
            DecodeVerdict::kTruncatedTransportLayer);
}

// ---- properties ------------------------------------------------------------------------------

bool is_truncation(DecodeVerdict v) {
  return v == DecodeVerdict::kTruncatedLinkLayer || v == DecodeVerdict::kTruncatedMpls ||
         v == DecodeVerdict::kTruncatedNetworkLayer || v == DecodeVerdict::kTruncatedTransportLayer;
}

// STYLE: every test frame cut short at every offset. Each prefix (in its own exactly sized
// buffer, so ASan catches any read past it) either decodes to the same flow and octets as the
// whole frame, or is a truncation.
TEST(DecoderTest, EveryValidFrameCutShortAtEveryOffset) {
  for (const Case& c : valid_cases()) {
    SCOPED_TRACE(c.name);
    const std::uint32_t wire =
        c.wire_length != 0 ? c.wire_length : static_cast<std::uint32_t>(c.frame.size());
    const Decoded whole = decode(c.link_type, c.frame, wire);
    ASSERT_EQ(whole.verdict, DecodeVerdict::kOk) << to_key(whole.verdict);
    for (std::size_t length = 0; length < c.frame.size(); ++length) {
      SCOPED_TRACE(length);
      const Bytes prefix(c.frame.begin(), c.frame.begin() + static_cast<long>(length));
      const Decoded cut = decode(c.link_type, prefix, wire);
      if (cut.verdict == DecodeVerdict::kOk) {
        EXPECT_EQ(cut.summary.key, whole.summary.key);
        EXPECT_EQ(cut.summary.octets, whole.summary.octets);
        EXPECT_EQ(cut.summary.ttl, whole.summary.ttl);
      } else {
        EXPECT_TRUE(is_truncation(cut.verdict)) << to_key(cut.verdict);
      }
    }
  }
}

// The cache hashes and compares keys as bytes: whatever `out` held before, the key must come out
// the same, byte for byte.
TEST(DecoderTest, KeyIsFullyWrittenWhateverTheOutputHeldBefore) {
  for (const Case& c : valid_cases()) {
    SCOPED_TRACE(c.name);
    PacketSummary clean{};
    PacketSummary dirty;
    std::memset(static_cast<void*>(&dirty), 0xa5, sizeof dirty);
    const auto frame = std::span<const std::uint8_t>(c.frame.data(), c.frame.size());
    const std::uint32_t wire =
        c.wire_length != 0 ? c.wire_length : static_cast<std::uint32_t>(c.frame.size());
    ASSERT_EQ(decode_packet(c.link_type, frame, wire, 1, 2, clean), DecodeVerdict::kOk);
    ASSERT_EQ(decode_packet(c.link_type, frame, wire, 1, 2, dirty), DecodeVerdict::kOk);
    EXPECT_EQ(std::memcmp(&clean.key, &dirty.key, sizeof clean.key), 0);
    EXPECT_EQ(clean.tcp_flags, dirty.tcp_flags);
    EXPECT_EQ(clean.octets, dirty.octets);
    EXPECT_EQ(clean.ttl, dirty.ttl);
    if (clean.key.ip_version == 4) {
      for (std::size_t i = 4; i < 16; ++i) {
        EXPECT_EQ(clean.key.source_address[i], 0);
        EXPECT_EQ(dirty.key.destination_address[i], 0);
      }
    }
  }
}

// Malformed bytes anywhere: a fixed-seed mutation of every valid frame, each in an exactly sized
// buffer. Whatever the verdict, nothing is read out of bounds (ASan/UBSan builds) and a decoded
// key is well formed.
TEST(DecoderTest, MutatedFramesNeverMisbehave) {
  std::mt19937 random(20240607);
  for (const Case& c : valid_cases()) {
    SCOPED_TRACE(c.name);
    for (int round = 0; round < 300; ++round) {
      Bytes frame = c.frame;
      const int flips = 1 + static_cast<int>(random() % 4);
      for (int i = 0; i < flips; ++i) {
        frame[random() % frame.size()] = static_cast<std::uint8_t>(random());
      }
      frame.resize(random() % (frame.size() + 1));
      const Decoded d = decode(c.link_type, frame, static_cast<std::uint32_t>(random() % 100000));
      ASSERT_LT(static_cast<int>(d.verdict), static_cast<int>(DecodeVerdict::kCount));
      if (d.verdict == DecodeVerdict::kOk) {
        EXPECT_TRUE(d.summary.key.ip_version == 4 || d.summary.key.ip_version == 6);
        EXPECT_EQ(d.summary.key.tunnel_type, 0);
        EXPECT_EQ(d.summary.key.ingress_interface, kIngress);
      }
    }
  }
}

TEST(DecoderTest, VerdictNames) {
  std::set<std::string> keys;
  for (int v = 0; v < static_cast<int>(DecodeVerdict::kCount); ++v) {
    const auto verdict = static_cast<DecodeVerdict>(v);
    const std::string_view key = to_key(verdict);
    EXPECT_FALSE(to_string(verdict).empty());
    EXPECT_FALSE(key.empty());
    for (char ch : key) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '_') << key;
    EXPECT_TRUE(keys.insert(std::string(key)).second) << "duplicate " << key;
  }
  EXPECT_EQ(to_string(DecodeVerdict::kTruncatedNetworkLayer),
            "truncated at layer 3 (IPv4/IPv6 header)");
  EXPECT_EQ(to_key(DecodeVerdict::kTruncatedNetworkLayer), "truncated_network_layer");
  EXPECT_EQ(to_key(DecodeVerdict::kOk), "ok");
}

// ---- --decap ---------------------------------------------------------------------------------

Decoded decode_decap(std::uint16_t decap, const Bytes& frame, std::uint32_t wire_length = 0) {
  Decoded d{};
  d.verdict = decode_packet(kLinkTypeEthernet, std::span<const std::uint8_t>(frame.data(), frame.size()),
                            wire_length != 0 ? wire_length : static_cast<std::uint32_t>(frame.size()),
                            kTimestamp, kIngress, DecodeOptions{decap}, d.summary);
  return d;
}

// The outer packet: 10.1.1.1 -> 10.2.2.2 (distinct from the inner Ipv4{} addresses).
Bytes outer_v4(std::uint8_t protocol, const Bytes& payload) {
  Bytes b = Ipv4{.protocol = protocol}.build(payload);
  const Bytes source = {10, 1, 1, 1}, destination = {10, 2, 2, 2};
  std::copy(source.begin(), source.end(), b.begin() + 12);
  std::copy(destination.begin(), destination.end(), b.begin() + 16);
  return b;
}
// UDP header + payload with a correct length.
Bytes udp_with(std::uint16_t source, std::uint16_t destination, const Bytes& payload) {
  return be16(source) + be16(destination) + be16(static_cast<std::uint16_t>(8 + payload.size())) + be16(0) +
         payload;
}
Bytes inner_frame() { return ethernet(0x0800) + v4_tcp(); }                 // 64 bytes
Bytes vxlan_header(std::uint32_t vni, std::uint8_t flags = 0x08) {         // RFC 7348 §5
  return Bytes{flags, 0, 0, 0} + be32(vni << 8);
}
Bytes gre_header(std::uint16_t flags, std::uint16_t protocol, const Bytes& optional = {}) {
  return be16(flags) + be16(protocol) + optional;
}
Bytes geneve_header(std::uint16_t protocol, std::uint32_t vni, std::uint8_t option_words = 0) {
  return Bytes{option_words, 0} + be16(protocol) + be32(vni << 8) + filler(option_words * 4u);
}
// GTP-U G-PDU: version 1, PT 1, flags (E S PN), message 255, length, TEID.
Bytes gtp_header(std::uint32_t teid, std::uint8_t flags = 0, std::uint8_t message = 0xff) {
  return Bytes{static_cast<std::uint8_t>(0x30 | flags), message} + be16(0) + be32(teid);
}

void expect_inner(const Decoded& d, cache::TunnelType type, std::uint32_t id) {
  EXPECT_EQ(d.summary.key.tunnel_type, static_cast<std::uint8_t>(type));
  EXPECT_EQ(d.summary.key.tunnel_id, id);
  Decoded untunnelled = d;
  untunnelled.summary.key.tunnel_type = 0;
  untunnelled.summary.key.tunnel_id = 0;
  expect_v4(untunnelled, kTcp, 40000, 443, 50);
  EXPECT_EQ(d.summary.tcp_flags, 0x12);
  EXPECT_EQ(d.summary.ttl, 61);
}

std::vector<Case> decap_cases() {
  const Bytes eth = ethernet(0x0800);
  return {
      {"vxlan", kLinkTypeEthernet, eth + outer_v4(kUdp, udp_with(51000, 4789, vxlan_header(5001) + inner_frame()))},
      {"vxlan-linux", kLinkTypeEthernet, eth + outer_v4(kUdp, udp_with(51000, 8472, vxlan_header(7) + inner_frame()))},
      {"geneve", kLinkTypeEthernet,
       eth + outer_v4(kUdp, udp_with(51000, 6081, geneve_header(0x6558, 77, 2) + inner_frame()))},
      {"geneve-ip", kLinkTypeEthernet, eth + outer_v4(kUdp, udp_with(51000, 6081, geneve_header(0x0800, 78) + v4_tcp()))},
      {"gtp-u", kLinkTypeEthernet, eth + outer_v4(kUdp, udp_with(2152, 2152, gtp_header(0xdeadbeef) + v4_tcp()))},
      {"gtp-u-ext", kLinkTypeEthernet,
       eth + outer_v4(kUdp, udp_with(2152, 2152,
                                     gtp_header(0x1234, 0x04) + be16(0) + Bytes{0, 0x85} +  // PDU session container
                                         Bytes{1, 0x10, 0x09, 0} + v4_tcp()))},
      {"gre", kLinkTypeEthernet, eth + outer_v4(kGre, gre_header(0, 0x0800) + v4_tcp())},
      {"gre-key", kLinkTypeEthernet,
       eth + outer_v4(kGre, gre_header(0xb000, 0x0800, be32(0xabcd) + be32(0x1234) + be32(9)) + v4_tcp())},
      {"gre-ethernet", kLinkTypeEthernet, eth + outer_v4(kGre, gre_header(0x2000, 0x6558, be32(0x100)) + inner_frame())},
      {"erspan-i", kLinkTypeEthernet, eth + outer_v4(kGre, gre_header(0, 0x88be) + inner_frame())},
      {"erspan-ii", kLinkTypeEthernet,
       eth + outer_v4(kGre, gre_header(0x1000, 0x88be, be32(1)) + be16(0x1000) + be16(0x0123) + be32(0) +
                                inner_frame())},
      {"erspan-iii", kLinkTypeEthernet,
       eth + outer_v4(kGre, gre_header(0x1000, 0x22eb, be32(1)) + be16(0x2000) + be16(0x0042) + be32(0) +
                                be32(0x00000001) + zeros(8) + inner_frame())},
      {"ip-in-ip", kLinkTypeEthernet, eth + outer_v4(4, v4_tcp())},
      {"ipv6-in-ipv4", kLinkTypeEthernet, eth + outer_v4(41, v6_tcp())},
  };
}

TEST(DecapTest, ParseNames) {
  std::string error;
  EXPECT_EQ(parse_decap("all", error)->decap, kDecapAll);
  EXPECT_EQ(parse_decap("none", error)->decap, 0);
  EXPECT_EQ(parse_decap("gre,vxlan", error)->decap, kDecapGre | kDecapVxlan);
  EXPECT_EQ(parse_decap("gtp-u,ip-in-ip,ipv6-in-ipv4,geneve,erspan", error)->decap,
            kDecapGtpU | kDecapIpInIp | kDecapIpv6InIpv4 | kDecapGeneve | kDecapErspan);
  EXPECT_FALSE(parse_decap("gre,mpls", error));
  EXPECT_NE(error.find("unknown encapsulation 'mpls'"), std::string::npos) << error;
  EXPECT_FALSE(parse_decap("gre,", error));
  EXPECT_FALSE(parse_decap("", error));
  EXPECT_EQ(decap_to_string(kDecapGre | kDecapGtpU), "gre,gtp-u");
  EXPECT_EQ(decap_to_string(0), "none");
  EXPECT_EQ(parse_decap(decap_to_string(kDecapAll), error)->decap, kDecapAll);
}

TEST(DecapTest, EveryTunnelKeysTheInnerFlowWithItsId) {
  using T = cache::TunnelType;
  const std::pair<T, std::uint32_t> expected[] = {
      {T::kVxlan, 5001}, {T::kVxlan, 7},        {T::kGeneve, 77},  {T::kGeneve, 78}, {T::kGtpU, 0xdeadbeef},
      {T::kGtpU, 0x1234}, {T::kGre, 0},         {T::kGre, 0x1234}, {T::kGre, 0x100}, {T::kErspan, 0},
      {T::kErspan, 0x123}, {T::kErspan, 0x42}, {T::kIpInIp, 0},
  };
  const auto cases = decap_cases();
  for (std::size_t i = 0; i < std::size(expected); ++i) {
    SCOPED_TRACE(cases[i].name);
    expect_inner(decode_decap(kDecapAll, cases[i].frame), expected[i].first, expected[i].second);
  }
  Decoded v6 = decode_decap(kDecapAll, cases.back().frame);
  EXPECT_EQ(v6.summary.key.tunnel_type, static_cast<std::uint8_t>(T::kIpv6InIpv4));
  v6.summary.key.tunnel_type = 0;
  expect_v6(v6, kTcp, 40000, 443, 66);
}

TEST(DecapTest, WithoutTheOptionOrItsNameTheTunnelIsTheOuterFlow) {
  for (const Case& c : decap_cases()) {
    SCOPED_TRACE(c.name);
    const Decoded plain = decode(c.link_type, c.frame);
    ASSERT_EQ(plain.verdict, DecodeVerdict::kOk);
    EXPECT_EQ(plain.summary.key.tunnel_type, 0);
    EXPECT_EQ(plain.summary.key.source_address, v4_address(10, 1, 1, 1));
    // decap with every other name, or none: exactly the plain decode.
    std::uint16_t own = kDecapIpv6InIpv4;
    if (c.name.starts_with("vxlan")) own = kDecapVxlan;
    if (c.name.starts_with("geneve")) own = kDecapGeneve;
    if (c.name.starts_with("gtp")) own = kDecapGtpU;
    if (c.name.starts_with("gre")) own = kDecapGre;
    if (c.name.starts_with("erspan")) own = kDecapErspan;
    if (c.name == "ip-in-ip") own = kDecapIpInIp;
    for (const std::uint16_t decap : {std::uint16_t{0}, static_cast<std::uint16_t>(kDecapAll & ~own)}) {
      const Decoded other = decode_decap(decap, c.frame);
      ASSERT_EQ(other.verdict, DecodeVerdict::kOk);
      EXPECT_EQ(other.summary.key, plain.summary.key);
      EXPECT_EQ(other.summary.octets, plain.summary.octets);
    }
  }
}

TEST(DecapTest, EqualInnerHeadersInTwoTunnelsAreTwoKeys) {
  const Bytes eth = ethernet(0x0800);
  const Decoded a = decode_decap(kDecapVxlan, eth + outer_v4(kUdp, udp_with(1, 4789, vxlan_header(1) + inner_frame())));
  const Decoded b = decode_decap(kDecapVxlan, eth + outer_v4(kUdp, udp_with(1, 4789, vxlan_header(2) + inner_frame())));
  ASSERT_EQ(a.verdict, DecodeVerdict::kOk);
  ASSERT_EQ(b.verdict, DecodeVerdict::kOk);
  EXPECT_NE(a.summary.key, b.summary.key);
}

TEST(DecapTest, NestedTunnelsAreBoundedInDepth) {
  const Bytes eth = ethernet(0x0800);
  // VXLAN in GRE: the innermost tunnel names the flow.
  const Bytes vxlan_in_gre =
      eth + outer_v4(kGre, gre_header(0x2000, 0x0800, be32(5)) +
                               outer_v4(kUdp, udp_with(1, 4789, vxlan_header(99) + inner_frame())));
  expect_inner(decode_decap(kDecapAll, vxlan_in_gre), cache::TunnelType::kVxlan, 99);
  Bytes packet = v4_tcp();
  for (int depth = 1; depth <= kMaxTunnelDepth + 1; ++depth) {
    packet = outer_v4(4, packet);
    const Decoded d = decode_decap(kDecapIpInIp, eth + packet);
    if (depth <= kMaxTunnelDepth) {
      expect_inner(d, cache::TunnelType::kIpInIp, 0);
    } else {
      EXPECT_EQ(d.verdict, DecodeVerdict::kDecapTooDeep);
    }
  }
}

TEST(DecapTest, MalformedTunnelHeadersHaveTheirOwnReasons) {
  const Bytes eth = ethernet(0x0800);
  auto verdict = [&](const Bytes& ip) { return decode_decap(kDecapAll, eth + ip).verdict; };
  EXPECT_EQ(verdict(outer_v4(kUdp, udp_with(1, 4789, vxlan_header(1, 0x00) + inner_frame()))), DecodeVerdict::kDecapBadVxlan);
  EXPECT_EQ(verdict(outer_v4(kUdp, udp_with(1, 4789, Bytes{0x08, 0, 0}))), DecodeVerdict::kDecapBadVxlan);
  EXPECT_EQ(verdict(outer_v4(kUdp, udp_with(1, 6081, Bytes{0x40, 0} + be16(0x6558) + be32(0) + inner_frame()))),
            DecodeVerdict::kDecapBadGeneve);  // version 1
  EXPECT_EQ(verdict(outer_v4(kUdp, udp_with(1, 6081, Bytes{0x3f, 0} + be16(0x6558) + be32(0) + filler(8)))),
            DecodeVerdict::kDecapBadGeneve);  // options past the datagram
  EXPECT_EQ(verdict(outer_v4(kUdp, udp_with(2152, 2152, Bytes{0x50, 0xff} + be16(0) + be32(1) + v4_tcp()))),
            DecodeVerdict::kDecapBadGtpU);  // version 2 (GTPv2-C is not GTP-U)
  EXPECT_EQ(verdict(outer_v4(kUdp, udp_with(2152, 2152, gtp_header(1, 0x04) + be16(0) + Bytes{0, 0x85} +
                                                           Bytes{0, 0, 0, 0} + v4_tcp()))),
            DecodeVerdict::kDecapBadGtpU);  // an extension header of length 0
  EXPECT_EQ(verdict(outer_v4(kGre, be16(0x4000) + be16(0x0800) + v4_tcp())), DecodeVerdict::kDecapBadGre);  // routing
  EXPECT_EQ(verdict(outer_v4(kGre, be16(0x0002) + be16(0x0800) + v4_tcp())), DecodeVerdict::kDecapBadGre);  // version 2
  EXPECT_EQ(verdict(outer_v4(kGre, be16(0x2000) + be16(0x0800) + be16(1))), DecodeVerdict::kDecapBadGre);   // key cut
  EXPECT_EQ(verdict(outer_v4(kGre, gre_header(0x1000, 0x88be, be32(1)) + be16(0x2000) + be16(1) + be32(0) +
                                       inner_frame())),
            DecodeVerdict::kDecapBadErspan);  // type II header with version 2
  EXPECT_EQ(verdict(outer_v4(kGre, gre_header(0x1000, 0x22eb, be32(1)) + be16(0x2000) + be16(1))),
            DecodeVerdict::kDecapBadErspan);
  // Inside a well-formed tunnel, layers are counted as outer ones are.
  EXPECT_EQ(verdict(outer_v4(4, Ipv4{.version = 5}.build(tcp(1, 2, 0)))), DecodeVerdict::kBadIpVersion);
  EXPECT_EQ(verdict(outer_v4(kUdp, udp_with(1, 4789, vxlan_header(1) + ethernet(0x0806) + zeros(28)))),
            DecodeVerdict::kNotIp);
  // Not a tunnel's user data: the outer flow, as without --decap.
  expect_v4(decode_decap(kDecapAll, eth + Ipv4{.protocol = kUdp}.build(udp_with(2152, 2152, gtp_header(1, 0, 1)))),
            kUdp, 2152, 2152, 20 + 8 + 8);
  expect_v4(decode_decap(kDecapAll, eth + Ipv4{.protocol = kGre}.build(be16(0x3081) + be16(0x880b) + be32(0) + be32(0))),
            kGre, 0, 0, 20 + 12);  // PPTP's enhanced GRE
}

TEST(DecapTest, FragmentedOuterPacketsAreNotDecapsulated) {
  const Bytes eth = ethernet(0x0800);
  Bytes first = outer_v4(4, v4_tcp());
  first[6] = 0x20;  // MF
  const Decoded d = decode_decap(kDecapAll, eth + first);
  ASSERT_EQ(d.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(d.summary.key.protocol, 4);
  EXPECT_EQ(d.summary.key.tunnel_type, 0);
  EXPECT_EQ(d.summary.key.source_address, v4_address(10, 1, 1, 1));
}

TEST(DecapTest, InnerBytesStopAtTheOuterDatagram) {
  // Ethernet padding after a short outer datagram is never part of the inner packet.
  const Bytes eth = ethernet(0x0800);
  const Bytes inner = Ipv4{.protocol = kUdp}.build(udp(5353, 53));
  Bytes ip = outer_v4(4, inner);
  ip.resize(ip.size() - 2);  // the inner UDP header is cut by the outer total length...
  ip[3] = static_cast<std::uint8_t>(ip.size());
  const Decoded d = decode_decap(kDecapIpInIp, eth + ip + filler(20));  // ...and padding follows
  EXPECT_EQ(d.verdict, DecodeVerdict::kOk);  // ports are still within the outer datagram
  Bytes cut = outer_v4(4, Ipv4{.protocol = kUdp}.build(Bytes{0x14}));
  EXPECT_EQ(decode_decap(kDecapIpInIp, eth + cut + filler(20)).verdict, DecodeVerdict::kTruncatedTransportLayer);
}

TEST(DecapTest, CutShortAtEveryOffsetNeverReadsPastTheCapture) {
  for (const Case& c : decap_cases()) {
    SCOPED_TRACE(c.name);
    for (std::size_t n = 0; n < c.frame.size(); ++n) {
      const Bytes cut(c.frame.begin(), c.frame.begin() + static_cast<std::ptrdiff_t>(n));
      const Decoded d = decode_decap(kDecapAll, cut, static_cast<std::uint32_t>(c.frame.size()));
      ASSERT_LT(static_cast<int>(d.verdict), static_cast<int>(DecodeVerdict::kCount));
    }
  }
}

// ---- extras (--key, --fields) ------------------------------------------------------------

struct DecodedExtras {
  DecodeVerdict verdict;
  PacketSummary summary;
  cache::PacketExtras extras;
};

DecodedExtras decode_extras(int link_type, const Bytes& frame, std::uint16_t decap = 0) {
  DecodedExtras d{};
  DecodeOptions options;
  options.decap = decap;
  options.extras = true;
  d.verdict = decode_packet(link_type, std::span<const std::uint8_t>(frame.data(), frame.size()),
                            static_cast<std::uint32_t>(frame.size()), kTimestamp, kIngress, options, d.summary,
                            d.extras);
  return d;
}

TEST(DecoderExtrasTest, EthernetQinqMplsGiveMacsVlansAndLabels) {
  const Bytes frame = ethernet(0x88a8) + vlan_tag(10, 0x8100) + vlan_tag(20, 0x8847) + mpls_label(100, false) +
                      mpls_label(200, false) + mpls_label(300, true) + v4_tcp();
  const auto d = decode_extras(kLinkTypeEthernet, frame);
  ASSERT_EQ(d.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(d.extras.destination_mac, (std::array<std::uint8_t, 6>{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}));
  EXPECT_EQ(d.extras.source_mac, (std::array<std::uint8_t, 6>{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}));
  EXPECT_EQ(d.extras.vlan_id, 10);
  EXPECT_EQ(d.extras.inner_vlan_id, 20);
  EXPECT_EQ(d.extras.mpls_top_label, 100u << 4);                  // label, TC 0, S clear
  EXPECT_EQ(d.extras.mpls_labels[0], 200u << 4);
  EXPECT_EQ(d.extras.mpls_labels[1], (300u << 4) | 1u);           // bottom of stack
  EXPECT_EQ(d.extras.fragment_flags, 0x40);                       // DF
  EXPECT_EQ(d.extras.flow_label, 0u);
  EXPECT_EQ(d.extras.direction, cache::kDirectionUnknown);
}

TEST(DecoderExtrasTest, Ipv6FlowLabelAndFragments) {
  const auto v6 = decode_extras(kLinkTypeEthernet, ethernet(0x86dd) + v6_udp());
  ASSERT_EQ(v6.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(v6.extras.flow_label, 0x12345u);
  EXPECT_EQ(v6.extras.vlan_id, 0);

  Ipv4 later;
  later.protocol = kUdp;
  later.fragment = 0x2000 | 100;  // MF, offset 800
  const auto fragment = decode_extras(kLinkTypeEthernet, ethernet(0x0800) + later.build(filler(16)));
  ASSERT_EQ(fragment.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(fragment.extras.fragment_flags, 0x20 | 0x10);

  Ipv6 first;
  first.next_header = kFragment;
  const auto v6_fragment =
      decode_extras(kLinkTypeEthernet, ethernet(0x86dd) + first.build(fragment_header(kUdp, 0, true) + udp(1, 2)));
  ASSERT_EQ(v6_fragment.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(v6_fragment.extras.fragment_flags, 0x20);
}

TEST(DecoderExtrasTest, CookedHeadersGiveDirectionAndSource) {
  Bytes outgoing = sll(0x0800) + v4_tcp();
  outgoing[1] = 4;  // PACKET_OUTGOING
  const auto out = decode_extras(kLinkTypeLinuxSll, outgoing);
  ASSERT_EQ(out.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(out.extras.direction, 1);
  EXPECT_EQ(out.extras.source_mac, (std::array<std::uint8_t, 6>{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}));
  const auto in = decode_extras(kLinkTypeLinuxSll2, sll2(0x0800) + v4_tcp());
  ASSERT_EQ(in.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(in.extras.direction, 1);  // the builder's packet type is 4
  Bytes host = sll2(0x0800) + v4_tcp();
  host[10] = 0;  // PACKET_HOST
  EXPECT_EQ(decode_extras(kLinkTypeLinuxSll2, host).extras.direction, 0);
}

// --decap --fields tunnelSourceAddress: the innermost tunnel's outer header, in the key's form.
TEST(DecoderExtrasTest, TunnelsGiveTheInnermostTunnelsOuterAddresses) {
  for (const Case& c : decap_cases()) {
    SCOPED_TRACE(c.name);
    const auto d = decode_extras(c.link_type, c.frame, kDecapAll);
    ASSERT_EQ(d.verdict, DecodeVerdict::kOk);
    EXPECT_NE(d.summary.key.tunnel_type, 0);
    EXPECT_EQ(d.extras.tunnel_ip_version, 4);
    EXPECT_EQ(d.extras.tunnel_source, v4_address(10, 1, 1, 1));
    EXPECT_EQ(d.extras.tunnel_destination, v4_address(10, 2, 2, 2));
    // Without --decap the packet is its outer flow, through no tunnel.
    const auto plain = decode_extras(c.link_type, c.frame);
    EXPECT_EQ(plain.extras.tunnel_ip_version, 0);
    EXPECT_EQ(plain.extras.tunnel_source, (std::array<std::uint8_t, 16>{}));
  }
  // VXLAN in GRE: the VTEPs (the IPv4 header inside GRE), not the GRE endpoints.
  Bytes vteps = outer_v4(kUdp, udp_with(1, 4789, vxlan_header(99) + inner_frame()));
  const Bytes a = {192, 0, 2, 7}, b = {192, 0, 2, 8};
  std::copy(a.begin(), a.end(), vteps.begin() + 12);
  std::copy(b.begin(), b.end(), vteps.begin() + 16);
  vteps[10] = vteps[11] = 0;  // the checksum is not checked
  const auto nested = decode_extras(kLinkTypeEthernet, ethernet(0x0800) + outer_v4(kGre, gre_header(0, 0x0800) + vteps),
                                    kDecapAll);
  ASSERT_EQ(nested.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(nested.summary.key.tunnel_id, 99u);
  EXPECT_EQ(nested.extras.tunnel_source, v4_address(192, 0, 2, 7));
  EXPECT_EQ(nested.extras.tunnel_destination, v4_address(192, 0, 2, 8));
  // An IPv6 outer header: its 16-byte addresses and version 6.
  const auto over_v6 = decode_extras(
      kLinkTypeEthernet, ethernet(0x86dd) + Ipv6{.next_header = kUdp}.build(udp_with(1, 4789, vxlan_header(3) + inner_frame())),
      kDecapAll);
  ASSERT_EQ(over_v6.verdict, DecodeVerdict::kOk);
  EXPECT_EQ(over_v6.extras.tunnel_ip_version, 6);
  EXPECT_EQ(over_v6.extras.tunnel_source, v6_address(kV6Source));
  EXPECT_EQ(over_v6.extras.tunnel_destination, v6_address(kV6Destination));
  EXPECT_EQ(over_v6.summary.key.ip_version, 4);  // the inner flow
}

// Filling extras never changes the summary or the verdict, for every valid frame and every cut.
TEST(DecoderExtrasTest, SummaryIsTheSameWithAndWithoutExtras) {
  for (const Case& c : valid_cases()) {
    for (std::size_t cut = 0; cut <= c.frame.size(); ++cut) {
      const Bytes frame(c.frame.begin(), c.frame.begin() + static_cast<std::ptrdiff_t>(cut));
      const auto plain = decode(c.link_type, frame);
      const auto with = decode_extras(c.link_type, frame);
      ASSERT_EQ(plain.verdict, with.verdict) << c.name << " cut " << cut;
      if (plain.verdict != DecodeVerdict::kOk) continue;
      EXPECT_EQ(plain.summary.key, with.summary.key) << c.name << " cut " << cut;
      EXPECT_EQ(plain.summary.octets, with.summary.octets) << c.name;
      EXPECT_EQ(plain.summary.ttl, with.summary.ttl) << c.name;
      EXPECT_EQ(plain.summary.tcp_flags, with.summary.tcp_flags) << c.name;
    }
  }
}

}  // namespace
}  // namespace tapflow::probe
