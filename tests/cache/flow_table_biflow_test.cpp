// Flow table with config.biflow (--biflow, RFC 5103): one flow per connection, the reverse
// direction in ReverseCounters; the SYN-ACK rule for the initiator; FIN from both ends or RST
// from either ends a flow; idle counts from the last packet either way. A workload of mixed
// directions, protocols and flags agrees with a plain std::map model, and every packet is in
// exactly one record.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include "cache/flow_table.h"

namespace tapflow::cache {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;
constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

// Host a (10.0.0.1:40000, MAC ..:0a) and host b (10.0.0.2:80, MAC ..:0b); `from_a` says who sent.
PacketSummary packet(bool from_a, std::uint64_t t, std::uint8_t flags = kAck, std::uint32_t octets = 100,
                     std::uint8_t protocol = 6) {
  PacketSummary p;
  p.key.ip_version = 4;
  p.key.source_address = {10, 0, 0, 1};
  p.key.destination_address = {10, 0, 0, 2};
  p.key.source_port = 40000;
  p.key.destination_port = 80;
  p.key.protocol = protocol;
  if (!from_a) {
    std::swap(p.key.source_address, p.key.destination_address);
    std::swap(p.key.source_port, p.key.destination_port);
  }
  p.timestamp_ns = t;
  p.octets = octets;
  p.tcp_flags = flags;
  p.ttl = from_a ? 64 : 128;
  return p;
}

PacketExtras extras(bool from_a, std::uint16_t vlan = 5) {
  PacketExtras x;
  x.source_mac = {0x02, 0, 0, 0, 0, 0x0a};
  x.destination_mac = {0x02, 0, 0, 0, 0, 0x0b};
  // The VTEPs in front of each end (--decap --fields tunnelSourceAddress).
  x.tunnel_ip_version = 4;
  x.tunnel_source = {192, 0, 2, 10};
  x.tunnel_destination = {192, 0, 2, 11};
  if (!from_a) {
    std::swap(x.source_mac, x.destination_mac);
    std::swap(x.tunnel_source, x.tunnel_destination);
  }
  x.vlan_id = vlan;
  return x;
}

FlowKey key_a_to_b() { return packet(true, 0).key; }

FlowTableConfig config(std::size_t capacity = 16) {
  return FlowTableConfig{.capacity = capacity,
                         .inactive_timeout_ns = 15 * kSecond,
                         .active_timeout_ns = 1800 * kSecond,
                         .hash_seed = 12345,
                         .biflow = true};
}

std::vector<FlowRecord> drain(FlowTable& table) {
  std::vector<FlowRecord> out;
  table.expire_all(FlowEndReason::kForcedEnd, out);
  return out;
}

TEST(FlowTableBiflow, PairsTheTwoDirectionsOfAConnection) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(true, 10 * kSecond, kSyn, 60), out);
  table.update(packet(false, 11 * kSecond, kSyn | kAck, 64), out);
  table.update(packet(true, 12 * kSecond, kAck, 52), out);
  table.update(packet(false, 13 * kSecond, kAck | 0x08, 1500), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.counters().packets, 4u);
  EXPECT_EQ(table.counters().octets, 1676u);
  EXPECT_EQ(table.counters().flows_created, 1u);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  const FlowRecord& r = out[0];
  EXPECT_EQ(r.key, key_a_to_b());
  EXPECT_EQ(r.packets, 2u);
  EXPECT_EQ(r.octets, 112u);
  EXPECT_EQ(r.first_ns, 10 * kSecond);
  EXPECT_EQ(r.last_ns, 12 * kSecond);
  EXPECT_EQ(r.tcp_flags, kSyn | kAck);
  EXPECT_EQ(r.min_ttl, 64);
  EXPECT_EQ(r.max_ttl, 64);
  EXPECT_EQ(r.reverse.packets, 2u);
  EXPECT_EQ(r.reverse.octets, 1564u);
  EXPECT_EQ(r.reverse.first_ns, 11 * kSecond);
  EXPECT_EQ(r.reverse.last_ns, 13 * kSecond);
  EXPECT_EQ(r.reverse.tcp_flags, kSyn | kAck | 0x08);
  EXPECT_EQ(r.reverse.min_ttl, 128);
  EXPECT_EQ(r.reverse.max_ttl, 128);
  EXPECT_EQ(r.biflow_direction, BiflowDirection::kInitiator);
}

