// libFuzzer target for the flow table (cache/flow_table.h), checked against a reference model.
// Bytes 0-2 pick a small table: capacity 1..64 (so the cache fills and evicts), the default or
// the minimum bucket count, inactive and active timeouts of 1, 2, 15, 60, 1800 or 86400 s, a hash
// seed.
// The rest is operations until the input ends: one packet (update), up to 32 (update_batch),
// expire at the clock or later (every due flow or at most a few), expire_all(kForcedEnd) in
// chunks, for_each_active with a limit. Packets take one of 128 keys (16 templates, some not plain
// IPv4 or IPv6, x TCP/UDP x 4 ports); their times step from the table's clock by 0, by
// milliseconds to an hour, a little backwards, or by days.
// The model knows the flow the table must hold for each key, so every record is checked whole:
// one pool key (never two merged), the packets, octets, times, flags and TTLs of exactly the
// packets since that key's previous record, an end reason that fits the timeouts at the clock;
// so are the size, clock and counters after every operation, and what for_each_active shows.
// At the end expire_all drains the table: every packet and octet fed is in exactly one record.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "cache/flow_record.h"
#include "cache/flow_table.h"
#include "cache/packet_summary.h"

namespace {

using tapflow::cache::FlowEndReason;
using tapflow::cache::FlowKey;
using tapflow::cache::FlowRecord;
using tapflow::cache::FlowTable;
using tapflow::cache::PacketSummary;

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

// The pool key equal to `key`; fails if there is none.
std::size_t index_of(const FlowKey& key) {
  const auto it = std::find(pool().begin(), pool().end(), key);
  REQUIRE(it != pool().end());
  return static_cast<std::size_t>(it - pool().begin());
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
         a.max_ttl == b.max_ttl;
}

// What the table must hold: per pool key the open flow (packets 0: none) made of the packets fed
// since the key's last record; the clock; totals fed and emitted; records by end reason.
struct Model {
  std::size_t capacity;
  std::uint64_t inactive_ns, active_ns, clock = 0;
  std::array<FlowRecord, kKeys> open;
  std::size_t open_count = 0;
  std::uint64_t fed_packets = 0, fed_octets = 0, out_packets = 0, out_octets = 0, flows_created = 0;
  std::uint64_t expired[6] = {};

  explicit Model(const tapflow::cache::FlowTableConfig& c)
      : capacity(c.capacity), inactive_ns(c.inactive_timeout_ns), active_ns(c.active_timeout_ns) {
    for (std::size_t i = 0; i < kKeys; ++i) open[i].key = pool()[i];
  }
  std::uint64_t base() const { return std::max(clock, kStart); }
  std::uint64_t deadline(const FlowRecord& f) const {
    return std::min(f.last_ns + inactive_ns, f.first_ns + active_ns);
  }

  // A record the table emitted (at the model's clock): exactly its key's open flow, which it
  // closes. A timeout reason iff the flow has timed out (the earlier one if both); kEndOfFlow
  // where the caller expects it and nowhere else.
  void emitted(const FlowRecord& r, bool end_of_flow) {
    FlowRecord& f = open[index_of(r.key)];
    REQUIRE(f.packets >= 1 && same_flow(r, f) && r.first_ns <= r.last_ns);
    REQUIRE((r.end_reason == FlowEndReason::kEndOfFlow) == end_of_flow);
    const bool timed_out = clock > deadline(f);
    const bool idle_first = f.last_ns + inactive_ns <= f.first_ns + active_ns;
    const auto reason = static_cast<int>(r.end_reason);
    REQUIRE(reason >= 1 && reason <= 5);
    if (r.end_reason == FlowEndReason::kIdleTimeout) REQUIRE(timed_out && idle_first);
    if (r.end_reason == FlowEndReason::kActiveTimeout) REQUIRE(timed_out && !idle_first);
    if (reason >= 4) REQUIRE(!timed_out);  // kForcedEnd, kLackOfResources
    ++expired[reason];
    out_packets += r.packets;
    out_octets += r.octets;
    f.packets = 0;
    --open_count;
  }

