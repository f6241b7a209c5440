// The record stages' cost per record (issue 15): --anonymize cryptopan: with addresses that repeat
// (the cache answers) and with addresses never seen before (32 or 128 AES blocks each), and the
// mask for comparison. Each record has two addresses.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "exporter/anonymize/anonymizer.h"

namespace {

using tapflow::cache::FlowRecord;
using tapflow::exporter::AnonymizeSpec;
using tapflow::exporter::Anonymizer;

std::vector<FlowRecord> records(std::size_t n, int ip_version, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::vector<FlowRecord> out(n);
  for (auto& r : out) {
    r.key.ip_version = static_cast<std::uint8_t>(ip_version);
    for (auto& b : r.key.source_address) b = static_cast<std::uint8_t>(random());
    for (auto& b : r.key.destination_address) b = static_cast<std::uint8_t>(random());
    r.key.source_address[0] = r.key.destination_address[0] = 0x20;  // unicast
  }
  return out;
}

AnonymizeSpec crypto_pan_spec() {
  AnonymizeSpec spec;
  spec.cryptopan = true;
  for (std::size_t i = 0; i < spec.crypto_pan_key.size(); ++i) spec.crypto_pan_key[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return spec;
}

// One record a benchmark iteration, the input cycled through (a copy each time: the stage works in place).
void anonymize_each(benchmark::State& state, const std::vector<FlowRecord>& input, Anonymizer& anonymizer) {
  std::size_t i = 0;
  for (auto _ : state) {
    FlowRecord r = input[i];
    anonymizer.apply(r);
    benchmark::DoNotOptimize(r);
    if (++i == input.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

// range(0): distinct records cycled through (4096: every address cached after the first pass;
// 4 M: almost every lookup a miss); range(1): IP version.
void BM_CryptoPan(benchmark::State& state) {
  const auto input = records(static_cast<std::size_t>(state.range(0)), static_cast<int>(state.range(1)), 1);
  Anonymizer anonymizer(crypto_pan_spec());
  anonymize_each(state, input, anonymizer);
  state.counters["hit_rate"] = static_cast<double>(anonymizer.crypto_pan()->cache_hits()) /
                               static_cast<double>(anonymizer.crypto_pan()->cache_hits() + anonymizer.crypto_pan()->cache_misses());
}
BENCHMARK(BM_CryptoPan)->Args({4096, 4})->Args({4 << 20, 4})->Args({4096, 6})->Args({4 << 20, 6});

void BM_Mask(benchmark::State& state) {
  const auto input = records(4096, 4, 2);
  AnonymizeSpec spec;
  spec.ipv4_bits = 11;
  Anonymizer anonymizer(spec);
  anonymize_each(state, input, anonymizer);
}
BENCHMARK(BM_Mask);

}  // namespace