TEST(FlowTableBiflow, ToSAndIngressInterfaceAreEachDirectionsOwnNotPartOfTheKey) {
  // An optical tap: each direction on its own port, each end with its own DSCP marking.
  FlowTable table(config());
  std::vector<FlowRecord> out;
  auto from_a = [](std::uint64_t t, std::uint8_t flags, std::uint8_t tos) {
    PacketSummary p = packet(true, t, flags);
    p.key.tos = tos;
    p.key.ingress_interface = 1;
    return p;
  };
  auto from_b = [](std::uint64_t t, std::uint8_t flags, std::uint8_t tos) {
    PacketSummary p = packet(false, t, flags);
    p.key.tos = tos;
    p.key.ingress_interface = 2;
    return p;
  };
  table.update(from_a(10 * kSecond, kSyn, 0), out);
  table.update(from_b(11 * kSecond, kSyn | kAck, 0xa0), out);
  table.update(from_a(12 * kSecond, kAck, 0x28), out);  // a remarked packet joins its flow
  table.update(from_b(13 * kSecond, kAck, 0xb8), out);
  EXPECT_EQ(table.size(), 1u);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].packets, 2u);
  EXPECT_EQ(out[0].reverse.packets, 2u);
  EXPECT_EQ(out[0].key.tos, 0);  // each direction's first packet's
  EXPECT_EQ(out[0].key.ingress_interface, 1u);
  EXPECT_EQ(out[0].reverse.tos, 0xa0);
  EXPECT_EQ(out[0].reverse.ingress_interface, 2u);

  // Created by a SYN-ACK: the forward side's are 0 until the source sends, then its own.
  table.update(from_b(20 * kSecond, kSyn | kAck, 0xa0), out);
  table.update(from_a(21 * kSecond, kAck, 0x48), out);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, [] {
    FlowKey k = key_a_to_b();
    k.tos = 0x48;
    k.ingress_interface = 1;
    return k;
  }());
  EXPECT_EQ(out[0].reverse.tos, 0xa0);
  EXPECT_EQ(out[0].reverse.ingress_interface, 2u);

  // The batch path (prefetch pipeline) agrees.
  std::vector<PacketSummary> batch = {from_a(30 * kSecond, kSyn, 4), from_b(31 * kSecond, kSyn | kAck, 8)};
  table.update_batch(batch, out);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.tos, 4);
  EXPECT_EQ(out[0].reverse.tos, 8);
  EXPECT_EQ(out[0].reverse.ingress_interface, 2u);
}

TEST(FlowTableBiflow, ASynAckFirstIsKeyedFromItsDestination) {
  // The SYN was missed (or went another way): the SYN-ACK's destination sent it, so it is the
  // source and the SYN-ACK is the reverse direction's first packet.
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(false, 10 * kSecond, kSyn | kAck, 64), out);
  {
    const std::vector<FlowRecord> active = [&] {
      std::vector<FlowRecord> v;
      table.for_each_active([&](const FlowRecord& r) { v.push_back(r); });
      return v;
    }();
    ASSERT_EQ(active.size(), 1u);
    EXPECT_EQ(active[0].key, key_a_to_b());
    // Nothing from the source yet: the forward direction is empty, times included.
    EXPECT_EQ(active[0].packets, 0u);
    EXPECT_EQ(active[0].octets, 0u);
    EXPECT_EQ(active[0].first_ns, 0u);
    EXPECT_EQ(active[0].last_ns, 0u);
    EXPECT_EQ(active[0].min_ttl, 0);
    EXPECT_EQ(active[0].reverse.packets, 1u);
    EXPECT_EQ(active[0].biflow_direction, BiflowDirection::kInitiator);
  }
  table.update(packet(true, 11 * kSecond, kAck, 52), out);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, key_a_to_b());
  EXPECT_EQ(out[0].packets, 1u);
  EXPECT_EQ(out[0].octets, 52u);
  EXPECT_EQ(out[0].first_ns, 11 * kSecond);
  EXPECT_EQ(out[0].min_ttl, 64);
  EXPECT_EQ(out[0].tcp_flags, kAck);
  EXPECT_EQ(out[0].reverse.packets, 1u);
  EXPECT_EQ(out[0].reverse.octets, 64u);
  EXPECT_EQ(out[0].reverse.first_ns, 10 * kSecond);
  EXPECT_EQ(out[0].reverse.tcp_flags, kSyn | kAck);
  EXPECT_EQ(out[0].biflow_direction, BiflowDirection::kInitiator);
}

