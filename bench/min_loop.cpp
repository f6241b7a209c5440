// A minimal reference loop for bench/compare --min-loop: how fast one core can read a classic pcap
// file with large pread() chunks, parse each packet to its 5-tuple and count packets and octets in
// an open-addressing table. It has no expiry, no export, no options beyond sizes and no error
// recovery: it is the bound tapflow --threads 1 is measured against (one core's share of the
// limit), never a probe.
//
//   build/bench/min_loop [--chunk-size BYTES] [--slots N] [--batch N] FILE
//
// Prints the packets per second of the inner loop (parse and count) and of the whole run (open to
// last packet counted). The inner loop leaves out the pread() calls and the table's set-up: its
// memory is touched when mapped (this VM's first touch of fresh pages swings from run to run) and a
// growth is timed apart.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Addresses in 16 bytes (IPv4 in the first 4, the rest zero), so one layout serves both families.
struct FlowKey {
  std::uint8_t src[16];
  std::uint8_t dst[16];
  std::uint16_t src_port;
  std::uint16_t dst_port;
  std::uint8_t protocol;
  std::uint8_t ip_version;
  std::uint8_t pad[2];
};
static_assert(sizeof(FlowKey) == 40, "five 8-byte words: hashed and compared as such");

// One slot is one cache line: a lookup that hits costs one miss, the least any table can do.
struct alignas(64) Slot {
  std::uint64_t hash;  // 0: empty
  FlowKey key;
  std::uint64_t packets;
  std::uint64_t octets;
};
static_assert(sizeof(Slot) == 64, "one cache line per flow");

__extension__ using Uint128 = unsigned __int128;  // GCC/Clang extension, silences -Wpedantic

std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
  const Uint128 r = static_cast<Uint128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

std::uint64_t hash_key(const FlowKey& key) {
  std::uint64_t w[5];
  std::memcpy(w, &key, sizeof w);
  const std::uint64_t h = mum(w[0] ^ 0xa0761d6478bd642full, w[1] ^ 0xe7037ed1a0b428dbull) ^
                          mum(w[2] ^ 0x8ebc6af09c88c6e3ull, w[3] ^ 0x589965cc75374cc3ull) ^
                          mum(w[4] ^ 0x1d8e4e27c47d124full, 0x9e3779b97f4a7c15ull);
  return h == 0 ? 1 : h;
}

bool same_key(const FlowKey& a, const FlowKey& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

Slot* map_slots(std::size_t count) {
  const std::size_t bytes = count * sizeof(Slot);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("min_loop: mmap");
    std::exit(1);
  }
  madvise(p, bytes, MADV_HUGEPAGE);  // as tapflow's table does; mapped memory reads as zero (empty)
  auto* bytes_p = static_cast<volatile std::uint8_t*>(p);
  for (std::size_t i = 0; i < bytes; i += 4096) bytes_p[i] = 0;  // fault it in now, not while timed
  return static_cast<Slot*>(p);
}

// Linear probing, no deletion (there is no expiry), doubling when three quarters full.
class FlowCounters {
 public:
  explicit FlowCounters(std::size_t slots)
      : slots_(map_slots(slots)), mask_(slots - 1), shift_(64 - std::countr_zero(slots)) {}

  std::size_t index(std::uint64_t hash) const { return hash >> shift_; }
  void prefetch(std::uint64_t hash) const { __builtin_prefetch(&slots_[index(hash)], 1); }

