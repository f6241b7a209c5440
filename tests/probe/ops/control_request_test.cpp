#include "probe/ops/control_request.h"

#include <gtest/gtest.h>

namespace tapflow::probe {
namespace {

using Command = ControlRequest::Command;
using Rank = ControlRequest::Rank;

TEST(ControlRequest, ParsesEveryForm) {
  std::string error;
  auto r = parse_control_request("stats", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->command, Command::kStats);
  EXPECT_FALSE(r->json);
  r = parse_control_request("stats --json", error);
  ASSERT_TRUE(r) << error;
  EXPECT_TRUE(r->json);
  r = parse_control_request("flows", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->command, Command::kFlows);
  EXPECT_EQ(r->count, 20u);
  r = parse_control_request("flows 1000000 --json", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->count, 1000000u);
  r = parse_control_request("top", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->command, Command::kTop);
  EXPECT_EQ(r->count, 10u);
  EXPECT_EQ(r->rank, Rank::kBytes);
  r = parse_control_request("top 3 packets", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->count, 3u);
  EXPECT_EQ(r->rank, Rank::kPackets);
  r = parse_control_request("top flows", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->rank, Rank::kFlows);
  r = parse_control_request("top 5 hosts", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->rank, Rank::kHosts);
  EXPECT_FALSE(r->hosts_by_packets);
  r = parse_control_request("top hosts packets --json", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->count, 10u);
  EXPECT_EQ(r->rank, Rank::kHosts);
  EXPECT_TRUE(r->hosts_by_packets);
  EXPECT_TRUE(r->json);
  r = parse_control_request("expire", error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->command, Command::kExpire);
}

// Issue 16: `ctl flows -1` asked for 2^64-1 flows and `ctl stats extra` ignored its word.
TEST(ControlRequest, RefusesWhatWouldBeIgnoredOrMisread) {
  const std::pair<const char*, const char*> cases[] = {
      {"flows -1", "'flows -1': N is a whole number from 1"},
      {"flows 0", "'flows 0': N is a whole number from 1"},
      {"flows many", "'flows many': N is a whole number from 1"},
      {"flows 5 6", "'flows' takes fewer arguments, got '6'"},
      {"stats extra", "'stats' takes no argument, got 'extra'"},
      {"expire now", "'expire' takes no argument, got 'now'"},
      {"top -3", "'top -3': N is a whole number from 1"},
      {"top 5 octets", "'top ... octets': rank by bytes, packets, flows or hosts"},
      {"top 5 hosts flows", "'top ... hosts flows': rank hosts by bytes or packets"},
      {"top 5 hosts bytes x", "'top' takes fewer arguments, got 'x'"},
      {"top 5 bytes more", "'top' takes fewer arguments, got 'more'"},
      {"frobnicate", "unknown request 'frobnicate'"},
      {"", "no request"},
  };
  for (const auto& [line, expected] : cases) {
    std::string error;
    EXPECT_FALSE(parse_control_request(line, error)) << line;
    EXPECT_EQ(error, expected) << line;
  }
}

}  // namespace
}  // namespace tapflow::probe