TEST(FlowTableBiflow, TheFirstPacketIsTheSourceAndTheDirectionArbitraryWithoutASyn) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(false, 10 * kSecond, kAck), out);  // mid-connection: b speaks first
  table.update(packet(true, 11 * kSecond, kAck), out);
  table.update(packet(true, 12 * kSecond, 0, 100, 17), out);  // UDP, a first
  table.update(packet(false, 13 * kSecond, 0, 100, 17), out);
  out = drain(table);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& r : out) {
    EXPECT_EQ(r.packets, 1u);
    EXPECT_EQ(r.reverse.packets, 1u);
    EXPECT_EQ(r.biflow_direction, BiflowDirection::kArbitrary);
    if (r.key.protocol == 6) {
      EXPECT_EQ(r.key.source_port, 80);
    } else {
      EXPECT_EQ(r.key.source_port, 40000);
    }
  }
}

TEST(FlowTableBiflow, OneFinHalfClosesAndTheSecondEndsTheFlow) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(true, 1 * kSecond, kSyn), out);
  table.update(packet(false, 2 * kSecond, kSyn | kAck), out);
  table.update(packet(true, 3 * kSecond, kFin | kAck), out);
  table.update(packet(false, 4 * kSecond, kAck), out);
  table.update(packet(true, 5 * kSecond, kFin | kAck), out);  // a FIN again: still half closed
  EXPECT_TRUE(out.empty());
  table.update(packet(false, 6 * kSecond, kFin | kAck), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kEndOfFlow);
  EXPECT_EQ(out[0].packets, 3u);
  EXPECT_EQ(out[0].reverse.packets, 3u);
  EXPECT_EQ(table.size(), 0u);
  // The last ACK after both FINs starts a new (arbitrary) flow, as a uniflow table would.
  table.update(packet(true, 7 * kSecond, kAck), out);
  EXPECT_EQ(table.size(), 1u);
}