  void count(const FlowKey& key, std::uint64_t hash, std::uint64_t octets) {
    for (std::size_t i = index(hash);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.hash == hash && same_key(s.key, key)) {
        ++s.packets;
        s.octets += octets;
        return;
      }
      if (s.hash == 0) {
        s.hash = hash;
        s.key = key;
        s.packets = 1;
        s.octets = octets;
        if (++flows_ * 4 > (mask_ + 1) * 3) {
          const auto grow_start = Clock::now();
          grow();
          grow_time_ += Clock::now() - grow_start;
        }
        return;
      }
    }
  }

  std::size_t flows() const { return flows_; }
  std::size_t slots() const { return mask_ + 1; }
  unsigned grows() const { return grows_; }
  Clock::duration grow_time() const { return grow_time_; }

 private:
  void grow() {
    const std::size_t old_count = mask_ + 1;
    Slot* old = slots_;
    slots_ = map_slots(old_count * 2);
    mask_ = old_count * 2 - 1;
    --shift_;
    for (std::size_t j = 0; j < old_count; ++j) {
      if (old[j].hash == 0) continue;
      std::size_t i = index(old[j].hash);
      while (slots_[i].hash != 0) i = (i + 1) & mask_;
      slots_[i] = old[j];
    }
    munmap(old, old_count * sizeof(Slot));
    ++grows_;
  }

  Slot* slots_;
  std::size_t mask_;
  int shift_;
  std::size_t flows_ = 0;
  unsigned grows_ = 0;
  Clock::duration grow_time_{};
};

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

struct Parsed {
  FlowKey key;
  std::uint64_t hash;
  std::uint64_t octets;
};

enum class Link { kEthernet, kRawIp };

// Ethernet (no VLAN tags: gen_pcap writes none) or raw IP; IPv4 with options, IPv6 without
// extension headers. Octets are layer-3 octets from the IP header, as tapflow counts them.
bool parse(const std::uint8_t* p, std::uint32_t caplen, Link link, Parsed& out) {
  std::uint16_t ethertype;
  if (link == Link::kEthernet) {
    if (caplen < 14) return false;
    ethertype = be16(p + 12);
    p += 14;
    caplen -= 14;
  } else {
    if (caplen < 1) return false;
    ethertype = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
  }
  std::memset(&out.key, 0, sizeof out.key);
  const std::uint8_t* l4;
  std::uint32_t l4_len;
  bool first_fragment = true;
  if (ethertype == 0x0800) {
    if (caplen < 20 || (p[0] >> 4) != 4) return false;
    const std::uint32_t ihl = (p[0] & 0x0fu) * 4;
    if (ihl < 20 || caplen < ihl) return false;
    out.key.ip_version = 4;
    out.key.protocol = p[9];
    std::memcpy(out.key.src, p + 12, 4);
    std::memcpy(out.key.dst, p + 16, 4);
    out.octets = be16(p + 2);
    first_fragment = (be16(p + 6) & 0x1fff) == 0;
    l4 = p + ihl;
    l4_len = caplen - ihl;
  } else if (ethertype == 0x86dd) {
    if (caplen < 40 || (p[0] >> 4) != 6) return false;
    out.key.ip_version = 6;
    out.key.protocol = p[6];
    std::memcpy(out.key.src, p + 8, 16);
    std::memcpy(out.key.dst, p + 24, 16);
    out.octets = be16(p + 4) + 40u;
    l4 = p + 40;
    l4_len = caplen - 40;
  } else {
    return false;
  }
  const std::uint8_t proto = out.key.protocol;
  if (first_fragment && (proto == 6 || proto == 17 || proto == 132) && l4_len >= 4) {
    out.key.src_port = be16(l4);
    out.key.dst_port = be16(l4 + 2);
  }
  out.hash = hash_key(out.key);
  return true;
}

