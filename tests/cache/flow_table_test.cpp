// Flow table: every expiry reason with injected packet times, eviction when full, and the
// guarantee that distinct keys never merge.
#include "cache/flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "cache/flow_hash.h"

namespace tapflow::cache {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;

PacketSummary packet(std::uint16_t source_port, std::uint64_t t, std::uint32_t octets = 100,
                     std::uint8_t flags = 0, std::uint8_t protocol = 6) {
  PacketSummary p;
  p.key.ip_version = 4;
  p.key.source_address = {10, 0, 0, 1};
  p.key.destination_address = {10, 0, 0, 2};
  p.key.source_port = source_port;
  p.key.destination_port = 80;
  p.key.protocol = protocol;
  p.timestamp_ns = t;
  p.octets = octets;
  p.tcp_flags = flags;
  p.ttl = 64;
  return p;
}

FlowTableConfig config(std::size_t capacity = 16) {
  return FlowTableConfig{.capacity = capacity,
                         .inactive_timeout_ns = 15 * kSecond,
                         .active_timeout_ns = 1800 * kSecond,
                         .hash_seed = 12345};
}

TEST(FlowTable, AggregatesPacketsOfOneFlow) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  auto a = packet(1000, 100 * kSecond, 60, 0x02);
  a.ttl = 30;
  auto b = packet(1000, 101 * kSecond, 1500, 0x10);
  b.ttl = 70;
  table.update(a, out);
  table.update(b, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(table.size(), 1u);
  table.expire_all(FlowEndReason::kForcedEnd, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].packets, 2u);
  EXPECT_EQ(out[0].octets, 1560u);
  EXPECT_EQ(out[0].first_ns, 100 * kSecond);
  EXPECT_EQ(out[0].last_ns, 101 * kSecond);
  EXPECT_EQ(out[0].tcp_flags, 0x12);
  EXPECT_EQ(out[0].min_ttl, 30);
  EXPECT_EQ(out[0].max_ttl, 70);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kForcedEnd);
  EXPECT_EQ(table.size(), 0u);
}

TEST(FlowTable, InactiveTimeoutExpiresIdleFlowsOnly) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(1, 100 * kSecond), out);
  table.update(packet(2, 110 * kSecond), out);
  EXPECT_EQ(table.expire(115 * kSecond, out), 0u);  // exactly 15 s idle: not yet
  // Due from 115 s + 1 ns; the timer wheel finds it by the end of its 1 s slot.
  EXPECT_EQ(table.granularity_ns(), kSecond);
  EXPECT_EQ(table.expire(116 * kSecond, out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.source_port, 1);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(table.counters().expired[1], 1u);
}

TEST(FlowTable, PacketAfterIdleGapStartsANewFlow) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(1, 100 * kSecond), out);
  table.update(packet(1, 130 * kSecond), out);  // no expire() call in between
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(out[0].packets, 1u);
  EXPECT_EQ(table.size(), 1u);
}

TEST(FlowTable, ActiveTimeoutSplitsLongFlows) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  for (std::uint64_t t = 0; t <= 1810; t += 10) table.update(packet(1, 1000 * kSecond + t * kSecond), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kActiveTimeout);
  EXPECT_EQ(out[0].packets, 181u);  // t = 0..1800 inclusive
  out.clear();
  table.update(packet(2, 2900 * kSecond), out);
  // The periodic expiry finds the second segment active for too long... it was idle first.
  EXPECT_EQ(table.expire(2900 * kSecond, out), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
}

TEST(FlowTable, PeriodicExpiryHonoursActiveTimeout) {
  FlowTableConfig c = config();
  c.inactive_timeout_ns = 100 * kSecond;
  c.active_timeout_ns = 60 * kSecond;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  for (std::uint64_t t = 0; t <= 50; t += 10) table.update(packet(1, t * kSecond), out);
  EXPECT_EQ(table.expire(60 * kSecond, out), 0u);
  EXPECT_EQ(table.expire(61 * kSecond, out), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kActiveTimeout);
}

TEST(FlowTable, FinAndRstEndTheFlowAfterCountingThePacket) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(1, kSecond, 60, 0x02), out);
  table.update(packet(1, 2 * kSecond, 40, 0x11), out);  // FIN+ACK
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kEndOfFlow);
  EXPECT_EQ(out[0].packets, 2u);
  EXPECT_EQ(out[0].octets, 100u);
  table.update(packet(2, 3 * kSecond, 40, 0x04), out);  // RST alone
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].end_reason, FlowEndReason::kEndOfFlow);
  EXPECT_EQ(table.size(), 0u);
}

