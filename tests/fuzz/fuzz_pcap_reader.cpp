// libFuzzer target for the pcap file reader (drivers/pcap_file_reader.h): the input is a whole
// file, read by the direct path (which hands odd records to libpcap) with its default read size
// and with the smallest (one record of the snapshot length, so inputs of a few KiB refill), and
// once through libpcap alone. All must give the same frames, bytes, lengths, times, link type and
// error, and none may read out of bounds (ASan) or hit undefined behaviour (UBSan). A pcapng
// input goes to PcapngReader, which must agree with libpcap as far as libpcap reads it
// (test::pcapng_disagreement) and read alike with both read sizes.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "drivers/pcap_file_reader.h"
#include "tests/support/pcap_read_back.h"

namespace {

using tapflow::drivers::PcapFileReader;
using tapflow::test::ReadBack;

void compare(const ReadBack& direct, const ReadBack& libpcap) {
  if (direct.link_type_steady && tapflow::test::same_reading(direct, libpcap)) return;
  std::fprintf(stderr, "direct and libpcap differ:\n open '%s' / '%s'\n link %d / %d%s\n error '%s' / '%s'\n",
               direct.open_error.c_str(), libpcap.open_error.c_str(), direct.link_type, libpcap.link_type,
               direct.link_type_steady ? "" : " (changed mid-file)", direct.error.c_str(), libpcap.error.c_str());
  std::fprintf(stderr, " frames %zu / %zu\n", direct.data.size(), libpcap.data.size());
  for (std::size_t i = 0; i < std::min(direct.data.size(), libpcap.data.size()); ++i) {
    if (direct.wire_length[i] != libpcap.wire_length[i] || direct.timestamp_ns[i] != libpcap.timestamp_ns[i] ||
        direct.data[i] != libpcap.data[i]) {
      std::fprintf(stderr, " frame %zu: wire length %u / %u, time %llu / %llu, %zu / %zu bytes\n", i,
                   direct.wire_length[i], libpcap.wire_length[i],
                   static_cast<unsigned long long>(direct.timestamp_ns[i]),
                   static_cast<unsigned long long>(libpcap.timestamp_ns[i]), direct.data[i].size(),
                   libpcap.data[i].size());
      break;
    }
  }
  __builtin_trap();
}

void compare_pcapng(const ReadBack& ours, const ReadBack& small, const ReadBack& libpcap) {
  const std::string disagreement = tapflow::test::pcapng_disagreement(ours, libpcap);
  if (disagreement.empty() && tapflow::test::same_reading(ours, small) && ours.link_types == small.link_types &&
      ours.ingress_interface == small.ingress_interface) {
    return;
  }
  std::fprintf(stderr, "pcapng: %s; open '%s' / '%s', error '%s' / '%s', %zu / %zu frames (small reads: %zu, '%s')\n",
               disagreement.c_str(), ours.open_error.c_str(), libpcap.open_error.c_str(), ours.error.c_str(),
               libpcap.error.c_str(), ours.data.size(), libpcap.data.size(), small.data.size(), small.error.c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One in-memory file for the whole run, rewritten for each input; the reader opens it by path.
  static const int fd = memfd_create("fuzz_pcap_reader", MFD_CLOEXEC);
  if (fd < 0) __builtin_trap();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) __builtin_trap();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ReadBack libpcap = tapflow::test::read_back(path, false, 0);
  if (libpcap.direct_frames != 0 || !libpcap.link_type_steady) __builtin_trap();
  const ReadBack direct = tapflow::test::read_back(path, true, PcapFileReader::kDirectBufferSize);
  const ReadBack small = tapflow::test::read_back(path, true, 1);
  if (size >= 4 && std::memcmp(data, "\n\r\r\n", 4) == 0) {
    compare_pcapng(direct, small, libpcap);
    return 0;
  }
  compare(direct, libpcap);
  compare(small, libpcap);
  return 0;
}