std::uint32_t read32(const std::uint8_t* p, bool swapped) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "min_loop: read a pcap file, parse 5-tuples, count them in a hash table (a reference loop)"};
  std::string path;
  std::size_t chunk_size = 4u << 20;
  std::size_t slots = 1u << 21;
  std::size_t batch = 32;
  app.add_option("file", path, "Classic pcap file (Ethernet or raw IP)")->required();
  app.add_option("--chunk-size", chunk_size, "Bytes per pread()")
      ->capture_default_str()
      ->check(CLI::Range(1u << 16, 1u << 30));
  app.add_option("--slots", slots, "Initial table slots (a power of two; doubles at 3/4 full)")
      ->capture_default_str();
  app.add_option("--batch", batch,
                 "Packets parsed and prefetched before they are counted (1: none)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);
  if (!std::has_single_bit(slots) || slots < 64) {
    std::fprintf(stderr, "min_loop: --slots must be a power of two of at least 64\n");
    return 2;
  }

  const auto start = Clock::now();
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    std::perror(("min_loop: " + path).c_str());
    return 1;
  }
  std::uint8_t header[24];
  if (pread(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
    std::fprintf(stderr, "min_loop: %s: shorter than a pcap header\n", path.c_str());
    return 1;
  }
  std::uint32_t magic;
  std::memcpy(&magic, header, 4);
  bool swapped;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
    swapped = false;
  } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
    swapped = true;
  } else {
    std::fprintf(stderr, "min_loop: %s: not a classic pcap file (pcapng is not read)\n",
                 path.c_str());
    return 1;
  }
  const std::uint32_t linktype = read32(header + 20, swapped) & 0x0fffffff;
  Link link;
  if (linktype == 1) {
    link = Link::kEthernet;
  } else if (linktype == 101 || linktype == 228 || linktype == 229) {
    link = Link::kRawIp;
  } else {
    std::fprintf(stderr, "min_loop: %s: link type %u is neither Ethernet nor raw IP\n",
                 path.c_str(), linktype);
    return 1;
  }

  constexpr std::uint32_t kMaxRecord = 256u << 10;
  std::vector<std::uint8_t> buffer(chunk_size + kMaxRecord + 16);
  FlowCounters table(slots);
  std::vector<Parsed> parsed(batch);
  std::uint64_t packets = 0, ip_packets = 0, octets = 0;
  Clock::duration inner{};
  off_t offset = 24;
  std::size_t have = 0;  // unparsed bytes at the front of the buffer
  bool end = false;
  while (!end) {
    const ssize_t n = pread(fd, buffer.data() + have, chunk_size, offset);
    if (n < 0) {
      std::perror("min_loop: pread");
      return 1;
    }
    end = n == 0;
    offset += n;
    have += static_cast<std::size_t>(n);

    const auto inner_start = Clock::now();
    const std::uint8_t* p = buffer.data();
    const std::uint8_t* const limit = p + have;
    bool more = true;
    while (more) {
      std::size_t filled = 0;
      while (filled < batch) {
        if (limit - p < 16) {
          more = false;
          break;
        }
        const std::uint32_t caplen = read32(p + 8, swapped);
        if (caplen > kMaxRecord) {
          std::fprintf(stderr, "min_loop: %s: record of %u bytes\n", path.c_str(), caplen);
          return 1;
        }
        if (static_cast<std::size_t>(limit - p) < 16 + caplen) {
          more = false;
          break;
        }
        ++packets;
        if (parse(p + 16, caplen, link, parsed[filled])) {
          table.prefetch(parsed[filled].hash);
          ++filled;
        }
        p += 16 + caplen;
      }
      for (std::size_t i = 0; i < filled; ++i) {
        table.count(parsed[i].key, parsed[i].hash, parsed[i].octets);
        octets += parsed[i].octets;
      }
      ip_packets += filled;
    }
    have = static_cast<std::size_t>(limit - p);
    std::memmove(buffer.data(), p, have);
    inner += Clock::now() - inner_start;
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  const double grow_s = std::chrono::duration<double>(table.grow_time()).count();
  const double inner_s = std::chrono::duration<double>(inner - table.grow_time()).count();
  close(fd);
  if (have != 0)
    std::fprintf(stderr, "min_loop: %s: %zu bytes of a truncated record at the end\n", path.c_str(),
                 have);

  std::printf(
      "min_loop: %s: %llu packets, %llu IP, %zu flows, %llu octets; table %zu slots, %u grows "
      "(%.3f s)\n",
      path.c_str(), static_cast<unsigned long long>(packets),
      static_cast<unsigned long long>(ip_packets), table.flows(),
      static_cast<unsigned long long>(octets), table.slots(), table.grows(), grow_s);
  std::printf("inner loop %.6f s %.3f Mpps (parse and count; reads and table set-up excluded)\n",
              inner_s, static_cast<double>(packets) / inner_s / 1e6);
  std::printf("total      %.6f s %.3f Mpps (open to last packet counted)\n", total_s,
              static_cast<double>(packets) / total_s / 1e6);
  return 0;
}
