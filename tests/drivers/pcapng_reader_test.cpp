// The pcapng reader (drivers/pcapng_reader.h, through PcapFileReader as the program uses it) on
// files built here block by block: interfaces of different link types and snapshot lengths,
// both byte orders, several sections, time resolutions, every packet block kind, skipped blocks,
// and broken files, each of which ends with one line and no crash. Then the shipped pcapng
// captures: as many packets as tshark counts (INDEX.tsv), each on its interface.
#include "drivers/pcapng_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "drivers/pcap_file_reader.h"
#include "tests/support/pcap_read_back.h"

namespace tapflow::drivers {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// Builds pcapng blocks in one byte order (swapped = the other one than the host's).
class PcapngWriter {
 public:
  explicit PcapngWriter(bool swapped = false) : swapped_(swapped) {}

  PcapngWriter& section(std::uint16_t major = 1, std::uint16_t minor = 0) {
    Bytes body;
    put32(body, 0x1A2B3C4Du);
    put16(body, major);
    put16(body, minor);
    put32(body, 0xffffffffu);  // section length -1: not given
    put32(body, 0xffffffffu);
    return block(0x0A0D0D0Au, body);
  }
  // options: already encoded (see option()).
  PcapngWriter& interface(std::uint16_t link_type, std::uint32_t snaplen,
                          const Bytes& options = {}) {
    Bytes body;
    put16(body, link_type);
    put16(body, 0);
    put32(body, snaplen);
    body.insert(body.end(), options.begin(), options.end());
    return block(1, body);
  }
  Bytes option(std::uint16_t code, const Bytes& value) const {
    Bytes o;
    put16(o, code);
    put16(o, static_cast<std::uint16_t>(value.size()));
    o.insert(o.end(), value.begin(), value.end());
    while (o.size() % 4 != 0) o.push_back(0);
    return o;
  }
  Bytes offset_option(std::int64_t seconds) const {
    Bytes v(8);
    std::uint64_t raw = static_cast<std::uint64_t>(seconds);
    if (swapped_) raw = __builtin_bswap64(raw);
    std::memcpy(v.data(), &raw, 8);
    return option(14, v);
  }
  PcapngWriter& enhanced(std::uint32_t interface_id, std::uint64_t units, const Bytes& data,
                         std::uint32_t wire_length = 0) {
    Bytes body;
    put32(body, interface_id);
    put32(body, static_cast<std::uint32_t>(units >> 32));
    put32(body, static_cast<std::uint32_t>(units));
    put32(body, static_cast<std::uint32_t>(data.size()));
    put32(body, wire_length != 0 ? wire_length : static_cast<std::uint32_t>(data.size()));
    body.insert(body.end(), data.begin(), data.end());
    return block(6, body);
  }
  PcapngWriter& simple(std::uint32_t wire_length, const Bytes& data) {
    Bytes body;
    put32(body, wire_length);
    body.insert(body.end(), data.begin(), data.end());
    return block(3, body);
  }
  PcapngWriter& obsolete_packet(std::uint16_t interface_id, std::uint64_t units,
                                const Bytes& data) {
    Bytes body;
    put16(body, interface_id);
    put16(body, 0);  // drops
    put32(body, static_cast<std::uint32_t>(units >> 32));
    put32(body, static_cast<std::uint32_t>(units));
    put32(body, static_cast<std::uint32_t>(data.size()));
    put32(body, static_cast<std::uint32_t>(data.size()));
    body.insert(body.end(), data.begin(), data.end());
    return block(2, body);
  }
  // Any block: its body padded to 4 bytes, the lengths around it.
  PcapngWriter& block(std::uint32_t type, Bytes body) {
    while (body.size() % 4 != 0) body.push_back(0);
    const auto length = static_cast<std::uint32_t>(body.size() + 12);
    put32(bytes_, type);
    put32(bytes_, length);
    bytes_.insert(bytes_.end(), body.begin(), body.end());
    put32(bytes_, length);
    return *this;
  }
  PcapngWriter& raw(const Bytes& b) {
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  void put16(Bytes& b, std::uint16_t v) const {
    if (swapped_) v = __builtin_bswap16(v);
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    b.insert(b.end(), p, p + 2);
  }
  void put32(Bytes& b, std::uint32_t v) const {
    if (swapped_) v = __builtin_bswap32(v);
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    b.insert(b.end(), p, p + 4);
  }
  Bytes u32(std::uint32_t v) const {
    Bytes b;
    put32(b, v);
    return b;
  }
  // Another writer's blocks after these (a section of the other byte order).
  PcapngWriter& append(const PcapngWriter& other) { return raw(other.bytes_); }
  const Bytes& bytes() const { return bytes_; }
  std::size_t size() const { return bytes_.size(); }

 private:
  bool swapped_;
  Bytes bytes_;
};

std::string save(const Bytes& bytes, const std::string& name, std::size_t cut = 0) {
  const std::string path =
      (fs::temp_directory_path() / ("tapflow-pcapng-" + std::to_string(getpid()) + "-" + name))
          .string();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size() - cut));
  return path;
}

Bytes frame_bytes(std::size_t n, std::uint8_t fill) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(fill + i);
  return b;
}

// Reads with the default buffer and the smallest (a refill for nearly every block): both alike.
test::ReadBack read(const std::string& path) {
  test::ReadBack r = test::read_back(path, true);
  const test::ReadBack small = test::read_back(path, true, 1);
  EXPECT_TRUE(test::same_reading(r, small)) << path;
  EXPECT_EQ(r.link_types, small.link_types);
  EXPECT_EQ(r.ingress_interface, small.ingress_interface);
  EXPECT_EQ(r.frames_read, r.data.size());
  return r;
}

constexpr std::uint64_t kSecond = 1'000'000'000;

PcapngWriter two_interfaces(bool swapped) {
  PcapngWriter w(swapped);
  w.section().interface(1, 96).interface(228, 65535, w.option(9, {9}));  // Ethernet; raw IPv4 in ns
  w.enhanced(0, 1'700'000'000ull * 1'000'000 + 5, frame_bytes(96, 1), 1514);
  w.enhanced(1, 1'700'000'001ull * kSecond + 7, frame_bytes(200, 2));
  w.enhanced(0, 1'700'000'002ull * 1'000'000, frame_bytes(60, 3));
  return w;
}

void expect_two_interfaces(const test::ReadBack& r) {
  EXPECT_TRUE(r.pcapng);
  EXPECT_EQ(r.error, "");
  ASSERT_EQ(r.data.size(), 3u);
  EXPECT_EQ(r.link_types, (std::vector<int>{1, 228, 1}));
  EXPECT_EQ(r.ingress_interface, (std::vector<std::uint32_t>{0, 1, 0}));
  EXPECT_EQ(r.timestamp_ns,
            (std::vector<std::uint64_t>{1'700'000'000 * kSecond + 5000, 1'700'000'001 * kSecond + 7,
                                        1'700'000'002 * kSecond}));
  EXPECT_EQ(r.data[0], frame_bytes(96, 1));
  EXPECT_EQ(r.wire_length[0], 1514u);
  EXPECT_EQ(r.data[1], frame_bytes(200, 2));  // longer than the first interface's snapshot
  EXPECT_EQ(r.link_type, 1);
}

TEST(PcapngReader, InterfacesOfDifferentLinkTypesAndSnapshotLengths) {
  const std::string path = save(two_interfaces(false).bytes(), "two");
  expect_two_interfaces(read(path));
  // What libpcap says of it, and why PcapngReader exists.
  const test::ReadBack libpcap = test::read_back(path, false);
  EXPECT_NE(libpcap.open_error + libpcap.error, "");
  fs::remove(path);
}

TEST(PcapngReader, ABigEndianSectionReadsTheSame) {
  const std::string path = save(two_interfaces(true).bytes(), "swapped");
  expect_two_interfaces(read(path));
  fs::remove(path);
}

TEST(PcapngReader, SectionsOfEitherByteOrderEachWithItsOwnInterfaces) {
  PcapngWriter first(false);
  first.section().interface(1, 0).enhanced(0, 1'000'000, frame_bytes(60, 1));
  PcapngWriter second(true);
  second.section().interface(101, 128).interface(1, 64).enhanced(0, 2'000'000, frame_bytes(40, 2));
  second.enhanced(1, 3'000'000, frame_bytes(64, 3));
  PcapngWriter third(false);
  third.section(1, 2).interface(0, 0).enhanced(0, 4'000'000, frame_bytes(44, 4));
  first.append(second).append(third);
  const std::string path = save(first.bytes(), "sections");
  const test::ReadBack r = read(path);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.link_types, (std::vector<int>{1, 101, 1, 0}));
  // Interface ids count from 0 in each section (as tshark's frame.interface_id).
  EXPECT_EQ(r.ingress_interface, (std::vector<std::uint32_t>{0, 0, 1, 0}));
  EXPECT_EQ(r.timestamp_ns,
            (std::vector<std::uint64_t>{kSecond, 2 * kSecond, 3 * kSecond, 4 * kSecond}));
  EXPECT_EQ(r.data[2], frame_bytes(64, 3));
  // An interface of the first section is unknown in the next.
  PcapngWriter again(false);
  again.section().interface(1, 0).interface(1, 0).section().interface(1, 0).enhanced(
      1, 0, frame_bytes(20, 0));
  const std::string unknown = save(again.bytes(), "unknown-after-section");
  const test::ReadBack u = read(unknown);
  EXPECT_EQ(u.data.size(), 0u);
  EXPECT_NE(u.error.find("a packet on interface 1, but the section describes 1"), std::string::npos)
      << u.error;
  fs::remove(path);
  fs::remove(unknown);
}

TEST(PcapngReader, TimeResolutionsAndOffsets) {
  PcapngWriter w;
  w.section();
  w.interface(1, 0);                            // 0: the default, microseconds
  w.interface(1, 0, w.option(9, {9}));          // 1: 10^-9
  w.interface(1, 0, w.option(9, {0x80 | 20}));  // 2: 2^-20
  w.interface(1, 0, w.option(9, {3}));          // 3: milliseconds
  Bytes both = w.option(9, {12});               // 4: picoseconds, 100 s later
  const Bytes offset = w.offset_option(100);
  both.insert(both.end(), offset.begin(), offset.end());
  w.interface(1, 0, both);
  w.interface(1, 0, w.offset_option(-10));  // 5: before 1970: pinned to 0
  w.interface(1, 0, w.option(9, {0}));      // 6: whole seconds
  w.enhanced(0, 5'250'000, frame_bytes(20, 0));
  w.enhanced(1, 5'000'000'123, frame_bytes(20, 0));
  w.enhanced(2, (5ull << 20) | (1ull << 19), frame_bytes(20, 0));  // 5.5 s
  w.enhanced(3, 5'001, frame_bytes(20, 0));
  w.enhanced(4, 5'000'000'000'999ull, frame_bytes(20, 0));
  w.enhanced(5, 3'000'000, frame_bytes(20, 0));
  w.enhanced(6, 1'700'000'000, frame_bytes(20, 0));
  const std::string path = save(w.bytes(), "times");
  const test::ReadBack r = read(path);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.timestamp_ns,
            (std::vector<std::uint64_t>{5'250'000'000, 5'000'000'123, 5'500'000'000, 5'001'000'000,
                                        105 * kSecond, 0, 1'700'000'000 * kSecond}));
  // libpcap reads this file too (one link type, one snapshot length): the same times.
  EXPECT_EQ(test::pcapng_disagreement(r, test::read_back(path, false)), "");
  fs::remove(path);
}

TEST(PcapngReader, SimpleAndObsoletePacketBlocks) {
  PcapngWriter w;
  w.section().interface(1, 64, w.offset_option(7)).interface(101, 0);
  w.simple(60, frame_bytes(60, 1));    // under the snapshot: all of it
  w.simple(1514, frame_bytes(64, 2));  // cut to the 64-byte snapshot
  w.obsolete_packet(1, 9'000'000, frame_bytes(30, 3));
  w.simple(100, frame_bytes(40, 4));  // claims 64 bytes, the block holds 40
  const std::string path = save(w.bytes(), "simple");
  const test::ReadBack r = read(path);
  ASSERT_EQ(r.data.size(), 3u);
  EXPECT_EQ(r.data[0], frame_bytes(60, 1));
  EXPECT_EQ(r.data[1], frame_bytes(64, 2));
  EXPECT_EQ(r.wire_length[1], 1514u);
  EXPECT_EQ(r.timestamp_ns[0], 7 * kSecond);  // no time: the interface's offset alone
  EXPECT_EQ(r.link_types, (std::vector<int>{1, 1, 101}));
  EXPECT_EQ(r.ingress_interface, (std::vector<std::uint32_t>{0, 0, 1}));
  EXPECT_EQ(r.timestamp_ns[2], 9 * kSecond);
  EXPECT_NE(r.error.find("64 captured bytes in a block with room for 40"), std::string::npos)
      << r.error;
  fs::remove(path);
}

TEST(PcapngReader, OtherBlocksAreSkippedWhateverTheirLength) {
  PcapngWriter w;
  w.section();
  w.block(4, frame_bytes(30, 0));  // name resolution before the interface
  w.interface(1, 0);
  w.block(0xBAD, frame_bytes(7, 0));  // custom, copyable
  w.enhanced(0, 1, frame_bytes(60, 1));
  w.block(5, frame_bytes(20, 0));             // interface statistics
  w.block(0x0A, frame_bytes(100, 0));         // decryption secrets
  w.block(0x40000BAD, frame_bytes(5000, 0));  // custom, larger than the small reads
  w.block(0x12345678, {});                    // unknown, empty
  w.enhanced(0, 2, frame_bytes(60, 2));
  const std::string path = save(w.bytes(), "skipped");
  const test::ReadBack r = read(path);
  EXPECT_EQ(r.error, "");
  ASSERT_EQ(r.data.size(), 2u);
  EXPECT_EQ(r.data[1], frame_bytes(60, 2));
  fs::remove(path);
}

// Each broken file: the frames before the break, then one line naming it; never a crash.
struct Broken {
  const char* name;
  Bytes tail;           // blocks after a section with one Ethernet interface and one packet
  const char* message;  // part of error()
};

TEST(PcapngReader, BrokenBlocksEndTheFileWithOneLine) {
  const auto tail = [&](auto&& build) {
    PcapngWriter t;
    build(t);
    return t.bytes();
  };
  const std::vector<Broken> cases = {
      {"short", tail([](PcapngWriter& t) { t.raw(t.u32(6)).raw(t.u32(8)).raw(t.u32(8)); }),
       "has a length of 8 (< 12)"},
      {"odd", tail([](PcapngWriter& t) { t.raw(t.u32(6)).raw(t.u32(13)).raw(Bytes(9)); }),
       "not a multiple of 4"},
      {"trailer", tail([](PcapngWriter& t) {
         t.raw(t.u32(0xBAD)).raw(t.u32(16)).raw(t.u32(0)).raw(t.u32(20));
       }),
       "has a length of 16 at its start and 20 at its end"},
      {"past-end", tail([](PcapngWriter& t) { t.raw(t.u32(6)).raw(t.u32(4096)).raw(Bytes(40)); }),
       "truncated file: block of type 0x6"},
      {"huge-skipped",
       tail([](PcapngWriter& t) { t.raw(t.u32(0xBAD)).raw(t.u32(0xfffffff0u)).raw(Bytes(40)); }),
       "has a length of 4294967280, 100 bytes are left"},
      {"interface", tail([](PcapngWriter& t) { t.enhanced(3, 0, frame_bytes(20, 0)); }),
       "a packet on interface 3, but the section describes 1"},
      {"caplen", tail([](PcapngWriter& t) {
         Bytes body = t.u32(0);
         for (const std::uint32_t v : {0u, 0u, 1000u, 1000u}) {
           const Bytes f = t.u32(v);
           body.insert(body.end(), f.begin(), f.end());
         }
         body.resize(body.size() + 16);
         t.block(6, body);
       }),
       "1000 captured bytes in a block with room for 16"},
      {"epb-short", tail([](PcapngWriter& t) { t.block(6, Bytes(8)); }),
       "too short for a packet block"},
      {"option", tail([&](PcapngWriter& t) {
         t.interface(1, 0, t.option(9, {9, 9}));
       }),
       "if_tsresol has a length of 2"},
      {"option-past", tail([](PcapngWriter& t) {
         Bytes o;
         t.put16(o, 2);
         t.put16(o, 200);
         t.interface(1, 0, o);
       }),
       "option 2 of 200 bytes runs past the block"},
      {"resolution", tail([&](PcapngWriter& t) { t.interface(1, 0, t.option(9, {20})); }),
       "10^-20 is finer"},
      {"version", tail([](PcapngWriter& t) { t.section(2, 0); }), "unsupported pcapng version 2.0"},
      {"magic", tail([](PcapngWriter& t) {
         t.raw(t.u32(0x0A0D0D0A)).raw(t.u32(28)).raw(t.u32(0x11223344)).raw(Bytes(16));
       }),
       "bad byte-order magic"},
      {"header", Bytes{1, 0, 0}, "truncated block header"},
  };
  for (const Broken& c : cases) {
    SCOPED_TRACE(c.name);
    PcapngWriter f;
    f.section().interface(1, 0).enhanced(0, 0, frame_bytes(20, 9)).raw(c.tail);
    if (std::string(c.name) != "header") f.enhanced(0, 0, frame_bytes(20, 9));  // never reached
    const std::string path = save(f.bytes(), c.name);
    const test::ReadBack r = read(path);
    EXPECT_EQ(r.open_error, "");
    EXPECT_EQ(r.data.size(), 1u);
    EXPECT_NE(r.error.find(c.message), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find('\n'), std::string::npos);
    fs::remove(path);
  }
}

TEST(PcapngReader, ABadFirstSectionIsAnOpenError) {
  PcapngWriter w;
  w.section(0, 1).interface(1, 0);
  const std::string path = save(w.bytes(), "first");
  const test::ReadBack r = test::read_back(path, true);
  EXPECT_NE(r.open_error.find("unsupported pcapng version 0.1"), std::string::npos) << r.open_error;
  EXPECT_NE(r.open_error.find("cannot read '"), std::string::npos) << r.open_error;
  fs::remove(path);
}

TEST(PcapngReader, CutAtEveryOffset) {
  PcapngWriter w;
  w.section().interface(1, 0).block(0xBAD, frame_bytes(10, 0)).interface(101, 64, w.option(9, {9}));
  for (std::uint32_t i = 0; i < 6; ++i)
    w.enhanced(i % 2, i, frame_bytes(30 + i, static_cast<std::uint8_t>(i)));
  w.simple(60, frame_bytes(60, 7));
  const Bytes whole = w.bytes();
  const std::string full_path = save(whole, "whole");
  const test::ReadBack full = read(full_path);
  ASSERT_EQ(full.data.size(), 7u);
  fs::remove(full_path);
  for (std::size_t cut = 1; cut + 28 <= whole.size(); ++cut) {
    const std::string path = save(whole, "cut", cut);
    const test::ReadBack r = read(path);
    ASSERT_LE(r.data.size(), full.data.size());
    for (std::size_t i = 0; i < r.data.size(); ++i) EXPECT_EQ(r.data[i], full.data[i]);
    if (r.error.empty()) {
      EXPECT_EQ(r.open_error, "");  // cut at a block boundary: a clean, shorter file
    } else {
      EXPECT_NE(r.error.find("truncated"), std::string::npos) << cut << ": " << r.error;
    }
    fs::remove(path);
  }
}

// The pcapng captures of tests/data (and ../shared/pcaps where present): every packet block
// tshark counts (INDEX.tsv's packets column), none rejected by the reader.
void expect_index_counts(const fs::path& root) {
  std::ifstream index(root / "INDEX.tsv");
  std::string line;
  std::size_t files = 0;
  while (std::getline(index, line)) {
    std::istringstream fields(line);
    std::string file, link, packets, features;
    std::getline(fields, file, '\t');
    std::getline(fields, link, '\t');
    std::getline(fields, packets, '\t');
    std::getline(fields, features, '\t');
    if (features.find("pcapng") == std::string::npos ||
        features.find("tshark-unreadable") != std::string::npos)
      continue;
    SCOPED_TRACE(file);
    const test::ReadBack r = read((root / file).string());
    EXPECT_EQ(r.open_error, "");
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.frames_read, std::stoull(packets));
    ++files;
  }
  EXPECT_GE(files, 9u);
}

TEST(PcapngReader, ShippedCapturesReadEveryPacketTsharkCounts) {
  expect_index_counts(fs::path(TAPFLOW_TEST_DATA_DIR) / "pcaps");
  // The ldap capture: 126 interfaces of three link types, every packet on interface 48.
  const test::ReadBack ldap =
      read(fs::path(TAPFLOW_TEST_DATA_DIR) / "pcaps" / "zeek" / "ldap" / "gap-data-missing.pcapng");
  ASSERT_EQ(ldap.data.size(), 18u);
  EXPECT_EQ(ldap.ingress_interface, std::vector<std::uint32_t>(18, 48));
  EXPECT_EQ(ldap.link_types, std::vector<int>(18, 1));
}

TEST(PcapngReader, SharedCapturesReadEveryPacketTsharkCounts) {
  const fs::path shared = fs::path(TAPFLOW_TEST_DATA_DIR) / ".." / ".." / ".." / "shared" / "pcaps";
  if (!fs::is_directory(shared)) GTEST_SKIP() << shared << " is absent";
  expect_index_counts(shared);
}

TEST(PcapVersion25, ReadsAsVersion24BothWays) {
  // 2.5 has 2.4's layout; libpcap refuses it, so PcapFileReader shows libpcap a 2.4 header.
  for (const bool swapped : {false, true}) {
    std::vector<std::string> paths;
    for (const std::uint16_t minor : {4, 5}) {
      Bytes b;
      PcapngWriter put(swapped);  // for its byte order only
      put.put32(b, 0xa1b2c3d4u);
      put.put16(b, 2);
      put.put16(b, minor);
      for (const std::uint32_t v : {0u, 0u, 96u, 1u}) put.put32(b, v);
      for (std::uint32_t i = 0; i < 20; ++i) {
        for (const std::uint32_t v : {1'700'000'000u + i, 5u, 60u, 100u}) put.put32(b, v);
        const Bytes f = frame_bytes(60, static_cast<std::uint8_t>(i));
        b.insert(b.end(), f.begin(), f.end());
      }
      paths.push_back(save(b, "v2." + std::to_string(minor)));
    }
    const test::ReadBack v24 = test::read_back(paths[0], true);
    for (const bool direct : {true, false}) {
      const test::ReadBack v25 = test::read_back(paths[1], direct);
      EXPECT_EQ(v25.open_error, "");
      EXPECT_EQ(v25.frames_read, 20u);
      EXPECT_TRUE(test::same_reading(v25, v24)) << v25.open_error << v25.error;
      EXPECT_EQ(v25.direct_frames, direct ? 20u : 0u);
    }
    for (const auto& p : paths) fs::remove(p);
  }
}

}  // namespace
}  // namespace tapflow::drivers
