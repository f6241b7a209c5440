// libFuzzer target for the packet decoder (probe/decode/decoder.h). The first input byte picks one of the
// link types decode_packet supports, the rest is the frame; the decoder must never read past the
// frame (ASan) nor hit undefined behaviour (UBSan), whatever the bytes. Every input is decoded
// twice: as without --decap, and with every --decap encapsulation on (--decap all), which must
// give the same verdict and key whenever the frame holds no tunnel it decapsulated; then both
// again filling extras (--key, --fields), which must never change the verdict or the summary.
#include <cstddef>
#include <cstdint>
#include <span>

#include "cache/packet_summary.h"
#include "probe/decode/decoder.h"

namespace {

// Every link type the decoder accepts, plus one it must reject (the last).
constexpr int kLinkTypes[] = {
    tapflow::drivers::kLinkTypeNull,     tapflow::drivers::kLinkTypeEthernet,
    tapflow::drivers::kLinkTypeRawAlt12, tapflow::drivers::kLinkTypeRawAlt14,
    tapflow::drivers::kLinkTypeRaw,      tapflow::drivers::kLinkTypeLoop,
    tapflow::drivers::kLinkTypeLinuxSll, tapflow::drivers::kLinkTypeIpv4,
    tapflow::drivers::kLinkTypeIpv6,     tapflow::drivers::kLinkTypeLinuxSll2,
    147,  // LINKTYPE_USER0: unsupported
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int link_type = kLinkTypes[data[0] % std::size(kLinkTypes)];
  const std::span<const std::uint8_t> frame(data + 1, size - 1);
  tapflow::cache::PacketSummary summary{};
  // The wire length is at least the captured length; vary it so the octet capping is exercised.
  const auto caplen = static_cast<std::uint32_t>(frame.size());
  const std::uint32_t wire_length = (data[0] & 0x80) != 0 ? caplen + 1000 : caplen;
  const auto verdict = tapflow::probe::decode_packet(link_type, frame, wire_length,
                                                     1'700'000'000'000'000'000ull, 1, summary);
  // Names exist for every verdict the decoder can return.
  if (tapflow::probe::to_string(verdict).empty() || tapflow::probe::to_key(verdict).empty()) {
    __builtin_trap();
  }
  tapflow::cache::PacketSummary inner{};
  const auto decap_verdict = tapflow::probe::decode_packet(
      link_type, frame, wire_length, 1'700'000'000'000'000'000ull, 1,
      tapflow::probe::DecodeOptions{tapflow::probe::kDecapAll}, inner);
  if (tapflow::probe::to_string(decap_verdict).empty() || tapflow::probe::to_key(decap_verdict).empty()) {
    __builtin_trap();
  }
  // Nothing decapsulated: exactly the default decode.
  if (decap_verdict == tapflow::probe::DecodeVerdict::kOk && inner.key.tunnel_type == 0 &&
      (verdict != decap_verdict || !(inner.key == summary.key) || inner.octets != summary.octets)) {
    __builtin_trap();
  }
  for (const std::uint16_t decap : {std::uint16_t{0}, std::uint16_t{tapflow::probe::kDecapAll}}) {
    tapflow::probe::DecodeOptions options{decap};
    options.extras = true;
    tapflow::cache::PacketSummary with{};
    tapflow::cache::PacketExtras extras{};
    const auto extras_verdict = tapflow::probe::decode_packet(link_type, frame, wire_length,
                                                              1'700'000'000'000'000'000ull, 1, options, with, extras);
    const auto& plain = decap == 0 ? summary : inner;
    const auto plain_verdict = decap == 0 ? verdict : decap_verdict;
    if (extras_verdict != plain_verdict ||
        (extras_verdict == tapflow::probe::DecodeVerdict::kOk && (!(with.key == plain.key) || with.octets != plain.octets))) {
      __builtin_trap();
    }
  }
  return 0;
}
