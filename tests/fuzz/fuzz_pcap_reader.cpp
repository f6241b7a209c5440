// libFuzzer target for the pcap file reader (drivers/pcap_file_reader.h): the input is a whole
// file, read by the direct path (which hands odd records to libpcap) with its default read size
// and with the smallest (one record of the snapshot length, so inputs of a few KiB refill), and
// once through libpcap alone. All must give the same frames, bytes, lengths, times, link type and
// error, and none may read out of bounds (ASan) or hit undefined behaviour (UBSan).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "drivers/pcap_file_reader.h"

namespace {

using tapflow::drivers::PcapFileReader;

struct Read {
  std::string open_error;
  std::vector<std::uint8_t> bytes;  // every frame's bytes, each after its length
  std::vector<std::uint64_t> meta;  // per frame: wire length, time
  int link_type = -1;
  std::string error;
};

Read read_all(const std::string& path, bool direct, std::size_t buffer) {
  Read r;
  std::optional<PcapFileReader> reader;
  try {
    reader.emplace(path, direct, buffer);
  } catch (const std::exception& e) {
    r.open_error = e.what();
    return r;
  }
  r.link_type = reader->link_type();
  while (reader->read_batch(16, [&](const tapflow::drivers::Frame& f) {
    const auto n = static_cast<std::uint32_t>(f.data.size());
    r.bytes.insert(r.bytes.end(), reinterpret_cast<const std::uint8_t*>(&n),
                   reinterpret_cast<const std::uint8_t*>(&n) + 4);
    r.bytes.insert(r.bytes.end(), f.data.begin(), f.data.end());
    r.meta.push_back(f.wire_length);
    r.meta.push_back(f.timestamp_ns);
    if (f.link_type != r.link_type) __builtin_trap();
  }) != 0) {
  }
  r.error = reader->error();
  if (!direct && reader->frames_read_directly() != 0) __builtin_trap();
  return r;
}

void compare(const Read& direct, const Read& libpcap) {
  if (direct.open_error == libpcap.open_error && direct.link_type == libpcap.link_type &&
      direct.error == libpcap.error && direct.meta == libpcap.meta && direct.bytes == libpcap.bytes) {
    return;
  }
  std::fprintf(stderr, "direct and libpcap differ:\n open '%s' / '%s'\n link %d / %d\n error '%s' / '%s'\n",
               direct.open_error.c_str(), libpcap.open_error.c_str(), direct.link_type, libpcap.link_type,
               direct.error.c_str(), libpcap.error.c_str());
  std::fprintf(stderr, " frames %zu / %zu, bytes %zu / %zu\n", direct.meta.size() / 2, libpcap.meta.size() / 2,
               direct.bytes.size(), libpcap.bytes.size());
  for (std::size_t i = 0; i < std::min(direct.meta.size(), libpcap.meta.size()); ++i) {
    if (direct.meta[i] != libpcap.meta[i]) {
      std::fprintf(stderr, " frame %zu: %s %llu / %llu\n", i / 2, i % 2 == 0 ? "wire length" : "time",
                   static_cast<unsigned long long>(direct.meta[i]), static_cast<unsigned long long>(libpcap.meta[i]));
      break;
    }
  }
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One in-memory file for the whole run, rewritten for each input; the reader opens it by path.
  static const int fd = memfd_create("fuzz_pcap_reader", MFD_CLOEXEC);
  if (fd < 0) __builtin_trap();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) __builtin_trap();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const Read libpcap = read_all(path, false, 0);
  compare(read_all(path, true, PcapFileReader::kDirectBufferSize), libpcap);
  compare(read_all(path, true, 1), libpcap);
  return 0;
}