TEST(FlowTable, EndOfInputKeepsTheTimeoutReasonOfFlowsAlreadyTimedOut) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(1, 100 * kSecond), out);
  table.update(packet(2, 120 * kSecond), out);  // clock 120 s: flow 1 idle for 20 s
  table.expire_all(FlowEndReason::kForcedEnd, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(out[1].end_reason, FlowEndReason::kForcedEnd);
}

TEST(FlowTable, FinBitOnUdpIsNotTcp) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(1, kSecond, 60, 0x01, 17), out);
  EXPECT_TRUE(out.empty());
}

TEST(FlowTable, FullCacheEvictsLeastRecentlyUpdated) {
  FlowTable table(config(4));
  std::vector<FlowRecord> out;
  for (std::uint16_t p = 1; p <= 4; ++p) table.update(packet(p, p * kSecond), out);
  table.update(packet(1, 5 * kSecond), out);  // flow 1 becomes the most recent
  table.update(packet(9, 6 * kSecond), out);  // full: flow 2 is the least recently updated
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.source_port, 2);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kLackOfResources);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.counters().expired[5], 1u);
}

TEST(FlowTable, ConservesPacketsAndOctetsUnderChurn) {
  FlowTable table(config(64));
  std::vector<FlowRecord> out;
  std::uint64_t packets = 0, octets = 0;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    const auto octet_count = static_cast<std::uint32_t>(40 + x % 1460);
    const auto flags = static_cast<std::uint8_t>((x >> 20) % 50 == 0 ? 0x01 : 0x10);
    table.update(packet(static_cast<std::uint16_t>(x % 500), static_cast<std::uint64_t>(i) * kSecond / 100,
                        octet_count, flags), out);
    ++packets;
    octets += octet_count;
    if (i % 256 == 0) table.expire(table.clock_ns(), out);
  }
  table.expire_all(FlowEndReason::kForcedEnd, out);
  std::uint64_t p = 0, o = 0;
  for (const auto& r : out) { p += r.packets; o += r.octets; }
  EXPECT_EQ(p, packets);
  EXPECT_EQ(o, octets);
  EXPECT_EQ(table.counters().flows_created, out.size());
  EXPECT_EQ(table.counters().expired_total(), out.size());
}

TEST(FlowTable, BatchUpdateMatchesSingleUpdates) {
  std::vector<PacketSummary> packets;
  for (int i = 0; i < 5000; ++i) {
    packets.push_back(packet(static_cast<std::uint16_t>(i * 7919 % 300), static_cast<std::uint64_t>(i) * kSecond / 10,
                             static_cast<std::uint32_t>(40 + i % 1000), i % 97 == 0 ? 0x01 : 0x10));
  }
  FlowTable one(config(128)), batched(config(128));
  std::vector<FlowRecord> a, b;
  for (const auto& p : packets) one.update(p, a);
  for (std::size_t i = 0; i < packets.size(); i += 256) {
    batched.update_batch(std::span(packets).subspan(i, std::min<std::size_t>(256, packets.size() - i)), b);
  }
  one.expire_all(FlowEndReason::kForcedEnd, a);
  batched.expire_all(FlowEndReason::kForcedEnd, b);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key);
    EXPECT_EQ(a[i].packets, b[i].packets);
    EXPECT_EQ(a[i].end_reason, b[i].end_reason);
  }
}

TEST(FlowTable, DistinctKeysInOneBucketNeverMerge) {
  // The fewest buckets that hold the capacity: nearly every slot taken, long probes, yet each
  // key stays its own flow.
  FlowTableConfig c = config(1000);
  c.bucket_count = 1;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  for (std::uint16_t p = 0; p < 1000; ++p) table.update(packet(p, kSecond), out);
  EXPECT_EQ(table.size(), 1000u);
  table.expire_all(FlowEndReason::kForcedEnd, out);
  ASSERT_EQ(out.size(), 1000u);
  for (const auto& r : out) EXPECT_EQ(r.packets, 1u);
}

TEST(FlowTable, ForEachActiveListsNewestFirst) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(1, kSecond), out);
  table.update(packet(2, 2 * kSecond), out);
  std::vector<std::uint16_t> ports;
  table.for_each_active([&](const FlowRecord& r) { ports.push_back(r.key.source_port); });
  EXPECT_EQ(ports, (std::vector<std::uint16_t>{2, 1}));
}

