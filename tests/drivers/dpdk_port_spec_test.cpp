// The command line's words for DPDK ports (drivers/dpdk/dpdk_port_spec.cpp): built with or without
// DPDK, so these run everywhere.
#include <gtest/gtest.h>

#include "drivers/dpdk/dpdk_driver.h"

namespace tapflow::drivers {
namespace {

TEST(DpdkPortSpec, RecognisesDpdkPortsOnly) {
  EXPECT_TRUE(is_dpdk_interface("dpdk:0"));
  EXPECT_TRUE(is_dpdk_interface("7:dpdk:1"));
  EXPECT_TRUE(is_dpdk_interface("dpdk:"));  // a DPDK word, refused by parse_dpdk_port
  EXPECT_FALSE(is_dpdk_interface("eth0"));
  EXPECT_FALSE(is_dpdk_interface("7:eth0"));
  EXPECT_FALSE(is_dpdk_interface("dpdk0"));
  EXPECT_FALSE(is_dpdk_interface("x7:dpdk:0"));
  EXPECT_FALSE(is_dpdk_interface(":dpdk:0"));
}

TEST(DpdkPortSpec, ParsesPortAndIfIndex) {
  const DpdkPort plain = parse_dpdk_port("dpdk:3");
  EXPECT_EQ(plain.port_id, 3);
  EXPECT_EQ(plain.if_index, 0u);  // the PMD's
  const DpdkPort indexed = parse_dpdk_port("42:dpdk:65535");
  EXPECT_EQ(indexed.port_id, 65535);
  EXPECT_EQ(indexed.if_index, 42u);
}

TEST(DpdkPortSpec, RefusesMalformedWords) {
  for (const char* bad : {"dpdk:", "dpdk:x", "dpdk:-1", "dpdk:65536", "dpdk:1 ", "dpdk:0x1", "4294967296:dpdk:0", "eth0"}) {
    EXPECT_THROW(parse_dpdk_port(bad), std::invalid_argument) << bad;
  }
}

TEST(DpdkPortSpec, SplitsEalArgumentsOnWhiteSpace) {
  EXPECT_EQ(split_eal_arguments("  -l 0-2\t--no-huge  --vdev=net_pcap0,rx_pcap=a.pcap \n"),
            (std::vector<std::string>{"-l", "0-2", "--no-huge", "--vdev=net_pcap0,rx_pcap=a.pcap"}));
  EXPECT_TRUE(split_eal_arguments("   ").empty());
}

}  // namespace
}  // namespace tapflow::drivers
