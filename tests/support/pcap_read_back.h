// Test support: reads a whole capture through drivers::PcapFileReader and keeps all it gave, for
// pcap_file_reader_test and fuzz_pcap_reader, which compare the direct path with libpcap. No
// GoogleTest here: the fuzz target links none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drivers/pcap_file_reader.h"

namespace tapflow::test {

struct ReadBack {
  std::string open_error;  // the constructor's message, if it threw
  std::vector<std::vector<std::uint8_t>> data;
  std::vector<std::uint32_t> wire_length;
  std::vector<std::uint64_t> timestamp_ns;
  int link_type = -1;
  bool link_type_steady = true;  // every frame carried the reader's link type
  std::string error;
  std::uint64_t frames_read = 0;
  std::uint64_t direct_frames = 0;
};

inline ReadBack read_back(const std::string& path, bool direct,
                          std::size_t buffer = drivers::PcapFileReader::kDirectBufferSize) {
  ReadBack r;
  std::optional<drivers::PcapFileReader> reader;
  try {
    reader.emplace(path, direct, buffer);
  } catch (const std::exception& e) {
    r.open_error = e.what();
    return r;
  }
  r.link_type = reader->link_type();
  while (reader->read_batch(64, [&](const drivers::Frame& f) {
    r.data.emplace_back(f.data.begin(), f.data.end());
    r.wire_length.push_back(f.wire_length);
    r.timestamp_ns.push_back(f.timestamp_ns);
    r.link_type_steady = r.link_type_steady && f.link_type == r.link_type;
  }) != 0) {
  }
  r.error = reader->error();
  r.frames_read = reader->frames_read();
  r.direct_frames = reader->frames_read_directly();
  return r;
}

// Everything but which path read the frames.
inline bool same_reading(const ReadBack& a, const ReadBack& b) {
  return a.open_error == b.open_error && a.link_type == b.link_type && a.error == b.error &&
         a.frames_read == b.frames_read && a.wire_length == b.wire_length && a.timestamp_ns == b.timestamp_ns &&
         a.data == b.data;
}

}  // namespace tapflow::test
