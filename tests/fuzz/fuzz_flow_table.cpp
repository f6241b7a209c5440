// libFuzzer target for the flow table (cache/flow_table.h), checked against a reference model.
// Bytes 0-2 pick a small table: capacity 1..64 (so the cache fills and evicts), the default or
// the minimum bucket count, inactive and active timeouts of 1, 2, 15, 60, 1800 or 86400 s, a hash
// seed; byte 0's top bits the mode: 0 the default table, then config.extras, config.biflow, or
// both. Outside mode 0 byte 3 picks one of 8 extra key masks (none, VLAN, one MAC, both, all 24
// bytes, flow label, single bits of a MAC and the VLAN, MPLS and inner VLAN).
// The rest is operations until the input ends: one packet (update), up to 32 (update_batch),
// expire at the clock or later (every due flow or at most a few), expire_all(kForcedEnd) in
// chunks, for_each_active with a limit. Packets take one of 128 keys (16 templates, some not plain
// IPv4 or IPv6, x TCP/UDP x 4 ports), outside mode 0 reversed (addresses, ports, MACs) by the key
// byte's top bit; their times step from the table's clock by 0, by milliseconds to an hour, a
// little backwards, or by days. With extras a fifth byte picks the packet's PacketExtras (MACs of
// 4 hosts, VLAN, flow label, MPLS, fragment flags).
// The model knows the flow the table must hold for each flow identity (the key as the flow is
// keyed and its masked extra key bytes; in biflow mode a packet joins the flow keyed as it, else
// the one keyed as its reverse), so every record is checked whole: one open flow (never two
// merged), the packets, octets, times, flags and TTLs of exactly the packets since that flow's
// previous record in each direction, its extras and biflow direction, an end reason that fits the
// timeouts at the clock; so are the size, clock and counters after every operation, and what
// for_each_active shows. At the end expire_all drains the table: every packet and octet fed is in
// exactly one record.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "cache/flow_record.h"
#include "cache/flow_table.h"
#include "cache/packet_summary.h"

