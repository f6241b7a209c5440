// Proves the hot path allocates nothing per packet: global operator new is replaced by a counting
// one, and decoding plus flow-table updates (hits, misses, evictions, FIN expiry, periodic expiry)
// run over many packets in steady state with the counter watched. Its own binary, so the
// replacement does not touch the other tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "cache/flow_table.h"
#include "probe/decoder.h"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) { return operator new(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

std::vector<std::uint8_t> tcp_frame(std::uint32_t source, std::uint8_t flags) {
  std::vector<std::uint8_t> f(14 + 20 + 20, 0);
  f[12] = 0x08;
  std::uint8_t* ip = f.data() + 14;
  ip[0] = 0x45; ip[3] = 40; ip[8] = 64; ip[9] = 6;
  ip[12] = 10; ip[13] = static_cast<std::uint8_t>(source >> 16);
  ip[14] = static_cast<std::uint8_t>(source >> 8); ip[15] = static_cast<std::uint8_t>(source);
  ip[16] = 192; ip[17] = 0; ip[18] = 2; ip[19] = 1;
  ip[20] = 0x30; ip[22] = 0x01; ip[23] = 0xbb; ip[32] = 0x50; ip[33] = flags;
  return f;
}

TEST(HotPath, DecodeAndCacheUpdatesAllocateNothingPerPacket) {
  tapflow::cache::FlowTable table({.capacity = 4096, .inactive_timeout_ns = 1'000'000'000ull,
                                   .active_timeout_ns = 5'000'000'000ull, .hash_seed = 9});
  std::vector<tapflow::cache::FlowRecord> expired;
  expired.reserve(8192);
  std::mt19937 rng(5);
  std::vector<std::vector<std::uint8_t>> frames;
  for (int i = 0; i < 64; ++i) {
    frames.push_back(tcp_frame(static_cast<std::uint32_t>(rng() % 20000), i % 16 == 0 ? 0x11 : 0x10));
  }
  std::array<tapflow::cache::PacketSummary, 256> batch;
  std::uint64_t t = 1'000'000'000ull;
  auto run = [&](int batches) {
    for (int b = 0; b < batches; ++b) {
      std::size_t n = 0;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& frame = frames[(b * 7 + i) % frames.size()];
        // A different source each time: misses, evictions of a full table, FIN expiry.
        const auto source = static_cast<std::uint32_t>(rng() % 20000);
        frame[27] = static_cast<std::uint8_t>(source);
        frame[28] = static_cast<std::uint8_t>(source >> 8);
        t += 100'000;
        if (tapflow::probe::decode_packet(1, frame, static_cast<std::uint32_t>(frame.size()), t, 0, batch[n]) ==
            tapflow::probe::DecodeVerdict::kOk) {
          ++n;
        }
      }
      table.update_batch(std::span(batch).first(n), expired);
      table.expire(t, expired, 4096);
      expired.clear();
    }
  };
  run(200);  // warm up: the table fills and starts evicting
  const auto before = g_allocations.load();
  run(2000);  // 512,000 packets
  EXPECT_EQ(g_allocations.load() - before, 0u);
  EXPECT_GT(table.counters().expired[5], 0u) << "the steady state must include evictions";
}

}  // namespace
