// Flow table with config.extras (--key / --fields): each flow keeps its first packet's extras,
// the OR of fragment flags and its length extremes; the masked extra key bytes split flows, the
// bytes outside the mask do not. A table without extras leaves FlowRecord::extras default.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include "cache/flow_table.h"

namespace tapflow::cache {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ull;

PacketSummary packet(std::uint16_t source_port, std::uint64_t t, std::uint32_t octets = 100,
                     std::uint8_t flags = 0x10) {
  PacketSummary p;
  p.key.ip_version = 4;
  p.key.source_address = {10, 0, 0, 1};
  p.key.destination_address = {10, 0, 0, 2};
  p.key.source_port = source_port;
  p.key.destination_port = 80;
  p.key.protocol = 6;
  p.timestamp_ns = t;
  p.octets = octets;
  p.tcp_flags = flags;
  p.ttl = 64;
  return p;
}

PacketExtras extras(std::uint16_t vlan = 0, std::uint8_t source_mac_last = 1) {
  PacketExtras x;
  x.source_mac = {0x02, 0, 0, 0, 0, source_mac_last};
  x.destination_mac = {0x02, 0, 0, 0, 0, 0xee};
  x.vlan_id = vlan;
  x.inner_vlan_id = 7;
  x.mpls_top_label = 0x12345;
  x.flow_label = 0;
  x.mpls_labels = {0x111, 0x221};
  x.direction = 0;
  return x;
}

FlowTableConfig config(std::size_t capacity = 16) {
  return FlowTableConfig{.capacity = capacity,
                         .inactive_timeout_ns = 15 * kSecond,
                         .active_timeout_ns = 1800 * kSecond,
                         .hash_seed = 12345,
                         .extras = true};
}

// The mask selecting a PacketExtras field's bytes.
template <class Field>
void select(FlowTableConfig& c, Field PacketExtras::*field) {
  const PacketExtras x;
  const auto offset = static_cast<std::size_t>(reinterpret_cast<const std::uint8_t*>(&(x.*field)) -
                                               reinterpret_cast<const std::uint8_t*>(&x));
  for (std::size_t i = 0; i < sizeof(Field); ++i) c.extra_key_mask[offset + i] = 0xff;
}

std::vector<FlowRecord> drain(FlowTable& table) {
  std::vector<FlowRecord> out;
  table.expire_all(FlowEndReason::kForcedEnd, out);
  return out;
}

TEST(FlowTableExtras, KeepsTheFirstPacketsExtrasAndAggregatesTheRest) {
  FlowTable table(config());
  std::vector<FlowRecord> out;
  PacketExtras first = extras(100);
  first.fragment_flags = 0x40;  // DF
  PacketExtras second = extras(100, 9);  // another source MAC: outside the (empty) mask
  second.fragment_flags = 0x20;          // MF
  second.mpls_labels = {0x999, 0};
  table.update(packet(1, kSecond, 1500), first, out);
  table.update(packet(1, 2 * kSecond, 60), second, out);
  table.update(packet(1, 3 * kSecond, 576), extras(100), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(table.size(), 1u);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  const FlowRecord& r = out[0];
  EXPECT_EQ(r.packets, 3u);
  EXPECT_EQ(r.octets, 2136u);
  EXPECT_EQ(r.first_ns, kSecond);
  EXPECT_EQ(r.last_ns, 3 * kSecond);
  EXPECT_EQ(r.extras.first.source_mac, first.source_mac);
  EXPECT_EQ(r.extras.first.destination_mac, first.destination_mac);
  EXPECT_EQ(r.extras.first.vlan_id, 100);
  EXPECT_EQ(r.extras.first.inner_vlan_id, 7);
  EXPECT_EQ(r.extras.first.mpls_top_label, 0x12345u);
  EXPECT_EQ(r.extras.first.mpls_labels, (std::array<std::uint32_t, 2>{0x111, 0x221}));
  EXPECT_EQ(r.extras.first.direction, 0);
  EXPECT_EQ(r.extras.first.fragment_flags, 0x60);
  EXPECT_EQ(r.extras.min_length, 60u);
  EXPECT_EQ(r.extras.max_length, 1500u);
  // No biflow: no reverse direction, and the direction stays arbitrary.
  EXPECT_EQ(r.reverse.packets, 0u);
  EXPECT_EQ(r.reverse.first_ns, 0u);
  EXPECT_EQ(r.biflow_direction, BiflowDirection::kArbitrary);
}

TEST(FlowTableExtras, KeyMaskSplitsFlowsByVlanAndIgnoresMaskedOutBytes) {
  FlowTableConfig c = config();
  select(c, &PacketExtras::vlan_id);
  FlowTable table(c);
  std::vector<FlowRecord> out;
  // VLAN 10 twice with different MACs (outside the mask: one flow), VLAN 20 once.
  table.update(packet(1, kSecond), extras(10, 1), out);
  table.update(packet(1, kSecond), extras(10, 2), out);
  table.update(packet(1, kSecond), extras(20, 1), out);
  EXPECT_EQ(table.size(), 2u);
  out = drain(table);
  ASSERT_EQ(out.size(), 2u);
  std::set<std::pair<std::uint16_t, std::uint64_t>> got;
  for (const auto& r : out) got.emplace(r.extras.first.vlan_id, r.packets);
  EXPECT_EQ(got, (std::set<std::pair<std::uint16_t, std::uint64_t>>{{10, 2}, {20, 1}}));
}

TEST(FlowTableExtras, KeyMaskSplitsFlowsBySourceMac) {
  FlowTableConfig c = config();
  select(c, &PacketExtras::source_mac);
  FlowTable table(c);
  std::vector<FlowRecord> out;
  for (std::uint8_t mac = 1; mac <= 5; ++mac) {
    table.update(packet(1, kSecond), extras(mac, mac), out);  // VLAN differs too, but unmasked
    table.update(packet(1, 2 * kSecond), extras(0, mac), out);
  }
  EXPECT_EQ(table.size(), 5u);
  for (const auto& r : drain(table)) {
    EXPECT_EQ(r.packets, 2u);
    EXPECT_EQ(r.extras.first.vlan_id, r.extras.first.source_mac[5]);  // the first packet's
  }
}

TEST(FlowTableExtras, AMaskSelectsBitsNotJustBytes) {
  // Only the VLAN id's low byte's low nibble (a little-endian uint16: byte 12): ids 0x103 and
  // 0x203 share it, 0x104 does not.
  FlowTableConfig c = config();
  c.extra_key_mask[12] = 0x0f;
  FlowTable table(c);
  std::vector<FlowRecord> out;
  table.update(packet(1, kSecond), extras(0x103), out);
  table.update(packet(1, kSecond), extras(0x203), out);
  table.update(packet(1, kSecond), extras(0x104), out);
  EXPECT_EQ(table.size(), 2u);
}

TEST(FlowTableExtras, EveryKeyKindAndEveryExpiryPathCarriesTheExtras) {
  FlowTableConfig c = config(4);
  select(c, &PacketExtras::mpls_top_label);
  FlowTable table(c);
  std::vector<FlowRecord> out;
  auto v6 = packet(2, kSecond);
  v6.key.ip_version = 6;
  v6.key.source_address[15] = 1;
  PacketExtras x6 = extras(6);
  x6.flow_label = 0xabcde;
  table.update(packet(1, kSecond), extras(4), out);
  table.update(v6, x6, out);
  // for_each_active
  std::set<std::uint16_t> vlans;
  table.for_each_active([&](const FlowRecord& r) { vlans.insert(r.extras.first.vlan_id); });
  EXPECT_EQ(vlans, (std::set<std::uint16_t>{4, 6}));
  // FIN ends the uniflow
  table.update(packet(1, 2 * kSecond, 40, 0x11), extras(4), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_reason, FlowEndReason::kEndOfFlow);
  EXPECT_EQ(out[0].extras.first.vlan_id, 4);
  EXPECT_EQ(out[0].extras.min_length, 40u);
  // idle timeout
  EXPECT_EQ(table.expire(20 * kSecond, out), 1u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(out[1].key, v6.key);
  EXPECT_EQ(out[1].extras.first.flow_label, 0xabcdeu);
  // eviction: four labels fill the table, a fifth evicts the oldest
  for (std::uint32_t label = 1; label <= 5; ++label) {
    PacketExtras x = extras(static_cast<std::uint16_t>(label));
    x.mpls_top_label = label;
    table.update(packet(1, (30 + label) * kSecond), x, out);
  }
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].end_reason, FlowEndReason::kLackOfResources);
  EXPECT_EQ(out[2].extras.first.mpls_top_label, 1u);
  EXPECT_EQ(out[2].extras.first.vlan_id, 1);
}

TEST(FlowTableExtras, WithoutExtrasTheRecordsExtrasStayDefault) {
  FlowTableConfig c = config();
  c.extras = false;
  select(c, &PacketExtras::vlan_id);  // no effect without extras
  FlowTable table(c);
  std::vector<FlowRecord> out;
  table.update(packet(1, kSecond), extras(10), out);
  table.update(packet(1, kSecond), extras(20), out);
  table.update(packet(1, kSecond), out);
  EXPECT_EQ(table.size(), 1u);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].packets, 3u);
  const FlowExtras none;
  EXPECT_EQ(std::memcmp(&out[0].extras, &none, sizeof none), 0);
  EXPECT_EQ(out[0].extras.first.direction, kDirectionUnknown);
  EXPECT_EQ(out[0].reverse.packets, 0u);
}