namespace {

using tapflow::cache::BiflowDirection;
using tapflow::cache::FlowEndReason;
using tapflow::cache::FlowKey;
using tapflow::cache::FlowRecord;
using tapflow::cache::FlowTable;
using tapflow::cache::PacketExtras;
using tapflow::cache::PacketSummary;
using tapflow::cache::kExtraKeyBytes;

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kSecond = 1000 * kMs;
constexpr std::uint64_t kDay = 86'400 * kSecond;
constexpr std::uint64_t kStart = 1'700'000'000 * kSecond;  // times start in 2023, never near 0
constexpr std::uint64_t kLimit = kStart + 100'000 * kDay;  // no day jumps past it: no overflow
// A day is more than the wheel's 65536 slots at any granularity: its flows are filed in the last
// slot and re-filed until due.
constexpr std::uint64_t kTimeouts[] = {1, 2, 15, 60, 1800, 86400};
constexpr std::size_t kKeys = 128;

// A failed check names itself, then aborts (a crash for libFuzzer).
[[noreturn]] void fail(const char* check, int line) {
  std::fprintf(stderr, "fuzz_flow_table.cpp:%d: check failed: %s\n", line, check);
  std::abort();
}
#define REQUIRE(check) ((check) ? void(0) : fail(#check, __LINE__))

// Key i: template i % 16, TCP or UDP by bit 4, source port by bits 5-6. Templates 6 and 7
// (version 4 with bytes past the 4th) and 13-15 (version 0) are not plain IPv4 or IPv6; 8 and 13
// have the address bytes of 0, 1-4 differ from 0 in one field.
FlowKey make_key(std::size_t i) {
  FlowKey k;
  k.source_address = {10, 0, 0, 1};
  k.destination_address = {10, 0, 0, 2};
  k.ip_version = 4;
  k.destination_port = 443;
  const std::array<std::uint8_t, 16> a = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::array<std::uint8_t, 16> b = a;
  b[15] = 2;
  switch (i % 16) {
    case 1: std::swap(k.source_address, k.destination_address); break;
    case 2: k.ingress_interface = 1; break;
    case 3: k.tos = 0xb8; break;
    case 4: k.destination_port = 80; break;
    case 5: k.source_address = {}; k.destination_address = {255, 255, 255, 255}; k.tos = 0xff;
            k.ingress_interface = 0xffffffff; break;
    case 6: k.source_address[4] = 1; break;
    case 7: k.destination_address[15] = 0x80; break;
    case 8: k.ip_version = 6; break;
    case 9: k.ip_version = 6; k.source_address = a; k.destination_address = b; break;
    case 10: k.ip_version = 6; k.source_address = b; k.destination_address = a; break;
    case 11: k.ip_version = 6; k.source_address = a; k.destination_address = b; k.ingress_interface = 1;
             break;
    case 12: k.ip_version = 6; k.source_address.fill(0xff); k.destination_address.fill(0xff); break;
    case 13: k.ip_version = 0; break;
    case 14: k.ip_version = 0; k.source_address = {}; k.destination_address = {}; break;
    case 15: k.ip_version = 0; k.source_address = a; k.destination_address = b; break;
  }
  k.protocol = (i & 16) != 0 ? 17 : 6;
  k.source_port = static_cast<std::uint16_t>(40000 + (i >> 5));
  return k;
}

const std::array<FlowKey, kKeys>& pool() {
  static const std::array<FlowKey, kKeys> keys = [] {
    std::array<FlowKey, kKeys> k;
    for (std::size_t i = 0; i < kKeys; ++i) k[i] = make_key(i);
    for (std::size_t i = 0; i < kKeys; ++i) {
      for (std::size_t j = i + 1; j < kKeys; ++j) REQUIRE(!(k[i] == k[j]));
    }
    return k;
  }();
  return keys;
}

FlowKey reversed(const FlowKey& key) {
  FlowKey r = key;
  std::swap(r.source_address, r.destination_address);
  std::swap(r.source_port, r.destination_port);
  return r;
}

// The other end's view: MACs and tunnel endpoints swapped.
PacketExtras swap_ends(const PacketExtras& x) {
  PacketExtras r = x;
  std::swap(r.source_mac, r.destination_mac);
  std::swap(r.tunnel_source, r.tunnel_destination);
  return r;
}

using KeyMask = std::array<std::uint8_t, kExtraKeyBytes>;

// Offsets in PacketExtras: MACs 0 and 6, VLAN 12, inner VLAN 14, MPLS top label 16, flow label 20.
KeyMask key_mask(std::uint8_t choice) {
  KeyMask m{};
  const auto select = [&](std::size_t from, std::size_t n, std::uint8_t bits) {
    for (std::size_t i = 0; i < n; ++i) m[from + i] = bits;
  };
  switch (choice & 7) {
    case 1: select(12, 2, 0xff); break;
    case 2: select(0, 6, 0xff); break;  // one MAC: the two directions key on different bits
    case 3: select(0, 12, 0xff); break;
    case 4: select(0, kExtraKeyBytes, 0xff); break;
    case 5: select(20, 4, 0xff); break;
    case 6: m[5] = 0x03; m[11] = 0x01; m[12] = 0x0f; break;  // single bits, asymmetric on the MACs
    case 7: select(16, 4, 0xff); select(14, 1, 0x0f); break;
    default: break;
  }
  return m;
}

// A packet's extras from one byte: source and destination MAC of 4 hosts, VLAN, flow label,
// fragment flags, MPLS labels, direction, tunnel endpoints.
PacketExtras make_extras(std::uint8_t e) {
  PacketExtras x;
  x.source_mac = {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(1 + (e & 3))};
  x.destination_mac = {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(1 + ((e >> 2) & 3))};
  x.vlan_id = (e & 16) != 0 ? 10 : 0;
  x.inner_vlan_id = (e & 16) != 0 ? 0 : 3;
  x.flow_label = (e & 32) != 0 ? 0x12345 : 0;
  x.fragment_flags = (e & 64) != 0 ? 0x40 : ((e & 1) != 0 ? 0x30 : 0);
  x.mpls_top_label = (e & 128) != 0 ? 0x1001 : 0;
  x.mpls_labels = {e, 0};
  x.direction = e & 1;
  // The tunnel endpoints in front of the two hosts (never key bytes).
  x.tunnel_ip_version = 4;
  x.tunnel_source = {192, 0, 2, static_cast<std::uint8_t>(1 + (e & 3))};
  x.tunnel_destination = {192, 0, 2, static_cast<std::uint8_t>(1 + ((e >> 2) & 3))};
  return x;
}

// A flow as the table must key it: the key in the flow's orientation, then its extra key bytes
// under the mask.
using Identity = std::array<std::uint8_t, sizeof(FlowKey) + kExtraKeyBytes>;
Identity identity(const FlowKey& key, const PacketExtras& x, const KeyMask& mask) {
  Identity id;
  std::memcpy(id.data(), &key, sizeof key);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(&x);
  for (std::size_t i = 0; i < kExtraKeyBytes; ++i) id[sizeof key + i] = bytes[i] & mask[i];
  return id;
}

// A time from one byte, relative to `clock` (at least kStart): the same, up to 31 ms / 3.1 s /
// 31 s / 15.5 min / 62 min ahead, up to 310 ms or 31 ns back, or 1-4 days ahead.
std::uint64_t time_from(std::uint64_t clock, std::uint8_t b) {
  constexpr std::uint64_t kUnits[] = {0, kMs, 100 * kMs, kSecond, 30 * kSecond, 120 * kSecond};
  const std::uint64_t n = b & 31;
  if (b >> 5 < 6) return clock + n * kUnits[b >> 5];
  if (b >> 5 == 6) return clock - n * 10 * kMs;
  return n >= 4 ? clock - n : (clock < kLimit ? clock + (n + 1) * kDay : clock);
}

bool same_flow(const FlowRecord& a, const FlowRecord& b) {
  return a.key == b.key && a.packets == b.packets && a.octets == b.octets && a.first_ns == b.first_ns &&
         a.last_ns == b.last_ns && a.tcp_flags == b.tcp_flags && a.min_ttl == b.min_ttl &&
         a.max_ttl == b.max_ttl && std::memcmp(&a.extras, &b.extras, sizeof a.extras) == 0 &&
         a.reverse.packets == b.reverse.packets && a.reverse.octets == b.reverse.octets &&
         a.reverse.first_ns == b.reverse.first_ns && a.reverse.last_ns == b.reverse.last_ns &&
         a.reverse.tcp_flags == b.reverse.tcp_flags && a.reverse.min_ttl == b.reverse.min_ttl &&
         a.reverse.max_ttl == b.reverse.max_ttl && a.reverse.tos == b.reverse.tos &&
         a.reverse.ingress_interface == b.reverse.ingress_interface && a.biflow_direction == b.biflow_direction;
}

// What the table must hold: per flow identity the open flow made of the packets fed since the
// identity's last record (`record`, reason aside), and the first and last packet of either
// direction (which the timeouts count from); the clock; totals fed and emitted; records by end
// reason.
struct OpenFlow {
  FlowRecord record;
  std::uint64_t first_ns = 0, last_ns = 0;
};

struct Model {
  std::size_t capacity;
  std::uint64_t inactive_ns, active_ns, clock = 0;
  bool extras, biflow;
  KeyMask mask{};  // zero without extras
  std::map<Identity, OpenFlow> open;
  std::uint64_t fed_packets = 0, fed_octets = 0, out_packets = 0, out_octets = 0, flows_created = 0;
  std::uint64_t expired[6] = {};