TEST(FlowTableBiflow, AFinFromOneEndOnlyWaitsForTheIdleTimeout) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(true, 1 * kSecond, kFin | kAck), out);
  table.update(packet(false, 2 * kSecond, kAck), out);
  table.update(packet(true, 3 * kSecond, kFin | kAck), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(table.expire(20 * kSecond, out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
}

TEST(FlowTableBiflow, RstFromEitherEndEndsTheFlow) {
  for (const bool from_a : {true, false}) {
    FlowTable table(config());
    std::vector<FlowRecord> out;
    table.update(packet(true, 1 * kSecond, kAck), out);
    table.update(packet(false, 2 * kSecond, kAck), out);
    table.update(packet(from_a, 3 * kSecond, kRst), out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].end_reason, FlowEndReason::kEndOfFlow);
    EXPECT_EQ(out[0].packets + out[0].reverse.packets, 3u);
    EXPECT_EQ(out[0].reverse.tcp_flags & kRst, from_a ? 0 : kRst);
    EXPECT_EQ(table.size(), 0u);
  }
}

TEST(FlowTableBiflow, IdleCountsFromTheLastPacketOfEitherDirection) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  table.update(packet(true, 100 * kSecond), out);
  table.update(packet(false, 110 * kSecond), out);  // only the reverse speaks later
  EXPECT_EQ(table.expire(120 * kSecond, out), 0u);  // 20 s after a's packet, 10 s after b's
  EXPECT_EQ(table.expire(126 * kSecond, out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(out[0].last_ns, 100 * kSecond);
  EXPECT_EQ(out[0].reverse.last_ns, 110 * kSecond);
  // A reverse packet joining a flow idle at its time expires it first and starts a new one.
  out.clear();
  table.update(packet(true, 200 * kSecond), out);
  table.update(packet(false, 216 * kSecond), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(out[0].reverse.packets, 0u);
  ASSERT_EQ(table.size(), 1u);
  out = drain(table);
  EXPECT_EQ(out[0].key.source_port, 80);  // b started the new flow
  EXPECT_EQ(out[0].reverse.packets, 0u);
}

TEST(FlowTableBiflow, ActiveTimeoutCountsFromTheFirstPacketOfEitherDirection) {
  FlowTableConfig c = config();
  c.inactive_timeout_ns = 100 * kSecond;
  c.active_timeout_ns = 60 * kSecond;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  // The SYN-ACK first: the flow starts with its reverse direction.
  table.update(packet(false, 10 * kSecond, kSyn | kAck), out);
  for (std::uint64_t t = 20; t <= 60; t += 10) table.update(packet(t % 20 == 0, t * kSecond), out);
  EXPECT_EQ(table.expire(70 * kSecond, out), 0u);
  EXPECT_EQ(table.expire(72 * kSecond, out), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kActiveTimeout);
  EXPECT_EQ(out[0].reverse.first_ns, 10 * kSecond);
  EXPECT_EQ(out[0].first_ns, 20 * kSecond);
}

TEST(FlowTableBiflow, AFullCacheEvictsTheLeastRecentlyUpdatedConnection) {
  FlowTable table(config(4));
  std::vector<FlowRecord> out;
  auto conn = [](std::uint16_t port, bool from_a, std::uint64_t t) {
    PacketSummary p = packet(from_a, t);
    (from_a ? p.key.source_port : p.key.destination_port) = port;
    return p;
  };
  for (std::uint16_t p = 1; p <= 4; ++p) table.update(conn(p, true, p * kSecond), out);
  table.update(conn(1, false, 5 * kSecond), out);  // connection 1 answered: the most recent
  table.update(conn(9, true, 6 * kSecond), out);   // full: connection 2 goes
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.source_port, 2);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kLackOfResources);
  EXPECT_EQ(table.size(), 4u);
  out = drain(table);
  const auto one = std::find_if(out.begin(), out.end(), [](const FlowRecord& r) { return r.key.source_port == 1; });
  ASSERT_NE(one, out.end());
  EXPECT_EQ(one->reverse.packets, 1u);
}

TEST(FlowTableBiflow, IcmpDirectionsAreNeverPaired) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  PacketSummary request = packet(true, kSecond, 0, 84, 1);
  request.key.source_port = 0;
  request.key.destination_port = 8 * 256;  // echo request
  PacketSummary reply = packet(false, kSecond, 0, 84, 1);
  reply.key.source_port = 0;
  reply.key.destination_port = 0;  // echo reply
  PacketSummary reply_back = reply;  // an echo reply from a to b: its reversed key is b's reply
  std::swap(reply_back.key.source_address, reply_back.key.destination_address);
  for (const auto& p : {request, reply, reply_back}) table.update(p, out);
  EXPECT_EQ(table.size(), 3u);
  for (const auto& r : drain(table)) {
    EXPECT_EQ(r.packets, 1u);
    EXPECT_EQ(r.reverse.packets, 0u);
  }
}

TEST(FlowTableBiflow, PacketWeightScalesBothDirections) {
  FlowTableConfig c = config();
  c.packet_weight = 10;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  table.update(packet(true, kSecond, kAck, 100), out);
  table.update(packet(false, kSecond, kAck, 40), out);
  EXPECT_EQ(table.counters().packets, 20u);
  EXPECT_EQ(table.counters().octets, 1400u);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].packets, 10u);
  EXPECT_EQ(out[0].octets, 1000u);
  EXPECT_EQ(out[0].reverse.packets, 10u);
  EXPECT_EQ(out[0].reverse.octets, 400u);
}

// The MAC part of the mask: the MACs swap with the addresses, so a reply pairs; VLAN ids do not
// swap, so a reply on another VLAN is another flow.
TEST(FlowTableBiflow, WithExtrasTheMacsSwapAndTheVlanMustMatch) {
  FlowTableConfig c = config();
  c.extras = true;
  for (std::size_t i = 0; i < 14; ++i) c.extra_key_mask[i] = 0xff;  // both MACs and the VLAN id
  FlowTable table(c);
  std::vector<FlowRecord> out;
  table.update(packet(true, 1 * kSecond, kAck, 100), extras(true), out);
  table.update(packet(false, 2 * kSecond, kAck, 40), extras(false), out);
  table.update(packet(false, 3 * kSecond, kAck, 40), extras(false, 6), out);  // VLAN 6: apart
  PacketExtras odd = extras(false);
  odd.destination_mac[5] = 0x0c;  // a reply to another MAC: apart
  table.update(packet(false, 4 * kSecond, kAck, 40), odd, out);
  EXPECT_EQ(table.size(), 3u);
  out = drain(table);
  const auto pair = std::find_if(out.begin(), out.end(), [](const FlowRecord& r) { return r.reverse.packets != 0; });
  ASSERT_NE(pair, out.end());
  EXPECT_EQ(pair->key, key_a_to_b());
  EXPECT_EQ(pair->packets, 1u);
  EXPECT_EQ(pair->extras.first.source_mac, extras(true).source_mac);
  EXPECT_EQ(pair->extras.min_length, 40u);  // over both directions
  EXPECT_EQ(pair->extras.max_length, 100u);
  for (const auto& r : out) {
    if (&r != &*pair) {
      EXPECT_EQ(r.key.source_port, 80);
    }
  }
}

TEST(FlowTableBiflow, AMaskOnOneMacPairsTheReplyByTheOtherEndsMac) {
  // Only the source MAC in the key: a's packets key on a's MAC, and b's replies, swapped, too —
  // whatever b's packets say as their (unmasked after the swap) source.
  FlowTableConfig c = config();
  c.extras = true;
  for (std::size_t i = 0; i < 6; ++i) c.extra_key_mask[i] = 0xff;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  table.update(packet(true, 1 * kSecond), extras(true), out);
  for (std::uint8_t mac = 1; mac <= 3; ++mac) {
    PacketExtras reply = extras(false);
    reply.source_mac[5] = mac;  // b behind different routers: outside the key once swapped
    table.update(packet(false, 2 * kSecond), reply, out);
    PacketExtras forward = extras(true);
    forward.destination_mac[5] = mac;  // likewise for a's packets
    table.update(packet(true, 3 * kSecond), forward, out);
  }
  EXPECT_EQ(table.size(), 1u);
  PacketExtras elsewhere = extras(false);
  elsewhere.destination_mac[5] = 0x0c;  // a reply to another source MAC: another flow
  table.update(packet(false, 4 * kSecond), elsewhere, out);
  EXPECT_EQ(table.size(), 2u);
  out = drain(table);
  const auto pair = std::find_if(out.begin(), out.end(), [](const FlowRecord& r) { return r.reverse.packets != 0; });
  ASSERT_NE(pair, out.end());
  EXPECT_EQ(pair->packets, 4u);
  EXPECT_EQ(pair->reverse.packets, 3u);
}

TEST(FlowTableBiflow, APacketMatchingOneFlowForwardAndAnotherReversedJoinsTheForwardOne) {
  // With only the source MAC in the key, b's packet from MAC ..:0b to ..:0c and a's packet from
  // ..:0a to ..:0d miss each other (reversed, each keys on the other's destination MAC): two
  // flows. a's packet from ..:0a to ..:0b then matches a's flow forward and b's reversed.
  FlowTableConfig c = config();
  c.extras = true;
  for (std::size_t i = 0; i < 6; ++i) c.extra_key_mask[i] = 0xff;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  PacketExtras from_b = extras(false);
  from_b.destination_mac[5] = 0x0c;
  PacketExtras from_a = extras(true);
  from_a.destination_mac[5] = 0x0d;
  table.update(packet(false, 1 * kSecond), from_b, out);  // filed first: first in its bucket
  table.update(packet(true, 2 * kSecond), from_a, out);
  ASSERT_EQ(table.size(), 2u);
  table.update(packet(true, 3 * kSecond), extras(true), out);
  out = drain(table);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& r : out) {
    EXPECT_EQ(r.reverse.packets, 0u);
    EXPECT_EQ(r.packets, r.key == key_a_to_b() ? 2u : 1u);
  }
}

TEST(FlowTableBiflow, AfterItsForwardFlowTimesOutAPacketJoinsTheOneReversed) {
  // The two flows of the test above; a's flow idles out, b's does not. a's SYN-ACK to ..:0b
  // expires a's flow, then joins b's as its reverse: a new flow keyed from b's side would be a
  // second flow of b's identity (found by fuzz_flow_table).
  FlowTableConfig c = config();
  c.extras = true;
  for (std::size_t i = 0; i < 6; ++i) c.extra_key_mask[i] = 0xff;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  PacketExtras from_b = extras(false);
  from_b.destination_mac[5] = 0x0c;
  PacketExtras from_a = extras(true);
  from_a.destination_mac[5] = 0x0d;
  table.update(packet(false, 1 * kSecond), from_b, out);
  table.update(packet(true, 1 * kSecond), from_a, out);
  table.update(packet(false, 10 * kSecond), from_b, out);
  table.update(packet(true, 20 * kSecond, kSyn | kAck), extras(true), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, key_a_to_b());
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(table.size(), 1u);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key.source_port, 80);
  EXPECT_EQ(out[0].packets, 2u);
  EXPECT_EQ(out[0].reverse.packets, 1u);
  EXPECT_EQ(out[0].reverse.tcp_flags, kSyn | kAck);
}

TEST(FlowTableBiflow, ASynAckFirstHasItsExtrasInTheKeysOrientation) {
  FlowTableConfig c = config();
  c.extras = true;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  table.update(packet(false, kSecond, kSyn | kAck), extras(false), out);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, key_a_to_b());
  EXPECT_EQ(out[0].extras.first.source_mac, extras(true).source_mac);
  EXPECT_EQ(out[0].extras.first.destination_mac, extras(true).destination_mac);
  EXPECT_EQ(out[0].extras.first.tunnel_source, extras(true).tunnel_source);
  EXPECT_EQ(out[0].extras.first.tunnel_destination, extras(true).tunnel_destination);
}

TEST(FlowTableBiflow, BatchUpdateMatchesSingleUpdates) {
  FlowTableConfig c = config(128);
  c.extras = true;
  for (std::size_t i = 0; i < 14; ++i) c.extra_key_mask[i] = 0xff;
  std::vector<PacketSummary> packets;
  std::vector<PacketExtras> xs;
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 5000; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    const bool from_a = (x & 1) != 0;
    PacketSummary p = packet(from_a, static_cast<std::uint64_t>(i) * kSecond / 10,
                             (x >> 8) % 50 == 0 ? kFin : kAck, static_cast<std::uint32_t>(40 + x % 1000));
    (from_a ? p.key.source_port : p.key.destination_port) = static_cast<std::uint16_t>((x >> 16) % 200);
    packets.push_back(p);
    xs.push_back(extras(from_a, static_cast<std::uint16_t>((x >> 24) % 2)));
  }
  FlowTable one(c), batched(c);
  std::vector<FlowRecord> a, b;
  for (std::size_t i = 0; i < packets.size(); ++i) one.update(packets[i], xs[i], a);
  for (std::size_t i = 0; i < packets.size(); i += 256) {
    const std::size_t n = std::min<std::size_t>(256, packets.size() - i);
    batched.update_batch(std::span(packets).subspan(i, n), std::span(xs).subspan(i, n), b);
  }
  one.expire_all(FlowEndReason::kForcedEnd, a);
  batched.expire_all(FlowEndReason::kForcedEnd, b);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key);
    EXPECT_EQ(a[i].packets, b[i].packets);
    EXPECT_EQ(a[i].reverse.packets, b[i].reverse.packets);
    EXPECT_EQ(a[i].end_reason, b[i].end_reason);
  }
}