TEST(FlowTable, KeysComeBackExactlyFromBothEntryKinds) {
  FlowTable table(config(64));
  std::vector<FlowRecord> out;
  std::vector<FlowKey> keys;
  auto v4 = packet(1, kSecond);
  v4.key.tos = 0xb8;
  v4.key.ingress_interface = 0x01020304;
  v4.key.source_address = {192, 0, 2, 1};
  v4.key.destination_address = {198, 51, 100, 7};
  keys.push_back(v4.key);
  auto v6 = v4;
  v6.key.ip_version = 6;
  for (std::uint8_t i = 0; i < 16; ++i) {
    v6.key.source_address[i] = static_cast<std::uint8_t>(0x20 + i);
    v6.key.destination_address[i] = static_cast<std::uint8_t>(0xf0 - i);
  }
  keys.push_back(v6.key);
  auto odd = v4;  // says IPv4 but carries bytes past the fourth: kept whole, never truncated
  odd.key.source_address[9] = 1;
  keys.push_back(odd.key);
  auto unknown = v4;  // no IP version at all
  unknown.key.ip_version = 0;
  keys.push_back(unknown.key);
  for (const auto& k : keys) {
    PacketSummary p = v4;
    p.key = k;
    table.update(p, out);
    table.update(p, out);
  }
  EXPECT_EQ(table.size(), keys.size());
  table.expire_all(FlowEndReason::kForcedEnd, out);
  ASSERT_EQ(out.size(), keys.size());
  for (const auto& k : keys) {
    const auto it = std::find_if(out.begin(), out.end(), [&](const FlowRecord& r) { return r.key == k; });
    ASSERT_NE(it, out.end());
    EXPECT_EQ(it->packets, 2u);
    EXPECT_EQ(it->octets, 200u);
  }
}

// Against a plain map: flows end only by FIN or at the end, so the expected records are exact.
// A crowded table (the fewest buckets, IPv4 and IPv6 mixed, many erasures) must agree.
TEST(FlowTable, CrowdedTableAgreesWithAReferenceModel) {
  FlowTableConfig c = config(8192);  // 8000 keys at most: no eviction
  c.bucket_count = 1;
  c.inactive_timeout_ns = 1'000'000 * kSecond;
  c.active_timeout_ns = 1'000'000 * kSecond;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  struct Totals {
    std::uint64_t packets = 0, octets = 0;
  };
  std::map<std::pair<std::uint16_t, bool>, Totals> open;
  std::vector<std::tuple<std::uint16_t, bool, std::uint64_t, std::uint64_t>> expected;
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 200000; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    const auto port = static_cast<std::uint16_t>(x % 4000);
    const bool v6 = (x >> 32) % 3 == 0;
    const bool fin = (x >> 40) % 8 == 0;
    auto p = packet(port, kSecond + static_cast<std::uint64_t>(i), static_cast<std::uint32_t>(40 + x % 1000),
                    fin ? 0x11 : 0x10);
    if (v6) {
      p.key.ip_version = 6;
      p.key.source_address[15] = 1;
    }
    table.update(p, out);
    auto& t = open[{port, v6}];
    t.packets += 1;
    t.octets += p.octets;
    if (fin) {
      expected.emplace_back(port, v6, t.packets, t.octets);
      open.erase({port, v6});
    }
  }
  EXPECT_EQ(table.size(), open.size());
  table.expire_all(FlowEndReason::kForcedEnd, out);
  for (const auto& [k, t] : open) expected.emplace_back(k.first, k.second, t.packets, t.octets);
  std::vector<std::tuple<std::uint16_t, bool, std::uint64_t, std::uint64_t>> got;
  for (const auto& r : out) got.emplace_back(r.key.source_port, r.key.is_ipv6(), r.packets, r.octets);
  std::sort(expected.begin(), expected.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(table.size(), 0u);
}

TEST(FlowTable, ClockJumpOfMoreThanAWheelTurnExpiresOnce) {
  FlowTable table(config(64));
  std::vector<FlowRecord> out;
  for (std::uint16_t p = 1; p <= 10; ++p) table.update(packet(p, 100 * kSecond + p), out);
  // A year later (a capture with a gap, or a bogus timestamp): one new flow, then a sweep.
  const std::uint64_t later = 100 * kSecond + 365ull * 86400 * kSecond;
  table.update(packet(99, later), out);
  // Still spread over calls: at most max_records each (found by fuzz_flow_table).
  EXPECT_EQ(table.expire(later, out, 4), 4u);
  EXPECT_EQ(table.expire(later, out, 4), 4u);
  EXPECT_EQ(table.expire(later, out), 2u);
  ASSERT_EQ(out.size(), 10u);
  for (const auto& r : out) EXPECT_EQ(r.end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.expire(later + 16 * kSecond, out), 1u);
  EXPECT_EQ(out.back().key.source_port, 99);
}

TEST(FlowTable, ActiveTimeoutBeyondTheWheelsReach) {
  // A day of active timeout at 1 s slots is more than the wheel's 65536 slots: flows are filed
  // in its last slot and re-filed until due.
  FlowTableConfig c = config();
  c.active_timeout_ns = 86400 * kSecond;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  std::uint64_t t = 0;
  for (; t <= 86400 + 20; t += 10) {
    table.update(packet(1, t * kSecond), out);
    table.expire(t * kSecond, out);
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kActiveTimeout);
  EXPECT_EQ(out[0].packets, 8641u);  // t = 0..86400 inclusive
  EXPECT_EQ(table.expire(t * kSecond + 16 * kSecond, out), 1u);
  EXPECT_EQ(out.back().end_reason, FlowEndReason::kIdleTimeout);
}

TEST(FlowTable, AnEarlierPacketBringsTheActiveTimeoutForward) {
  // Out-of-order capture: the flow's first packet arrives second. Its active timeout counts from
  // the earlier time, and the wheel must find it then, not 50 s later.
  FlowTableConfig c = config();
  c.inactive_timeout_ns = 100 * kSecond;
  c.active_timeout_ns = 60 * kSecond;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  table.update(packet(1, 100 * kSecond), out);
  table.update(packet(1, 50 * kSecond), out);
  EXPECT_EQ(table.expire(110 * kSecond, out), 0u);
  EXPECT_EQ(table.expire(112 * kSecond, out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first_ns, 50 * kSecond);
  EXPECT_EQ(out[0].packets, 2u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kActiveTimeout);
}

TEST(FlowTable, TimestampsNearTheEndOfTimeDoNotWrapDeadlines) {
  // A crafted pcapng time offset can put packets within a timeout of 2^64 ns: the deadline
  // saturates instead of wrapping into the past (which would end each packet's flow at once).
  const std::uint64_t t = ~std::uint64_t{0} - 10 * kSecond;
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(1, t), out);
  EXPECT_EQ(table.expire(t, out), 0u);
  table.update(packet(1, t + kSecond), out);
  EXPECT_EQ(table.expire(t + kSecond, out), 0u);
  EXPECT_EQ(table.size(), 1u);
  table.expire_all(FlowEndReason::kForcedEnd, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].packets, 2u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kForcedEnd);
}

TEST(FlowTable, TunnelFieldsKeepFlowsApartAndComeBackInTheRecord) {
  // --decap: equal inner headers in two tunnels (or in a tunnel and outside) are three flows; a
  // tunnelled IPv4 flow lives in a wide entry and its record has the whole key back.
  FlowTable table(config(64));
  std::vector<FlowRecord> out;
  auto in_vni_10 = packet(7, 1 * kSecond);
  in_vni_10.key.tunnel_type = static_cast<std::uint8_t>(TunnelType::kVxlan);
  in_vni_10.key.tunnel_id = 10;
  auto in_vni_11 = in_vni_10;
  in_vni_11.key.tunnel_id = 11;
  for (int i = 0; i < 2; ++i) {
    table.update(in_vni_10, out);
    table.update(in_vni_11, out);
    table.update(packet(7, 1 * kSecond), out);
  }
  EXPECT_EQ(table.size(), 3u);
  table.expire_all(FlowEndReason::kForcedEnd, out);
  ASSERT_EQ(out.size(), 3u);
  std::set<std::uint32_t> ids;
  for (const auto& r : out) {
    EXPECT_EQ(r.packets, 2u);
    ids.insert(r.key.tunnel_id);
    if (r.key.tunnel_id == 10) {
      EXPECT_EQ(r.key, in_vni_10.key);
    } else if (r.key.tunnel_id == 11) {
      EXPECT_EQ(r.key, in_vni_11.key);
    } else {
      EXPECT_EQ(r.key.tunnel_type, 0);
    }
  }
  EXPECT_EQ(ids, (std::set<std::uint32_t>{0, 10, 11}));
}

TEST(FlowHash, SymmetricHashIgnoresDirection) {
  auto a = packet(1234, 0).key;
  auto b = a;
  std::swap(b.source_address, b.destination_address);
  std::swap(b.source_port, b.destination_port);
  EXPECT_EQ(symmetric_hash(a, 7), symmetric_hash(b, 7));
  EXPECT_NE(hash_key(a, 7), hash_key(b, 7));
  auto c = a;
  c.source_port = 1235;
  EXPECT_NE(symmetric_hash(a, 7), symmetric_hash(c, 7));
  // A biflow's directions may arrive on two interfaces: they still share a shard.
  auto d = b;
  d.ingress_interface = 2;
  EXPECT_EQ(symmetric_hash(a, 7), symmetric_hash(d, 7));
}

}  // namespace
}  // namespace tapflow::cache