  explicit Model(const tapflow::cache::FlowTableConfig& c)
      : capacity(c.capacity), inactive_ns(c.inactive_timeout_ns), active_ns(c.active_timeout_ns),
        extras(c.extras), biflow(c.biflow) {
    if (extras) mask = c.extra_key_mask;
  }
  std::uint64_t base() const { return std::max(clock, kStart); }
  std::uint64_t deadline(const OpenFlow& f) const {
    return std::min(f.last_ns + inactive_ns, f.first_ns + active_ns);
  }
  // A biflow's key leaves out ToS and the ingress interface (each direction has its own).
  FlowKey keyed(FlowKey k) const {
    if (biflow) {
      k.tos = 0;
      k.ingress_interface = 0;
    }
    return k;
  }
  Identity identity_of(const FlowRecord& r) const { return identity(keyed(r.key), r.extras.first, mask); }

  // A record the table emitted (at the model's clock): exactly one open flow, which it closes. A
  // timeout reason iff the flow has timed out (the earlier one if both); kEndOfFlow where the
  // caller expects it and nowhere else.
  void emitted(const FlowRecord& r, bool end_of_flow) {
    const auto it = open.find(identity_of(r));
    REQUIRE(it != open.end());
    const OpenFlow& f = it->second;
    REQUIRE(same_flow(r, f.record) && r.first_ns <= r.last_ns && r.reverse.first_ns <= r.reverse.last_ns);
    REQUIRE(r.packets + r.reverse.packets >= 1);
    REQUIRE((r.end_reason == FlowEndReason::kEndOfFlow) == end_of_flow);
    const bool timed_out = clock > deadline(f);
    const bool idle_first = f.last_ns + inactive_ns <= f.first_ns + active_ns;
    const auto reason = static_cast<int>(r.end_reason);
    REQUIRE(reason >= 1 && reason <= 5);
    if (r.end_reason == FlowEndReason::kIdleTimeout) REQUIRE(timed_out && idle_first);
    if (r.end_reason == FlowEndReason::kActiveTimeout) REQUIRE(timed_out && !idle_first);
    if (reason >= 4) REQUIRE(!timed_out);  // kForcedEnd, kLackOfResources
    ++expired[reason];
    out_packets += r.packets + r.reverse.packets;
    out_octets += r.octets + r.reverse.octets;
    open.erase(it);
  }