  // One packet as update() handles it, taking the records it must emit from out[pos...] in
  // order: its key's flow if that had timed out at the packet's time (without this packet), the
  // flow evicted for a new one when the table is full (another key), then on TCP FIN or RST the
  // packet's own flow (with it).
  void packet(const PacketSummary& p, const std::vector<FlowRecord>& out, std::size_t& pos) {
    clock = std::max(clock, p.timestamp_ns);
    FlowRecord& f = open[index_of(p.key)];
    if (f.packets != 0 && p.timestamp_ns > deadline(f)) {
      REQUIRE(pos < out.size() && out[pos].key == p.key);
      emitted(out[pos++], false);
    }
    if (f.packets == 0) {
      if (open_count == capacity) {
        REQUIRE(pos < out.size() && !(out[pos].key == p.key));
        emitted(out[pos++], false);
      }
      f.octets = f.tcp_flags = 0;
      f.first_ns = f.last_ns = p.timestamp_ns;
      f.min_ttl = f.max_ttl = p.ttl;
      ++open_count;
      ++flows_created;
    }
    f.packets += 1;
    f.octets += p.octets;
    f.first_ns = std::min(f.first_ns, p.timestamp_ns);
    f.last_ns = std::max(f.last_ns, p.timestamp_ns);
    f.tcp_flags |= p.tcp_flags;
    f.min_ttl = std::min(f.min_ttl, p.ttl);
    f.max_ttl = std::max(f.max_ttl, p.ttl);
    fed_packets += 1;
    fed_octets += p.octets;
    if (p.key.protocol == 6 && (p.tcp_flags & 0x05) != 0) {  // FIN or RST
      REQUIRE(pos < out.size() && out[pos].key == p.key);
      emitted(out[pos++], true);
    }
  }
};

// Size, clock and counters agree with the model.
void check_table(const FlowTable& table, const Model& m) {
  const auto& c = table.counters();
  REQUIRE(table.size() == m.open_count && table.size() <= table.capacity() && table.clock_ns() == m.clock);
  REQUIRE(c.packets == m.fed_packets && c.octets == m.fed_octets && c.flows_created == m.flows_created);
  for (int r = 0; r < 6; ++r) REQUIRE(c.expired[r] == m.expired[r]);
  REQUIRE(c.flows_created == c.expired_total() + table.size());
}

// for_each_active up to `limit` flows: each an open flow of the model, none twice; with no
// limit all of them, which with the records so far hold every packet and octet fed.
void check_active(const FlowTable& table, const Model& m, std::size_t limit) {
  bool seen[kKeys] = {};
  std::size_t n = 0;
  std::uint64_t packets = 0, octets = 0;
  const auto visit = [&](const FlowRecord& r) {
    const std::size_t i = index_of(r.key);
    REQUIRE(!seen[i] && m.open[i].packets >= 1 && same_flow(r, m.open[i]) &&
            r.end_reason == FlowEndReason::kForcedEnd);
    seen[i] = true;
    ++n;
    packets += r.packets;
    octets += r.octets;
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
  FlowTable table(config);
  REQUIRE(table.granularity_ns() == std::clamp(config.inactive_timeout_ns / 8, kMs, kSecond));
  Model m(config);
  std::vector<FlowRecord> out;
  std::size_t at = 3;
  const auto next = [&]() -> std::uint8_t { return at < size ? data[at++] : 0; };
  // Four bytes: key, TCP flags, time step (from `clock`, the latest time so far), octets.
  const auto make_packet = [&](std::uint64_t& clock) {
    PacketSummary p;
    const std::uint8_t key = next(), flags = next(), step = next(), octets = next();
    p.key = pool()[key % kKeys];
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
        std::size_t n = 0;
        std::uint64_t clock = m.clock;
        while (n < 1u + (op >> 3) && at < size) batch[n++] = make_packet(clock);
        table.update_batch(std::span(batch, n), out);
        for (std::size_t i = 0; i < n; ++i) m.packet(batch[i], out, pos);
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
        for (const auto& f : m.open) {
          REQUIRE(max_records != SIZE_MAX || f.packets == 0 ||
                  now < m.deadline(f) + table.granularity_ns());
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
      default: {  // one packet
        std::uint64_t clock = m.clock;
        const PacketSummary p = make_packet(clock);
        table.update(p, out);
        m.packet(p, out, pos);
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
  REQUIRE(table.size() == 0 && m.open_count == 0);
  REQUIRE(m.out_packets == m.fed_packets && m.out_octets == m.fed_octets);
  check_table(table, m);
  return 0;
}
