// Test support: reads a whole capture through drivers::PcapFileReader and keeps all it gave, for
// pcap_file_reader_test and fuzz_pcap_reader, which compare the direct path with libpcap. No
// GoogleTest here: the fuzz target links none.
#pragma once

#include <algorithm>
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
  std::vector<int> link_types;                    // each frame's
  std::vector<std::uint32_t> ingress_interface;  // each frame's
  int link_type = -1;
  bool link_type_steady = true;  // every frame carried the reader's link type
  bool pcapng = false;           // read by drivers::PcapngReader
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
  r.pcapng = reader->reads_pcapng();
  while (reader->read_batch(64, [&](const drivers::Frame& f) {
    r.data.emplace_back(f.data.begin(), f.data.end());
    r.wire_length.push_back(f.wire_length);
    r.timestamp_ns.push_back(f.timestamp_ns);
    r.link_types.push_back(f.link_type);
    r.ingress_interface.push_back(f.ingress_interface);
  }) != 0) {
  }
  r.link_type = reader->link_type();
  for (const int link_type : r.link_types) r.link_type_steady = r.link_type_steady && link_type == r.link_type;
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

// libpcap's numbering of a link type (a DLT_, see PcapFileReader) as the LINKTYPE_ a pcapng
// interface gives: they differ for a few historical values only.
inline int as_linktype(int link_type) {
  switch (link_type) {
    case 11: return 100;  // ATM RFC 1483
    case 12: return 101;  // raw IP
    case 15: return 102;  // SLIP BSD/OS
    case 16: return 103;  // PPP BSD/OS
    default: return link_type;
  }
}

// Link types whose pseudo-header (or length) libpcap rewrites, from a file of the other byte
// order (pcap-common.c swap_pseudo_headers, fixup_pcap_pkthdr): PFLOG, Linux cooked v1 and v2
// (CAN ids), USB, NFLOG. PcapngReader hands the bytes over as the file has them.
inline bool libpcap_rewrites(int link_type) {
  return link_type == 117 || link_type == 113 || link_type == 276 || link_type == 189 || link_type == 220 ||
         link_type == 239;
}

// A pcapng file as PcapngReader read it (`ours`) against libpcap alone: where libpcap read the
// whole file, the same frames, lengths, times and link types; where it refused the file or
// stopped at an error (interfaces of different link types or snapshot lengths, sections of
// different byte orders, a packet longer than the snapshot...), the same frames up to there.
// Interface ids are ours alone (libpcap gives none). Returns what differs, "" if nothing.
inline std::string pcapng_disagreement(const ReadBack& ours, const ReadBack& libpcap) {
  const bool libpcap_whole = libpcap.open_error.empty() && libpcap.error.empty();
  if (libpcap_whole && (!ours.open_error.empty() || !ours.error.empty())) {
    return "libpcap read it all, PcapngReader stopped: " + ours.open_error + ours.error;
  }
  if (libpcap_whole && ours.data.size() != libpcap.data.size()) return "not as many frames";
  // Where both find the file broken, each may stop first (libpcap checks no trailing length of
  // the first section header, PcapngReader does); where PcapngReader reads it all, it reads at
  // least what libpcap read.
  const bool ours_whole = ours.open_error.empty() && ours.error.empty();
  if (ours_whole && ours.data.size() < libpcap.data.size()) return "fewer frames than libpcap";
  for (std::size_t i = 0; i < std::min(libpcap.data.size(), ours.data.size()); ++i) {
    const std::string at = " differ at frame " + std::to_string(i);
    if (as_linktype(ours.link_types[i]) != as_linktype(libpcap.link_types[i])) return "link types" + at;
    if (ours.timestamp_ns[i] != libpcap.timestamp_ns[i]) return "times" + at;
    if (libpcap_rewrites(ours.link_types[i])) continue;
    if (ours.wire_length[i] != libpcap.wire_length[i]) return "wire lengths" + at;
    if (ours.data[i] != libpcap.data[i]) return "bytes" + at;
  }
  return "";
}

}  // namespace tapflow::test