  // One packet as update() handles it, taking the records it must emit from out[pos...] in
  // order: its flow if that had timed out at the packet's time (without this packet), the flow
  // evicted for a new one when the table is full (another one), then on TCP FIN or RST (biflow:
  // RST, or FIN once both ways) the packet's own flow (with it).
  void packet(const PacketSummary& p, const PacketExtras& packet_extras, const std::vector<FlowRecord>& out,
              std::size_t& pos) {
    const PacketExtras x = extras ? packet_extras : PacketExtras{};
    clock = std::max(clock, p.timestamp_ns);
    const bool tcp = p.key.protocol == 6;
    const Identity forward = identity(keyed(p.key), x, mask);
    const Identity backward = identity(keyed(reversed(p.key)), swap_ends(x), mask);
    bool reverse = false;
    const auto find = [&] {
      reverse = false;
      auto found = open.find(forward);
      if (found == open.end() && biflow) {  // the pool has no ICMP: every key pairs
        found = open.find(backward);
        reverse = found != open.end();
      }
      return found;
    };
    // A flow timed out at the packet's time ends first; then the packet may still find one the
    // other way round (a key mask on one MAC lets a flow and its reverse both exist).
    auto it = find();
    while (it != open.end() && p.timestamp_ns > deadline(it->second)) {
      REQUIRE(pos < out.size() && identity_of(out[pos]) == it->first);
      emitted(out[pos++], false);
      it = find();
    }
    if (it == open.end()) {
      if (open.size() == capacity) {
        REQUIRE(pos < out.size());
        emitted(out[pos++], false);
      }
      const bool syn = tcp && (p.tcp_flags & 0x02) != 0;
      reverse = biflow && syn && (p.tcp_flags & 0x10) != 0;  // a SYN-ACK: keyed from its destination
      OpenFlow f;
      f.record.key = keyed(reverse ? reversed(p.key) : p.key);
      if (extras) {
        f.record.extras.first = reverse ? swap_ends(x) : x;
        f.record.extras.min_length = f.record.extras.max_length = p.octets;
      }
      f.record.biflow_direction = biflow && syn ? BiflowDirection::kInitiator : BiflowDirection::kArbitrary;
      f.first_ns = f.last_ns = p.timestamp_ns;
      const auto [created, fresh] = open.emplace(reverse ? backward : forward, f);
      REQUIRE(fresh);  // the table must not hold two flows of one identity
      it = created;
      ++flows_created;
    }
    OpenFlow& f = it->second;
    FlowRecord& r = f.record;
    f.first_ns = std::min(f.first_ns, p.timestamp_ns);
    f.last_ns = std::max(f.last_ns, p.timestamp_ns);
    if (reverse) {
      auto& v = r.reverse;
      if (v.packets == 0) {
        v.first_ns = v.last_ns = p.timestamp_ns;
        v.min_ttl = v.max_ttl = p.ttl;
        v.tos = p.key.tos;
        v.ingress_interface = p.key.ingress_interface;
      }
      v.packets += 1;
      v.octets += p.octets;
      v.first_ns = std::min(v.first_ns, p.timestamp_ns);
      v.last_ns = std::max(v.last_ns, p.timestamp_ns);
      v.tcp_flags |= p.tcp_flags;
      v.min_ttl = std::min(v.min_ttl, p.ttl);
      v.max_ttl = std::max(v.max_ttl, p.ttl);
    } else {
      if (r.packets == 0) {
        r.first_ns = r.last_ns = p.timestamp_ns;
        r.min_ttl = r.max_ttl = p.ttl;
        r.key.tos = p.key.tos;  // the same as keyed() left it outside biflow mode
        r.key.ingress_interface = p.key.ingress_interface;
      }
      r.packets += 1;
      r.octets += p.octets;
      r.first_ns = std::min(r.first_ns, p.timestamp_ns);
      r.last_ns = std::max(r.last_ns, p.timestamp_ns);
      r.tcp_flags |= p.tcp_flags;
      r.min_ttl = std::min(r.min_ttl, p.ttl);
      r.max_ttl = std::max(r.max_ttl, p.ttl);
    }
    if (extras) {
      r.extras.first.fragment_flags |= x.fragment_flags;
      r.extras.min_length = std::min(r.extras.min_length, p.octets);
      r.extras.max_length = std::max(r.extras.max_length, p.octets);
    }
    fed_packets += 1;
    fed_octets += p.octets;
    if (tcp && (p.tcp_flags & 0x05) != 0 &&  // FIN or RST
        (!biflow || (p.tcp_flags & 0x04) != 0 || (r.tcp_flags & r.reverse.tcp_flags & 0x01) != 0)) {
      REQUIRE(pos < out.size() && identity_of(out[pos]) == it->first);
      emitted(out[pos++], true);
    }
  }
};

// Size, clock and counters agree with the model.
void check_table(const FlowTable& table, const Model& m) {
  const auto& c = table.counters();
  REQUIRE(table.size() == m.open.size() && table.size() <= table.capacity() && table.clock_ns() == m.clock);
  REQUIRE(c.packets == m.fed_packets && c.octets == m.fed_octets && c.flows_created == m.flows_created);
  for (int r = 0; r < 6; ++r) REQUIRE(c.expired[r] == m.expired[r]);
  REQUIRE(c.flows_created == c.expired_total() + table.size());
}

// for_each_active up to `limit` flows: each an open flow of the model, none twice; with no
// limit all of them, which with the records so far hold every packet and octet fed.
void check_active(const FlowTable& table, const Model& m, std::size_t limit) {
  std::set<Identity> seen;
  std::size_t n = 0;
  std::uint64_t packets = 0, octets = 0;
  const auto visit = [&](const FlowRecord& r) {
    const Identity id = m.identity_of(r);
    const auto it = m.open.find(id);
    REQUIRE(it != m.open.end() && seen.insert(id).second && same_flow(r, it->second.record) &&
            r.end_reason == FlowEndReason::kForcedEnd);
    ++n;
    packets += r.packets + r.reverse.packets;
    octets += r.octets + r.reverse.octets;
  };
  table.for_each_active(visit, limit);
  REQUIRE(n <= limit && n <= table.size());
  if (limit == SIZE_MAX) {
    REQUIRE(n == table.size() && m.out_packets + packets == m.fed_packets &&
            m.out_octets + octets == m.fed_octets);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  tapflow::cache::FlowTableConfig config;
  config.capacity = 1 + (data[0] & 63);
  config.bucket_count = data[1] & 1;  // 1: rounded up to the minimum, capacity / 8
  config.inactive_timeout_ns = kTimeouts[(data[1] >> 1) % 6] * kSecond;
  config.active_timeout_ns = kTimeouts[data[2] % 6] * kSecond;
  config.hash_seed = data[2] / 5;
  const unsigned mode = data[0] >> 6;
  config.extras = (mode & 1) != 0;
  config.biflow = (mode & 2) != 0;
  std::size_t at = 3;
  if (mode != 0) {
    if (size < 4) return 0;
    config.extra_key_mask = key_mask(data[at++]);
  }
  FlowTable table(config);
  REQUIRE(table.granularity_ns() == std::clamp(config.inactive_timeout_ns / 8, kMs, kSecond));
  Model m(config);
  std::vector<FlowRecord> out;
  const auto next = [&]() -> std::uint8_t { return at < size ? data[at++] : 0; };
  // Extras a table without config.extras must ignore.
  const PacketExtras ignored = make_extras(0xa5);
  // Four bytes: key, TCP flags, time step (from `clock`, the latest time so far), octets; with
  // extras a fifth, the packet's extras.
  const auto make_packet = [&](std::uint64_t& clock, PacketExtras& x) {
    PacketSummary p;
    const std::uint8_t key = next(), flags = next(), step = next(), octets = next();
    p.key = pool()[key % kKeys];
    x = config.extras ? make_extras(next()) : ignored;
    if (mode != 0 && (key & 128) != 0) {  // the other end speaking
      p.key = reversed(p.key);
      x = swap_ends(x);
    }
    p.tcp_flags = flags;
    p.timestamp_ns = time_from(std::max(clock, kStart), step);
    p.octets = octets == 255 ? 0xffffffffu : octets * 60u;
    p.ttl = static_cast<std::uint8_t>(step ^ flags);
    clock = std::max(clock, p.timestamp_ns);
    return p;
  };

  while (at < size) {
    const std::uint8_t op = next();
    out.clear();
    std::size_t pos = 0;
    switch (op & 7) {
      case 3: {  // update_batch of 1..32 packets: the same records as one update() each
        PacketSummary batch[32];
        PacketExtras batch_extras[32];
        std::size_t n = 0;
        std::uint64_t clock = m.clock;
        while (n < 1u + (op >> 3) && at < size) {
          batch[n] = make_packet(clock, batch_extras[n]);
          ++n;
        }
        // Without extras, both overloads (the extras are ignored); with, the extras one.
        if (config.extras || (op & 8) != 0) {
          table.update_batch(std::span(batch, n), std::span(batch_extras, n), out);
        } else {
          table.update_batch(std::span(batch, n), out);
        }
        for (std::size_t i = 0; i < n; ++i) m.packet(batch[i], batch_extras[i], out, pos);
        REQUIRE(pos == out.size());
        break;
      }
      case 4: {  // expire at the clock or later: every due flow, or at most 1..4
        const std::uint64_t now = std::max(m.base(), time_from(m.base(), next()));
        const std::size_t max_records = (op & 0x80) != 0 ? 1 + ((op >> 3) & 3) : SIZE_MAX;
        const std::size_t n = table.expire(now, out, max_records);
        m.clock = std::max(m.clock, now);
        REQUIRE(n == out.size() && n <= max_records);
        for (const auto& r : out) {
          REQUIRE(r.end_reason == FlowEndReason::kIdleTimeout ||
                  r.end_reason == FlowEndReason::kActiveTimeout);
          m.emitted(r, false);
        }
        // What is left is at most a granularity overdue (a packet behind the clock that moves a
        // flow's first time, so its active deadline, re-files the flow).
        for (const auto& [id, f] : m.open) {
          REQUIRE(max_records != SIZE_MAX || now < m.deadline(f) + table.granularity_ns());
        }
        break;
      }
      case 5: {  // expire_all in a chunk of 1..8, or all
        const std::size_t max_records = (op & 0x80) != 0 ? SIZE_MAX : 1 + ((op >> 3) & 7);
        const std::size_t n = table.expire_all(FlowEndReason::kForcedEnd, out, max_records);
        REQUIRE(n == out.size() && n <= max_records && (n == max_records || table.size() == 0));
        for (const auto& r : out) m.emitted(r, false);
        break;
      }
      case 6:  // for_each_active with a limit of 0..31, then all of them
        check_active(table, m, op >> 3);
        check_active(table, m, SIZE_MAX);
        break;
      default: {  // one packet: with its extras, or (bit 3) through the overload without
        std::uint64_t clock = m.clock;
        PacketExtras x;
        const PacketSummary p = make_packet(clock, x);
        if ((op & 8) != 0) {
          table.update(p, out);
          x = PacketExtras{};
        } else {
          table.update(p, x, out);
        }
        m.packet(p, x, out, pos);
        REQUIRE(pos == out.size());
        break;
      }
    }
    check_table(table, m);
  }

  // Drain in chunks: then every packet and octet fed is in exactly one record.
  check_active(table, m, SIZE_MAX);
  for (;;) {
    out.clear();
    const std::size_t n = table.expire_all(FlowEndReason::kForcedEnd, out, 7);
    REQUIRE(n == out.size());
    if (n == 0) break;
    for (const auto& r : out) m.emitted(r, false);
  }
  REQUIRE(table.size() == 0 && m.open.empty());
  REQUIRE(m.out_packets == m.fed_packets && m.out_octets == m.fed_octets);
  check_table(table, m);
  return 0;
}