// The model: flows keyed in their source's orientation, looked up forward then reversed (never
// for ICMP), created reversed for a SYN-ACK; ended by RST, or FIN once both ways. Timeouts are
// out of reach and the table never fills, so the records are exactly the model's.
struct KeyLess {
  bool operator()(const FlowKey& a, const FlowKey& b) const { return std::memcmp(&a, &b, sizeof a) < 0; }
};
struct ModelFlow {
  std::uint64_t packets = 0, octets = 0, reverse_packets = 0, reverse_octets = 0;
  std::uint8_t flags = 0, reverse_flags = 0;
  bool initiator = false;
  auto tie() const {
    return std::tie(packets, octets, reverse_packets, reverse_octets, flags, reverse_flags, initiator);
  }
};
using Expected = std::vector<std::pair<std::vector<std::uint8_t>, std::tuple<std::uint64_t, std::uint64_t, std::uint64_t,
                                                                            std::uint64_t, std::uint8_t, std::uint8_t, bool>>>;

std::vector<std::uint8_t> bytes_of(const FlowKey& k) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&k);
  return {p, p + sizeof k};
}

FlowKey reversed(const FlowKey& k) {
  FlowKey r = k;
  std::swap(r.source_address, r.destination_address);
  std::swap(r.source_port, r.destination_port);
  return r;
}

TEST(FlowTableBiflow, AMixedWorkloadAgreesWithAMapModelAndConservesEveryPacket) {
  FlowTableConfig c = config(4096);
  c.inactive_timeout_ns = 1'000'000 * kSecond;
  c.active_timeout_ns = 1'000'000 * kSecond;
  c.packet_weight = 3;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  std::map<FlowKey, ModelFlow, KeyLess> open;
  Expected expected;
  const auto close = [&](std::map<FlowKey, ModelFlow, KeyLess>::iterator it) {
    const ModelFlow& f = it->second;
    expected.emplace_back(bytes_of(it->first), f.tie());
    open.erase(it);
  };
  std::uint64_t fed_packets = 0, fed_octets = 0;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 100000; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    // 64 hosts a (one port each) talking to b: TCP, UDP, ICMP; IPv4 and IPv6.
    const std::uint8_t protocols[] = {6, 6, 6, 17, 1};
    const std::uint8_t protocol = protocols[(x >> 8) % 5];
    const bool from_a = (x & 1) != 0;
    static constexpr std::uint8_t kFlagChoices[] = {kSyn, kSyn | kAck, kAck, kAck, kAck, kAck, kFin | kAck, kRst, 0};
    const std::uint8_t flags = protocol == 6 ? kFlagChoices[(x >> 12) % 9] : 0;
    PacketSummary p = packet(from_a, kSecond + static_cast<std::uint64_t>(i), flags,
                             static_cast<std::uint32_t>(40 + (x >> 20) % 1400), protocol);
    const auto host = static_cast<std::uint8_t>((x >> 32) % 64);
    (from_a ? p.key.source_address : p.key.destination_address)[3] = host;
    if (protocol == 1) {
      p.key.source_port = 0;
      p.key.destination_port = from_a ? 8 * 256 : 0;
    }
    if ((x >> 40) % 4 == 0) {
      p.key.ip_version = 6;
      p.key.source_address[15] = 1;
    }
    table.update(p, out);
    fed_packets += 3;
    fed_octets += 3ull * p.octets;

    auto it = open.find(p.key);
    bool reverse = false;
    if (it == open.end() && protocol != 1) {
      it = open.find(reversed(p.key));
      reverse = it != open.end();
    }
    if (it == open.end()) {
      const bool syn_ack = protocol == 6 && (flags & (kSyn | kAck)) == (kSyn | kAck);
      reverse = syn_ack;
      it = open.emplace(syn_ack ? reversed(p.key) : p.key, ModelFlow{}).first;
      it->second.initiator = protocol == 6 && (flags & kSyn) != 0;
    }
    ModelFlow& f = it->second;
    (reverse ? f.reverse_packets : f.packets) += 3;
    (reverse ? f.reverse_octets : f.octets) += 3ull * p.octets;
    (reverse ? f.reverse_flags : f.flags) |= flags;
    if (protocol == 6 && ((flags & kRst) != 0 || (f.flags & f.reverse_flags & kFin) != 0)) close(it);
  }
  EXPECT_EQ(table.size(), open.size());
  EXPECT_EQ(table.counters().packets, fed_packets);
  table.expire_all(FlowEndReason::kForcedEnd, out);
  while (!open.empty()) close(open.begin());
  Expected got;
  std::uint64_t packets = 0, octets = 0;
  for (const auto& r : out) {
    got.emplace_back(bytes_of(r.key), std::make_tuple(r.packets, r.octets, r.reverse.packets, r.reverse.octets,
                                                      r.tcp_flags, r.reverse.tcp_flags,
                                                      r.biflow_direction == BiflowDirection::kInitiator));
    packets += r.packets + r.reverse.packets;
    octets += r.octets + r.reverse.octets;
  }
  std::sort(expected.begin(), expected.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
  EXPECT_EQ(packets, fed_packets);
  EXPECT_EQ(octets, fed_octets);
  EXPECT_EQ(table.counters().octets, fed_octets);
  EXPECT_EQ(table.counters().flows_created, out.size());
}

