// --prefixes FILE: a routing table of "prefix/length origin-AS [peer-AS]" lines (or CAIDA pfx2as's
// "address<TAB>length<TAB>AS"), IPv4 and IPv6, answering longest-prefix-match lookups: the AS
// numbers and the matched prefix length of an address.
//
// Built as sorted ranges: nested prefixes are flattened into disjoint address ranges, each with the
// answer of its longest covering prefix, so a lookup is one binary search over range starts (no
// trie walk, no allocation; a 64 Ki-entry index on the top 16 bits narrows it to one /16) and a
// million prefixes load in a sort and one pass. A hand-written
// structure: Debian packages no IPv4+IPv6 LPM library outside DPDK's rte_lpm, which would tie
// this to the DPDK build, and none loads from these text formats.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/transport/transport.h"

namespace tapflow::exporter {

struct PrefixMatch {
  std::uint32_t origin_as = 0;
  std::uint32_t peer_as = 0;  // 0 when the file gives none
  std::uint8_t length = 0;    // prefix length; 0 with found == false when no prefix covers it
  bool found = false;
};

struct PrefixLoadReport {
  std::size_t lines = 0;
  std::size_t ipv4_prefixes = 0, ipv6_prefixes = 0;
  std::size_t rejected = 0;          // lines not understood (skipped)
  std::size_t first_rejected_line = 0;
  std::string first_rejected_why;
  double seconds = 0;
};

class PrefixTable {
 public:
  // Reads FILE. nullopt with `error` set when it cannot be read or holds no prefix at all;
  // lines it does not understand are skipped and counted in `report`.
  static std::optional<PrefixTable> load(const std::string& path, PrefixLoadReport& report, std::string& error);
  // The same from text already in memory (tests, benchmarks).
  static PrefixTable parse(std::string_view text, PrefixLoadReport& report);

  PrefixMatch lookup_ipv4(const std::uint8_t* address) const;   // 4 octets, network order
  PrefixMatch lookup_ipv6(const std::uint8_t* address) const;   // 16 octets
  std::size_t prefixes() const { return prefixes_; }

  // A 128-bit address as two words, high first, for ordering.
  struct Wide {
    std::uint64_t high = 0, low = 0;
    auto operator<=>(const Wide&) const = default;
  };

 private:
  struct Answer {
    std::uint32_t origin_as = 0, peer_as = 0;
    std::uint8_t length = 0;
    bool found = false;
    bool operator==(const Answer&) const = default;
  };
  template <typename Address>
  struct Ranges {
    std::vector<Address> starts;  // ascending; range i covers [starts[i], starts[i + 1])
    std::vector<Answer> answers;
    // index[h]: the first range starting at or after the address whose top 16 bits are h, so a
    // lookup searches only the few ranges that start inside its /16 (one or two cache lines)
    // instead of the whole table (each step a cache miss).
    std::vector<std::uint32_t> index;
  };
  template <typename Address>
  static PrefixMatch find(const Ranges<Address>& ranges, Address address);

  Ranges<std::uint32_t> ipv4_;
  Ranges<Wide> ipv6_;
  std::size_t prefixes_ = 0;
};

// One table behind every destination that uses it; SIGHUP reloads it (reload()), keeping the old
// table when the new file is unreadable or empty.
class PrefixSource {
 public:
  // Loads `path` now; throws std::runtime_error with a one-line reason when it cannot.
  explicit PrefixSource(std::string path, bool peer_as);
  const std::string& path() const { return path_; }
  bool peer_as() const { return peer_as_; }
  const PrefixTable& table() const { return *table_; }
  // What the first load read, for the start-up log.
  const std::string& initial_report() const { return initial_report_; }
  // Re-reads the file when it changed since the last load (several destinations call this on
  // one SIGHUP; the first reads). What it did, for the log, when it did anything.
  std::optional<TransportEvent> reload();

 private:
  struct Stamp {
    std::int64_t mtime_ns = 0, size = 0, inode = 0;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp stamp(const std::string& path);
  std::string path_;
  bool peer_as_;
  Stamp loaded_;
  std::shared_ptr<const PrefixTable> table_;
  std::string initial_report_;
};

}  // namespace tapflow::exporter
