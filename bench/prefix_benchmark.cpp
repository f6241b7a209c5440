// --prefixes (issue 15): loading a table of a million generated prefixes (nested /8 to /24 IPv4
// and /32 to /48 IPv6, as a full BGP table has), and the cost of one record's two lookups over
// it: addresses spread over the whole table (cache misses) and repeating ones.
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include <random>
#include <string>
#include <vector>

#include "exporter/prefixes/prefix_exporter.h"

namespace {

using tapflow::exporter::PrefixLoadReport;
using tapflow::exporter::PrefixTable;

// About a million lines: 900 k IPv4 (mostly /24 under /16s and /8s) and 100 k IPv6.
const std::string& million_lines() {
  static const std::string text = [] {
    std::mt19937 random(5);
    std::string out;
    out.reserve(28u << 20);
    for (int i = 0; i < 900'000; ++i) {
      const std::uint32_t a = random();
      const int length = i % 50 == 0 ? 16 : (i % 1000 == 0 ? 8 : (i % 7 == 0 ? 22 : 24));
      out += fmt::format("{}.{}.{}.0/{} {}\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, length, 1 + random() % 400000);
    }
    for (int i = 0; i < 100'000; ++i) {
      out += fmt::format("2{:03x}:{:x}:{:x}::/{} {}\n", random() % 4096, random() % 65536, random() % 65536,
                         i % 10 == 0 ? 32 : 48, 1 + random() % 400000);
    }
    return out;
  }();
  return text;
}

void BM_PrefixTableLoadMillionLines(benchmark::State& state) {
  const auto& text = million_lines();
  for (auto _ : state) {
    PrefixLoadReport report;
    auto table = PrefixTable::parse(text, report);
    benchmark::DoNotOptimize(table);
  }
  state.counters["lines"] = 1e6;
}
BENCHMARK(BM_PrefixTableLoadMillionLines)->Unit(benchmark::kMillisecond);

// range(0): distinct records cycled through (4096 stay in the CPU caches, 4 M do not).
void BM_PrefixLookupPerRecord(benchmark::State& state) {
  PrefixLoadReport report;
  static const PrefixTable table = PrefixTable::parse(million_lines(), report);
  std::mt19937_64 random(9);
  std::vector<tapflow::cache::FlowRecord> records(static_cast<std::size_t>(state.range(0)));
  for (auto& r : records) {
    r.key.ip_version = 4;
    for (auto& b : r.key.source_address) b = static_cast<std::uint8_t>(random());
    for (auto& b : r.key.destination_address) b = static_cast<std::uint8_t>(random());
  }
  std::size_t i = 0;
  for (auto _ : state) {
    tapflow::exporter::apply_prefixes(table, false, records[i]);
    benchmark::DoNotOptimize(records[i]);
    if (++i == records.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrefixLookupPerRecord)->Arg(4096)->Arg(4 << 20);

}  // namespace
