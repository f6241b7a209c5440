// Proves the hot path allocates nothing per packet: global operator new is replaced by a counting
// one, and decoding plus flow-table updates (hits, misses, evictions, FIN expiry, periodic expiry)
// run over many packets in steady state with the counter watched; so does reading a capture file
// by the direct path and through libpcap. Its own binary, so the
// replacement does not touch the other tests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <random>
#include <vector>

#include "cache/flow_table.h"
#include "drivers/pcap_file_reader.h"
#include "probe/decode/decoder.h"

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

// The same with --key/--fields extras (a VLAN and MAC key mask) and --biflow: the decoder's
// extras and the table's side blocks live in memory taken at construction.
TEST(HotPath, ExtrasAndBiflowAllocateNothingPerPacket) {
  for (const bool biflow : {false, true}) {
    tapflow::cache::FlowTableConfig config{.capacity = 4096, .inactive_timeout_ns = 1'000'000'000ull,
                                           .active_timeout_ns = 5'000'000'000ull, .hash_seed = 9};
    config.extras = true;
    config.biflow = biflow;
    for (std::size_t i = 0; i < 6; ++i) config.extra_key_mask[i] = 0xff;  // source MAC
    config.extra_key_mask[12] = config.extra_key_mask[13] = 0xff;        // VLAN
    tapflow::cache::FlowTable table(config);
    std::vector<tapflow::cache::FlowRecord> expired;
    expired.reserve(8192);
    std::mt19937 rng(5);
    std::array<tapflow::cache::PacketSummary, 256> batch;
    std::array<tapflow::cache::PacketExtras, 256> extras;
    tapflow::probe::DecodeOptions options;
    options.extras = true;
    auto frame = tcp_frame(1, 0x10);
    std::uint64_t t = 1'000'000'000ull;
    auto run = [&](int batches) {
      for (int b = 0; b < batches; ++b) {
        std::size_t n = 0;
        for (std::size_t i = 0; i < batch.size(); ++i) {
          const auto source = static_cast<std::uint32_t>(rng() % 20000);
          frame[27] = static_cast<std::uint8_t>(source);
          frame[28] = static_cast<std::uint8_t>(source >> 8);
          frame[6] = static_cast<std::uint8_t>(rng() % 4);  // a few source MACs
          frame[33] = i % 16 == 0 ? 0x11 : 0x10;
          t += 100'000;
          if (tapflow::probe::decode_packet(1, frame, static_cast<std::uint32_t>(frame.size()), t, 0, options,
                                            batch[n], extras[n]) == tapflow::probe::DecodeVerdict::kOk) {
            ++n;
          }
        }
        table.update_batch(std::span(batch).first(n), std::span(extras).first(n), expired);
        table.expire(t, expired, 4096);
        expired.clear();
      }
    };
    run(200);
    const auto before = g_allocations.load();
    run(2000);
    EXPECT_EQ(g_allocations.load() - before, 0u) << (biflow ? "biflow" : "extras");
    EXPECT_GT(table.counters().expired[5], 0u) << "the steady state must include evictions";
  }
}

// Reading a capture, both by the direct path and through libpcap, then decoding and accounting
// each frame: nothing is allocated per record once the file is open.
TEST(HotPath, ReadingAFileAllocatesNothingPerRecord) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tapflow-alloc-" + std::to_string(::getpid()) + ".pcap")).string();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::uint32_t header[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 262144, 1};
    std::fwrite(header, sizeof header, 1, f);
    std::mt19937 rng(7);
    for (std::uint32_t i = 0; i < 50'000; ++i) {
      auto frame = tcp_frame(static_cast<std::uint32_t>(rng() % 20000), i % 16 == 0 ? 0x11 : 0x10);
      const std::uint32_t record[4] = {1'700'000'000u + i / 1000, (i % 1000) * 1000, static_cast<std::uint32_t>(frame.size()),
                                       static_cast<std::uint32_t>(frame.size())};
      std::fwrite(record, sizeof record, 1, f);
      std::fwrite(frame.data(), frame.size(), 1, f);
    }
    std::fclose(f);
  }
  for (const bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "libpcap");
    tapflow::drivers::PcapFileReader reader(path, direct, 1 << 16);  // small: many refills
    tapflow::cache::FlowTable table({.capacity = 4096, .inactive_timeout_ns = 1'000'000'000ull,
                                     .active_timeout_ns = 5'000'000'000ull, .hash_seed = 9});
    std::vector<tapflow::cache::FlowRecord> expired;
    expired.reserve(8192);
    std::array<tapflow::cache::PacketSummary, 256> batch;
    auto read_batch = [&] {
      std::size_t n = 0;
      const std::size_t got = reader.read_batch(batch.size(), [&](const tapflow::drivers::Frame& frame) {
        if (tapflow::probe::decode_packet(frame.link_type, frame.data, frame.wire_length, frame.timestamp_ns, 0,
                                          batch[n]) == tapflow::probe::DecodeVerdict::kOk) {
          ++n;
        }
      });
      table.update_batch(std::span(batch).first(n), expired);
      expired.clear();
      return got;
    };
    ASSERT_GT(read_batch(), 0u);
    const auto before = g_allocations.load();
    std::size_t records = 256;
    while (const std::size_t got = read_batch()) records += got;
    EXPECT_EQ(g_allocations.load() - before, 0u);
    EXPECT_EQ(records, 50'000u);
    EXPECT_TRUE(reader.error().empty()) << reader.error();
    EXPECT_EQ(reader.frames_read_directly(), direct ? 50'000u : 0u);
  }
  std::filesystem::remove(path);
}

// A pcapng file of two interfaces (Ethernet, raw IP) with skipped blocks between the packets:
// PcapngReader allocates nothing per block once its buffer has grown to the largest.
TEST(HotPath, ReadingAPcapngFileAllocatesNothingPerBlock) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tapflow-alloc-" + std::to_string(::getpid()) + ".pcapng")).string();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const auto block = [&](std::uint32_t type, const std::vector<std::uint32_t>& words, const std::vector<std::uint8_t>& data) {
      const auto length = static_cast<std::uint32_t>(12 + 4 * words.size() + (data.size() + 3) / 4 * 4);
      std::fwrite(&type, 4, 1, f);
      std::fwrite(&length, 4, 1, f);
      std::fwrite(words.data(), 4, words.size(), f);
      std::vector<std::uint8_t> padded(data);
      padded.resize((data.size() + 3) / 4 * 4);
      if (!padded.empty()) std::fwrite(padded.data(), 1, padded.size(), f);  // fwrite(nullptr, ...) is UB
      std::fwrite(&length, 4, 1, f);
    };
    block(0x0A0D0D0Au, {0x1A2B3C4Du, 0x00000001u, 0xffffffffu, 0xffffffffu}, {});
    block(1, {1, 262144}, {});    // Ethernet
    block(1, {101, 65535}, {});  // raw IP
    std::mt19937 rng(7);
    for (std::uint32_t i = 0; i < 20'000; ++i) {
      auto frame = tcp_frame(static_cast<std::uint32_t>(rng() % 20000), i % 16 == 0 ? 0x11 : 0x10);
      const std::uint32_t itf = i % 3 == 0 ? 1 : 0;
      if (itf == 1) frame.erase(frame.begin(), frame.begin() + 14);  // no Ethernet header
      const std::uint64_t us = 1'700'000'000'000'000ull + i * 1000ull;
      block(6, {itf, static_cast<std::uint32_t>(us >> 32), static_cast<std::uint32_t>(us),
                static_cast<std::uint32_t>(frame.size()), static_cast<std::uint32_t>(frame.size())},
            frame);
      if (i % 100 == 0) block(5, {0, 0, 0}, {});  // interface statistics, skipped
    }
    std::fclose(f);
  }
  tapflow::drivers::PcapFileReader reader(path, true, 1 << 16);  // small: many refills
  std::array<tapflow::cache::PacketSummary, 256> batch;
  std::size_t decoded = 0;
  auto read_batch = [&] {
    return reader.read_batch(batch.size(), [&](const tapflow::drivers::Frame& frame) {
      decoded += tapflow::probe::decode_packet(frame.link_type, frame.data, frame.wire_length, frame.timestamp_ns,
                                               frame.ingress_interface, batch[0]) == tapflow::probe::DecodeVerdict::kOk;
    });
  };
  ASSERT_GT(read_batch(), 0u);
  const auto before = g_allocations.load();
  std::size_t records = 256;
  while (const std::size_t got = read_batch()) records += got;
  EXPECT_EQ(g_allocations.load() - before, 0u);
  EXPECT_EQ(records, 20'000u);
  EXPECT_EQ(decoded, 20'000u);
  EXPECT_TRUE(reader.error().empty()) << reader.error();
  EXPECT_TRUE(reader.reads_pcapng());
  std::filesystem::remove(path);
}

}  // namespace
