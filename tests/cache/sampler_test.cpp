// Packet sampling: exactly one packet per window of N for both modes, deterministic picks the
// first of each window, random ones spread over the window, and the text forms parse.
#include "cache/sampler.h"

#include <gtest/gtest.h>

#include <vector>

#include "cache/flow_table.h"

namespace tapflow::cache {
namespace {

TEST(PacketSampler, NoneKeepsEverything) {
  PacketSampler s;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(s.select());
  PacketSampler one({SamplingMode::kDeterministic, 1});
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(one.select());
}

TEST(PacketSampler, DeterministicKeepsTheFirstOfEachWindow) {
  PacketSampler s({SamplingMode::kDeterministic, 4});
  std::vector<int> kept;
  for (int i = 0; i < 13; ++i) {
    if (s.select()) kept.push_back(i);
  }
  EXPECT_EQ(kept, (std::vector<int>{0, 4, 8, 12}));
}

TEST(PacketSampler, RandomKeepsExactlyOnePerWindowAtVaryingPositions) {
  constexpr std::uint32_t kN = 10;
  PacketSampler s({SamplingMode::kRandom, kN}, 42);
  std::vector<int> position_counts(kN, 0);
  for (int window = 0; window < 10000; ++window) {
    int kept = 0;
    for (std::uint32_t i = 0; i < kN; ++i) {
      if (s.select()) {
        ++kept;
        ++position_counts[i];
      }
    }
    ASSERT_EQ(kept, 1) << "window " << window;
  }
  // Uniform over the window: each position about 1000 times (a loose 5-sigma bound).
  for (int c : position_counts) {
    EXPECT_GT(c, 850);
    EXPECT_LT(c, 1150);
  }
}

TEST(PacketSampler, SameSeedSameChoices) {
  PacketSampler a({SamplingMode::kRandom, 7}, 9), b({SamplingMode::kRandom, 7}, 9);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.select(), b.select());
}

TEST(ParseSampling, AcceptsTheDocumentedForms) {
  std::string error;
  auto d = parse_sampling("100", error);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->mode, SamplingMode::kDeterministic);
  EXPECT_EQ(d->interval, 100u);
  auto d2 = parse_sampling("deterministic:8", error);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->mode, SamplingMode::kDeterministic);
  auto r = parse_sampling("random:512", error);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mode, SamplingMode::kRandom);
  EXPECT_EQ(r->interval, 512u);
  auto none = parse_sampling("1", error);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->mode, SamplingMode::kNone);
  EXPECT_EQ(to_string(*r), "random 1 in 512");
}

TEST(ParseSampling, RejectsGarbageWithAReason) {
  for (const char* bad : {"", "0", "-5", "abc", "random:", "random:0", "hash:4", "10x", "99999999999"}) {
    std::string error;
    EXPECT_FALSE(parse_sampling(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(FlowTable, PacketWeightScalesCounts) {
  FlowTable table(FlowTableConfig{.capacity = 4, .hash_seed = 1, .packet_weight = 100});
  std::vector<FlowRecord> out;
  PacketSummary p;
  p.key.ip_version = 4;
  p.key.protocol = 17;
  p.octets = 60;
  p.timestamp_ns = 1;
  table.update(p, out);
  table.update(p, out);
  table.expire_all(FlowEndReason::kForcedEnd, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].packets, 200u);
  EXPECT_EQ(out[0].octets, 12000u);
  EXPECT_EQ(table.counters().packets, 200u);
  EXPECT_EQ(table.counters().octets, 12000u);
}

}  // namespace
}  // namespace tapflow::cache
