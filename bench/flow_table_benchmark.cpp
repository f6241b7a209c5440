// Flow table microbenchmarks: updates that hit existing flows and updates that create them, with
// 1 k to 4 M flows so the table walks from L1 to DRAM, a steady state with evictions, and expiry.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "cache/flow_table.h"

namespace {

using tapflow::cache::FlowEndReason;
using tapflow::cache::FlowRecord;
using tapflow::cache::FlowTable;
using tapflow::cache::FlowTableConfig;
using tapflow::cache::PacketSummary;

std::vector<PacketSummary> make_packets(std::size_t flows, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<PacketSummary> packets(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto f = static_cast<std::uint32_t>(rng() % flows);
    auto& p = packets[i];
    p.key.ip_version = 4;
    p.key.protocol = 6;
    p.key.source_address = {10, static_cast<std::uint8_t>(f >> 16), static_cast<std::uint8_t>(f >> 8),
                            static_cast<std::uint8_t>(f)};
    p.key.destination_address = {192, 0, 2, 1};
    p.key.source_port = static_cast<std::uint16_t>(1024 + (f & 0x3fff));
    p.key.destination_port = 443;
    p.octets = 576;
    p.ttl = 64;
    p.timestamp_ns = 1'000'000'000ull + i;
  }
  return packets;
}

FlowTableConfig config(std::size_t capacity) {
  return FlowTableConfig{.capacity = capacity, .inactive_timeout_ns = 15'000'000'000ull,
                         .active_timeout_ns = 1'800'000'000'000ull, .hash_seed = 42};
}

// Every packet hits a flow already in the table.
void BM_UpdateHit(benchmark::State& state) {
  const auto flows = static_cast<std::size_t>(state.range(0));
  FlowTable table(config(flows * 2));
  std::vector<FlowRecord> expired;
  expired.reserve(1024);
  const auto packets = make_packets(flows, std::max<std::size_t>(flows * 2, 1 << 20), 1);
  for (const auto& p : packets) table.update(p, expired);
  std::size_t i = 0;
  for (auto _ : state) {
    table.update(packets[i], expired);
    if (++i == packets.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_UpdateHit)->RangeMultiplier(4)->Range(1 << 10, 1 << 22);

// The same packets through update_batch (groups prefetched), 256 per call as the pipeline does.
void BM_UpdateHitBatch(benchmark::State& state) {
  const auto flows = static_cast<std::size_t>(state.range(0));
  FlowTable table(config(flows * 2));
  std::vector<FlowRecord> expired;
  expired.reserve(1024);
  const auto packets = make_packets(flows, std::max<std::size_t>(flows * 2, 1 << 20), 1);
  table.update_batch(packets, expired);
  constexpr std::size_t kBatch = 256;
  std::size_t i = 0;
  for (auto _ : state) {
    table.update_batch(std::span(packets).subspan(i, kBatch), expired);
    i += kBatch;
    if (i + kBatch > packets.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_UpdateHitBatch)->RangeMultiplier(4)->Range(1 << 10, 1 << 22);

// Steady state of a full table: each packet is a new flow and evicts the flow with the nearest
// deadline. The table is filled before timing, so every timed update evicts.
void BM_UpdateMissWithEviction(benchmark::State& state) {
  const auto capacity = static_cast<std::size_t>(state.range(0));
  FlowTable table(config(capacity));
  std::vector<FlowRecord> expired;
  expired.reserve(1024);
  const auto packets = make_packets(1u << 24, capacity + (1 << 20), 2);
  std::size_t i = 0;
  for (; i < capacity; ++i) {
    table.update(packets[i], expired);
    expired.clear();
  }
  for (auto _ : state) {
    table.update(packets[i], expired);
    if (expired.size() >= 512) expired.clear();
    if (++i == packets.size()) i = capacity;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_UpdateMissWithEviction)->RangeMultiplier(16)->Range(1 << 10, 1 << 22);

// Inactive expiry: the cost per flow expired.
void BM_ExpireIdle(benchmark::State& state) {
  const auto flows = static_cast<std::size_t>(state.range(0));
  const auto packets = make_packets(flows * 4, flows, 3);
  std::vector<FlowRecord> expired;
  expired.reserve(flows);
  for (auto _ : state) {
    state.PauseTiming();
    FlowTable table(config(flows));
    for (const auto& p : packets) table.update(p, expired);
    expired.clear();
    state.ResumeTiming();
    benchmark::DoNotOptimize(table.expire(1'000'000'000'000ull, expired));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * flows));
}
BENCHMARK(BM_ExpireIdle)->Arg(1 << 16);

// End of input: expire_all drains a table of N flows in chunks of 4096, as the probe does.
void BM_ExpireAll(benchmark::State& state) {
  const auto flows = static_cast<std::size_t>(state.range(0));
  const auto packets = make_packets(flows * 4, flows, 5);
  std::vector<FlowRecord> expired;
  expired.reserve(4096);
  std::size_t drained = 0;
  for (auto _ : state) {
    state.PauseTiming();
    FlowTable table(config(flows));
    for (const auto& p : packets) {
      table.update(p, expired);
      expired.clear();
    }
    state.ResumeTiming();
    while (table.expire_all(FlowEndReason::kForcedEnd, expired, 4096) != 0) {
      drained += expired.size();
      expired.clear();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(drained));
}
BENCHMARK(BM_ExpireAll)->Arg(1 << 16)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace
