// The pcap file reader parses classic pcap files itself (the direct path) and hands anything odd
// to libpcap: every capture shipped in tests/data (and ../shared/pcaps where present), and files
// built here to hit each hand-over, must read exactly as they do through libpcap alone: the same
// frames, bytes, lengths, times and link type, the same error at the same packet.
#include "drivers/pcap_file_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/pcap_read_back.h"

namespace tapflow::drivers {
namespace {

namespace fs = std::filesystem;

using Read = test::ReadBack;

Read read_all(const std::string& path, bool direct, std::size_t buffer = PcapFileReader::kDirectBufferSize) {
  Read r = test::read_back(path, direct, buffer);
  EXPECT_TRUE(r.link_type_steady || r.pcapng);  // pcapng: each interface its own
  EXPECT_EQ(r.frames_read, r.data.size());
  return r;
}

void expect_same(const Read& direct, const Read& libpcap) {
  EXPECT_EQ(direct.open_error, libpcap.open_error);
  EXPECT_EQ(direct.link_type, libpcap.link_type);
  EXPECT_EQ(direct.error, libpcap.error);
  EXPECT_EQ(direct.frames_read, libpcap.frames_read);
  EXPECT_EQ(direct.wire_length, libpcap.wire_length);
  EXPECT_EQ(direct.timestamp_ns, libpcap.timestamp_ns);
  EXPECT_TRUE(direct.data == libpcap.data) << "frame bytes differ";
}

bool is_pcapng(const std::string& path) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  return std::memcmp(magic, "\n\r\r\n", 4) == 0;
}

// Compares the direct path with libpcap on one file, with the default read size and with the
// smallest (one record of the snapshot length: nearly every record refills); returns the frames
// the direct path took.
// pcapng files go to PcapngReader, which must agree with libpcap wherever libpcap reads them
// (test::pcapng_disagreement), and read alike with both buffer sizes.
std::uint64_t expect_same_both_ways(const std::string& path) {
  SCOPED_TRACE(path);
  const Read libpcap = read_all(path, false);
  EXPECT_EQ(libpcap.direct_frames, 0u);
  const Read direct = read_all(path, true);
  const Read small = read_all(path, true, 1);
  if (!direct.open_error.empty() && is_pcapng(path)) {  // a bad first section: both refuse it
    EXPECT_NE(libpcap.open_error, "");
    EXPECT_EQ(small.open_error, direct.open_error);
    return 0;
  }
  if (direct.pcapng) {
    EXPECT_EQ(test::pcapng_disagreement(direct, libpcap), "");
    EXPECT_TRUE(test::same_reading(small, direct));
    EXPECT_EQ(small.ingress_interface, direct.ingress_interface);
    EXPECT_EQ(small.link_types, direct.link_types);
    EXPECT_EQ(direct.direct_frames, direct.frames_read);
    return direct.direct_frames;
  }
  expect_same(direct, libpcap);
  expect_same(small, libpcap);
  EXPECT_EQ(small.direct_frames, direct.direct_frames);
  return direct.direct_frames;
}

bool is_capture(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext != ".tsv" && ext != ".txt" && ext != ".md" && p.filename().string().find("LICENSE") == std::string::npos &&
         p.filename().string().find("COPYING") == std::string::npos;
}

std::uint64_t compare_tree(const fs::path& root, std::size_t& files) {
  std::uint64_t direct_frames = 0;
  if (!fs::is_directory(root)) return 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || !is_capture(entry.path())) continue;
    ++files;
    direct_frames += expect_same_both_ways(entry.path().string());
  }
  return direct_frames;
}

TEST(PcapFileReader, EveryShippedCaptureReadsTheSameDirectlyAsThroughLibpcap) {
  std::size_t files = 0;
  const std::uint64_t direct_frames = compare_tree(fs::path(TAPFLOW_TEST_DATA_DIR) / "pcaps", files);
  EXPECT_GT(files, 50u);
  EXPECT_GT(direct_frames, 1000u) << "the direct path took no frames";
}

TEST(PcapFileReader, TheSharedCapturesReadTheSameDirectlyAsThroughLibpcap) {
  const fs::path shared = fs::path(TAPFLOW_TEST_DATA_DIR) / ".." / ".." / ".." / "shared" / "pcaps";
  if (!fs::is_directory(shared)) GTEST_SKIP() << shared << " is absent";
  std::size_t files = 0;
  EXPECT_GT(compare_tree(shared, files), 1000u) << "the direct path took no frames";
  EXPECT_GT(files, 0u);
}

// Builds classic pcap files byte by byte.
class PcapWriter {
 public:
  PcapWriter(bool swapped, bool nanosecond, std::uint32_t snaplen, std::uint32_t link_type = 1,
             std::uint16_t minor_version = 4)
      : swapped_(swapped) {
    u32(nanosecond ? 0xa1b23c4du : 0xa1b2c3d4u);
    u16(2);
    u16(minor_version);
    u32(0);
    u32(0);
    u32(snaplen);
    u32(link_type);
  }
  void header_only(std::uint32_t sec, std::uint32_t caplen, std::uint32_t len) {
    u32(sec);
    u32(0);
    u32(caplen);
    u32(len);
  }
  void record(std::uint32_t sec, std::uint32_t sub, std::uint32_t caplen, std::uint32_t len, std::uint8_t fill) {
    u32(sec);
    u32(sub);
    u32(caplen);
    u32(len);
    for (std::uint32_t i = 0; i < caplen; ++i) bytes_.push_back(static_cast<std::uint8_t>(fill + i));
  }
  std::string save(const std::string& name, std::size_t cut = 0) const {
    const std::string path = (fs::temp_directory_path() / ("tapflow-reader-" + std::to_string(getpid()) + "-" + name)).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes_.data()), static_cast<std::streamsize>(bytes_.size() - cut));
    return path;
  }

 private:
  void u32(std::uint32_t v) {
    if (swapped_) v = __builtin_bswap32(v);
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + 4);
  }
  void u16(std::uint16_t v) {
    if (swapped_) v = __builtin_bswap16(v);
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + 2);
  }
  bool swapped_;
  std::vector<std::uint8_t> bytes_;
};