TEST(FlowTableExtras, BatchUpdateMatchesSingleUpdates) {
  FlowTableConfig c = config(128);
  select(c, &PacketExtras::vlan_id);
  std::vector<PacketSummary> packets;
  std::vector<PacketExtras> xs;
  for (int i = 0; i < 5000; ++i) {
    packets.push_back(packet(static_cast<std::uint16_t>(i * 7919 % 100), static_cast<std::uint64_t>(i) * kSecond / 10,
                             static_cast<std::uint32_t>(40 + i % 1000), i % 97 == 0 ? 0x01 : 0x10));
    PacketExtras x = extras(static_cast<std::uint16_t>(i % 3), static_cast<std::uint8_t>(i));
    x.fragment_flags = static_cast<std::uint8_t>(i % 5 == 0 ? 0x20 : 0);
    xs.push_back(x);
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
    EXPECT_EQ(a[i].end_reason, b[i].end_reason);
    EXPECT_EQ(std::memcmp(&a[i].extras, &b[i].extras, sizeof(FlowExtras)), 0);
  }
}

TEST(FlowTableExtras, ABatchWithoutExtrasReadsThemAsZero) {
  FlowTableConfig c = config();
  select(c, &PacketExtras::vlan_id);
  FlowTable table(c);
  std::vector<FlowRecord> out;
  const std::vector<PacketSummary> packets = {packet(1, kSecond), packet(1, 2 * kSecond)};
  const std::vector<PacketExtras> one = {extras(0)};  // shorter than the packets
  table.update_batch(packets, one, out);
  table.update_batch(packets, out);
  EXPECT_EQ(table.size(), 1u);
  out = drain(table);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].packets, 4u);
}

}  // namespace
}  // namespace tapflow::cache
