#include "probe/ops/top_hosts.h"

#include <gtest/gtest.h>

namespace tapflow::probe {
namespace {

cache::FlowRecord flow(std::uint8_t source, std::uint8_t destination, std::uint64_t packets, std::uint64_t octets) {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  r.key.source_address = {10, 0, 0, source};
  r.key.destination_address = {10, 0, 0, destination};
  r.packets = packets;
  r.octets = octets;
  return r;
}

// Each flow counts for both its ends: 10.0.0.1 talks to .2 and .3, so it is first by bytes
// though no single flow of it is the largest.
TEST(RankHosts, SumsBothEndsOfEveryFlow) {
  const std::vector<cache::FlowRecord> flows{flow(1, 2, 10, 1000), flow(3, 1, 50, 800), flow(4, 5, 1, 1500)};
  const auto by_bytes = rank_hosts(flows, 10, false);
  ASSERT_EQ(by_bytes.size(), 5u);
  EXPECT_EQ(by_bytes[0].address, "10.0.0.1");
  EXPECT_EQ(by_bytes[0].octets, 1800u);
  EXPECT_EQ(by_bytes[0].packets, 60u);
  EXPECT_EQ(by_bytes[0].flows, 2u);
  EXPECT_EQ(by_bytes[1].address, "10.0.0.4");  // ties (.4 and .5 at 1500) in address order
  EXPECT_EQ(by_bytes[2].address, "10.0.0.5");
  EXPECT_EQ(by_bytes[3].address, "10.0.0.2");
  const auto by_packets = rank_hosts(flows, 2, true);
  ASSERT_EQ(by_packets.size(), 2u);
  EXPECT_EQ(by_packets[0].address, "10.0.0.1");
  EXPECT_EQ(by_packets[1].address, "10.0.0.3");
  EXPECT_EQ(by_packets[1].packets, 50u);
}

TEST(RankHosts, KeepsIpv4AndIpv6Apart) {
  cache::FlowRecord v6;
  v6.key.ip_version = 6;
  v6.key.source_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  v6.key.destination_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  v6.octets = 5;
  const auto ranked = rank_hosts({v6, flow(1, 2, 1, 1)}, 10, false);
  ASSERT_EQ(ranked.size(), 4u);
  EXPECT_EQ(ranked[0].address, "2001:db8::1");
  EXPECT_TRUE(rank_hosts({}, 5, false).empty());
}

}  // namespace
}  // namespace tapflow::probe