TEST(PcapFileReader, BothByteOrdersAndBothPrecisions) {
  for (const bool swapped : {false, true}) {
    for (const bool nano : {false, true}) {
      PcapWriter w(swapped, nano, 96);
      for (std::uint32_t i = 0; i < 100; ++i) w.record(1'700'000'000 + i, 999'999 - i, 20 + i % 77, 1500, static_cast<std::uint8_t>(i));
      const std::string path = w.save("orders");
      EXPECT_EQ(expect_same_both_ways(path), 100u);
      const Read r = read_all(path, true);
      ASSERT_EQ(r.frames_read, 100u);
      EXPECT_EQ(r.timestamp_ns[0], 1'700'000'000ull * 1'000'000'000ull + (nano ? 999'999ull : 999'999'000ull));
      EXPECT_EQ(r.wire_length[5], 1500u);
      EXPECT_EQ(r.data[5].size(), 25u);
      EXPECT_EQ(r.data[5][0], 5);
      EXPECT_TRUE(r.error.empty());
      fs::remove(path);
    }
  }
}

TEST(PcapFileReader, BogusFractionsAndLateSecondsReadTheSameBothWays) {
  // libpcap reads the fraction signed from a file in the host's order, unsigned from a swapped
  // one (found by fuzz_pcap_reader); seconds past 2038 are unsigned on both paths.
  for (const bool swapped : {false, true}) {
    for (const bool nano : {false, true}) {
      PcapWriter w(swapped, nano, 96);
      w.record(8204, 2'164'129'792u, 20, 20, 1);
      w.record(4'294'901'760u, 4'294'868'992u, 20, 20, 2);
      w.record(2'200'000'000u, 5, 20, 20, 3);
      const std::string path = w.save("fractions");
      EXPECT_EQ(expect_same_both_ways(path), 3u);
      EXPECT_EQ(read_all(path, true).timestamp_ns[2], 2'200'000'000ull * 1'000'000'000ull + (nano ? 5 : 5000));
      fs::remove(path);
    }
  }
}

TEST(PcapFileReader, RecordsAcrossTheReadBufferAndOneOfTheLargestSnapshot) {
  // More than the 4 MiB the direct path reads at a time, with records of every length up to
  // the largest snapshot straddling its refills.
  PcapWriter w(false, false, 262144);
  std::uint32_t n = 0;
  for (; n < 60'000; ++n) w.record(n, 0, 60 + (n * 37) % 200, 1514, static_cast<std::uint8_t>(n));
  w.record(n++, 0, 262144, 262144, 7);
  for (std::uint32_t i = 0; i < 20'000; ++i, ++n) w.record(n, 0, (n * 131) % 4000, 9000, static_cast<std::uint8_t>(n));
  w.record(n++, 0, 262144, 300000, 9);
  const std::string path = w.save("large");
  EXPECT_EQ(expect_same_both_ways(path), n);
  fs::remove(path);
}

TEST(PcapFileReader, TruncatedFilesFailAtTheSamePacketWithLibpcapsMessage) {
  PcapWriter w(false, false, 96);
  for (std::uint32_t i = 0; i < 10; ++i) w.record(i, 0, 80, 80, 0);
  for (const std::size_t cut : {1, 40, 79, 80, 81, 95}) {  // inside the data, inside the header
    const std::string path = w.save("cut" + std::to_string(cut), cut);
    SCOPED_TRACE(cut);
    EXPECT_EQ(expect_same_both_ways(path), 9u);
    const Read r = read_all(path, true);
    EXPECT_EQ(r.frames_read, 9u);
    EXPECT_NE(r.error.find("truncated"), std::string::npos) << r.error;
    fs::remove(path);
  }
  // Cut exactly at a record boundary: a clean end.
  const std::string whole = w.save("boundary", 96);
  EXPECT_EQ(expect_same_both_ways(whole), 9u);
  EXPECT_TRUE(read_all(whole, true).error.empty());
  fs::remove(whole);
}

TEST(PcapFileReader, ARecordLongerThanTheSnapshotGoesToLibpcapAndTheDirectPathResumes) {
  PcapWriter w(false, false, 64);
  w.record(1, 0, 60, 60, 1);
  w.record(2, 0, 100, 100, 2);  // libpcap keeps its first 64 bytes
  for (std::uint32_t i = 3; i < 1000; ++i) w.record(i, 0, 20 + i % 40, 60, static_cast<std::uint8_t>(i));
  const std::string path = w.save("long");
  EXPECT_EQ(expect_same_both_ways(path), 998u);  // all but the long one
  const Read r = read_all(path, true);
  ASSERT_EQ(r.frames_read, 999u);
  EXPECT_EQ(r.data[1].size(), 64u);
  EXPECT_EQ(r.wire_length[1], 100u);
  fs::remove(path);

  PcapWriter bogus(false, false, 96);
  bogus.record(1, 0, 60, 60, 1);
  bogus.header_only(2, 0x7fffffff, 60);  // a corrupt length: libpcap's error, not a huge read
  bogus.record(3, 0, 60, 60, 3);
  const std::string bad = bogus.save("bogus");
  EXPECT_EQ(expect_same_both_ways(bad), 1u);
  EXPECT_FALSE(read_all(bad, true).error.empty());
  fs::remove(bad);
}

TEST(PcapFileReader, OtherLinkTypesAndOldVersionsStayWithLibpcap) {
  PcapWriter sll(false, false, 96, 113);  // Linux cooked: libpcap may rewrite its header
  for (std::uint32_t i = 0; i < 5; ++i) sll.record(i, 0, 40, 40, 0);
  const std::string path = sll.save("sll");
  EXPECT_EQ(expect_same_both_ways(path), 0u);
  EXPECT_EQ(read_all(path, true).frames_read, 5u);
  fs::remove(path);
  // Versions 2.2 and 2.3: libpcap swaps the two lengths of some records (caplen > len).
  for (const std::uint16_t minor : {2, 3}) {
    PcapWriter old(false, false, 96, 1, minor);
    old.record(1, 0, 60, 40, 1);
    old.record(2, 0, 40, 60, 2);
    const std::string old_path = old.save("v2." + std::to_string(minor));
    EXPECT_EQ(expect_same_both_ways(old_path), 0u);
    fs::remove(old_path);
  }
}

TEST(PcapFileReader, AHugeSnapshotInTheHeaderIsLibpcapsLargest) {
  // libpcap takes a snapshot length of 0 as 256 KiB, and keeps a larger one but refuses records
  // past 256 KiB: the direct path reads records up to 256 KiB and hands the rest over.
  for (const std::uint32_t snaplen : {0u, 0x7fffffffu}) {
    PcapWriter w(false, false, snaplen);
    for (std::uint32_t i = 0; i < 50; ++i) w.record(i, 0, 1000 + i * 100, 9000, static_cast<std::uint8_t>(i));
    w.record(50, 0, 262144, 262144, 50);
    w.record(51, 0, 262145, 262145, 51);  // libpcap: "invalid packet capture length"
    const std::string path = w.save("snap" + std::to_string(snaplen));
    EXPECT_EQ(expect_same_both_ways(path), 51u);
    EXPECT_FALSE(read_all(path, true).error.empty());
    fs::remove(path);
  }
}

}  // namespace
}  // namespace tapflow::drivers
