// Per-packet and per-record costs of the stages around the cache: decoding a frame and encoding a
// flow record as IPFIX.
#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <vector>

#include "exporter/ipfix/ipfix_encoder.h"
#include "probe/decode/decoder.h"

namespace {

// Ethernet + 802.1Q + IPv4 + TCP, and Ethernet + IPv6 + UDP: the common shapes on a mirror port.
std::vector<std::vector<std::uint8_t>> sample_frames() {
  std::vector<std::uint8_t> v4(14 + 4 + 20 + 20, 0);
  v4[12] = 0x81; v4[13] = 0x00; v4[14] = 0x00; v4[15] = 0x0a; v4[16] = 0x08; v4[17] = 0x00;
  std::uint8_t* ip = v4.data() + 18;
  ip[0] = 0x45; ip[2] = 0x05; ip[3] = 0xdc; ip[8] = 64; ip[9] = 6;
  ip[12] = 10; ip[15] = 1; ip[16] = 192; ip[17] = 0; ip[18] = 2; ip[19] = 1;
  ip[20] = 0x30; ip[21] = 0x39; ip[22] = 0x01; ip[23] = 0xbb; ip[32] = 0x50; ip[33] = 0x18;
  std::vector<std::uint8_t> v6(14 + 40 + 8, 0);
  v6[12] = 0x86; v6[13] = 0xdd;
  std::uint8_t* ip6 = v6.data() + 14;
  ip6[0] = 0x60; ip6[5] = 100; ip6[6] = 17; ip6[7] = 64; ip6[8] = 0x20; ip6[9] = 0x01; ip6[24] = 0x20;
  ip6[40] = 0x13; ip6[41] = 0x88; ip6[42] = 0x00; ip6[43] = 0x35;
  return {v4, v6};
}

void BM_DecodePacket(benchmark::State& state) {
  const auto frames = sample_frames();
  tapflow::cache::PacketSummary out;
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& f = frames[i++ & 1];
    benchmark::DoNotOptimize(tapflow::probe::decode_packet(tapflow::drivers::kLinkTypeEthernet, f,
                                                           static_cast<std::uint32_t>(f.size()), 1, 0, out));
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DecodePacket);

void BM_IpfixEncodeRecord(benchmark::State& state) {
  tapflow::exporter::IpfixEncoder encoder(1, 1472);
  tapflow::cache::FlowRecord record;
  record.key.ip_version = 4;
  record.key.source_address = {10, 0, 0, 1};
  record.key.destination_address = {192, 0, 2, 1};
  record.key.protocol = 6;
  record.packets = 10;
  record.octets = 5000;
  record.first_ns = 1'700'000'000'000'000'000ull;
  record.last_ns = record.first_ns + 1'000'000'000ull;
  encoder.begin_message(true);
  std::size_t bytes = 0;
  for (auto _ : state) {
    if (encoder.add_record(record) == tapflow::exporter::IpfixEncoder::AddResult::kMessageFull) {
      bytes += encoder.finish_message(1'700'000'000).size();
      encoder.begin_message(false);
      encoder.add_record(record);
    }
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_IpfixEncodeRecord);

}  // namespace
