// The one text rendering of flows (cache/flow_text.h) that the table, ctl and collect share.
#include "cache/flow_text.h"

#include <gtest/gtest.h>

namespace tapflow::cache {
namespace {

TEST(FlowText, ProtocolsByNameOrNumber) {
  EXPECT_EQ(protocol_name(6), "TCP");
  EXPECT_EQ(protocol_name(58), "ICMPv6");  // one spelling everywhere (the table said ICMP6)
  EXPECT_EQ(protocol_name(2), "2");        // collect said proto-2
}

TEST(FlowText, EndpointsBracketIpv6) {
  FlowKey k{};
  k.ip_version = 6;
  k.source_address = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  k.source_port = 53;
  EXPECT_EQ(format_endpoint(k, true), "[2001:db8::1]:53");
  EXPECT_EQ(format_address(k.source_address, true), "2001:db8::1");
  std::array<std::uint8_t, 16> v4{192, 0, 2, 1};
  EXPECT_EQ(format_endpoint(v4, false, 80), "192.0.2.1:80");
}

TEST(FlowText, TcpFlagsAsNfdumpAndTimesInUtcWithMilliseconds) {
  EXPECT_EQ(format_tcp_flags(0x02), "......S.");
  EXPECT_EQ(format_tcp_flags(0x13), "...A..SF");
  EXPECT_EQ(format_time_utc(1'492'167'337'123'456'789ull), "2017-04-14 10:55:37.123");
}

}  // namespace
}  // namespace tapflow::cache