TEST(FlowTableBiflow, ConservesEveryPacketThroughTimeoutsAndEviction) {
  // A small table, short timeouts, extras with a key: flows end every way there is, and the
  // records still hold every packet and octet once.
  FlowTableConfig c = config(64);
  c.extras = true;
  for (std::size_t i = 0; i < 14; ++i) c.extra_key_mask[i] = 0xff;
  c.inactive_timeout_ns = 2 * kSecond;
  c.active_timeout_ns = 5 * kSecond;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  std::vector<PacketSummary> batch;
  std::vector<PacketExtras> batch_extras;
  std::uint64_t packets = 0, octets = 0;
  std::uint64_t x = 0x2545f4914f6cdd1dull;
  for (int i = 0; i < 50000; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    const bool from_a = (x & 1) != 0;
    static constexpr std::uint8_t kFlagChoices[] = {kSyn, kSyn | kAck, kAck, kAck, kFin | kAck, kRst};
    PacketSummary p = packet(from_a, static_cast<std::uint64_t>(i) * kSecond / 1000, kFlagChoices[(x >> 4) % 6],
                             static_cast<std::uint32_t>(40 + (x >> 20) % 1400));
    (from_a ? p.key.source_port : p.key.destination_port) = static_cast<std::uint16_t>((x >> 32) % 300);
    batch.push_back(p);
    batch_extras.push_back(extras(from_a, static_cast<std::uint16_t>((x >> 48) % 2)));
    packets += 1;
    octets += p.octets;
    if (batch.size() == 64) {
      table.update_batch(batch, batch_extras, out);
      batch.clear();
      batch_extras.clear();
      if (i % 512 == 0) table.expire(table.clock_ns(), out, 16);
    }
  }
  table.update_batch(batch, batch_extras, out);
  EXPECT_GT(table.counters().expired[static_cast<int>(FlowEndReason::kLackOfResources)], 0u);
  EXPECT_GT(table.counters().expired[static_cast<int>(FlowEndReason::kEndOfFlow)], 0u);
  table.expire_all(FlowEndReason::kForcedEnd, out);
  std::uint64_t p = 0, o = 0;
  for (const auto& r : out) {
    p += r.packets + r.reverse.packets;
    o += r.octets + r.reverse.octets;
    EXPECT_GE(r.packets + r.reverse.packets, 1u);
  }
  EXPECT_EQ(p, packets);
  EXPECT_EQ(o, octets);
  EXPECT_EQ(table.counters().packets, packets);
  EXPECT_EQ(table.counters().flows_created, out.size());
  EXPECT_EQ(table.counters().expired_total(), out.size());
}

}  // namespace
}  // namespace tapflow::cache
