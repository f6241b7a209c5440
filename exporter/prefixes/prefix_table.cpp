#include "exporter/prefixes/prefix_table.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace tapflow::exporter {

namespace {

using Wide = PrefixTable::Wide;

Wide wide_from(const std::uint8_t* a) {
  Wide w;
  for (int i = 0; i < 8; ++i) w.high = (w.high << 8) | a[i];
  for (int i = 8; i < 16; ++i) w.low = (w.low << 8) | a[i];
  return w;
}

std::uint32_t narrow_from(const std::uint8_t* a) {
  return (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) | (std::uint32_t{a[2]} << 8) | a[3];
}

// The first and last address of a prefix, host bits ignored.
void bounds(std::uint32_t a, int length, std::uint32_t& first, std::uint32_t& last) {
  const std::uint32_t host = length == 0 ? ~0u : (length == 32 ? 0u : (~0u >> length));
  first = a & ~host;
  last = a | host;
}
void bounds(Wide a, int length, Wide& first, Wide& last) {
  const std::uint64_t high_host = length >= 64 ? 0 : (length == 0 ? ~0ull : (~0ull >> length));
  const std::uint64_t low_host = length <= 64 ? ~0ull : (length == 128 ? 0 : (~0ull >> (length - 64)));
  first = {a.high & ~high_host, a.low & ~low_host};
  last = {a.high | high_host, a.low | low_host};
}

// The address right after `a`; false when `a` is the last one.
bool next(std::uint32_t a, std::uint32_t& out) {
  out = a + 1;
  return a != ~0u;
}
bool next(Wide a, Wide& out) {
  out = a;
  if (++out.low == 0) ++out.high;
  return !(a.high == ~0ull && a.low == ~0ull);
}

std::uint32_t top16(std::uint32_t a) { return a >> 16; }
std::uint32_t top16(Wide a) { return static_cast<std::uint32_t>(a.high >> 48); }

// "123", "AS123", CAIDA's multi-origin "123_456" and AS sets "123,456" (the first is taken).
bool parse_as(std::string_view text, std::uint32_t& out) {
  if (text.starts_with("AS") || text.starts_with("as")) text.remove_prefix(2);
  const auto end = text.find_first_of("_,");
  if (end != std::string_view::npos) text = text.substr(0, end);
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

template <typename Address>
struct Prefix {
  Address first, last;
  int length;
  std::uint32_t origin_as, peer_as;
  std::size_t line;
};

// Flattens nested prefixes into disjoint ranges, each answered by its longest covering prefix.
template <typename Address, typename Ranges, typename Answer>
void flatten(std::vector<Prefix<Address>>& prefixes, Ranges& out) {
  // Enclosing prefixes before the prefixes they hold; of two equal ones the later line wins.
  std::sort(prefixes.begin(), prefixes.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    if (a.length != b.length) return a.length < b.length;
    return a.line > b.line;
  });
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end(),
                             [](const auto& a, const auto& b) { return a.first == b.first && a.length == b.length; }),
                 prefixes.end());
  out.starts.clear();
  out.answers.clear();
  out.starts.reserve(prefixes.size() * 2 + 1);
  out.answers.reserve(prefixes.size() * 2 + 1);
  const auto emit = [&out](Address start, Answer answer) {
    if (!out.starts.empty() && out.starts.back() == start) {
      out.answers.back() = answer;
    } else {
      out.starts.push_back(start);
      out.answers.push_back(answer);
    }
    // Two neighbours with one answer are one range.
    const auto n = out.answers.size();
    if (n >= 2 && out.answers[n - 1] == out.answers[n - 2]) {
      out.starts.pop_back();
      out.answers.pop_back();
    }
  };
  const auto answer_of = [](const Prefix<Address>& p) {
    return Answer{p.origin_as, p.peer_as, static_cast<std::uint8_t>(p.length), true};
  };
  std::vector<const Prefix<Address>*> open;
  const auto close_until = [&](const Address* start) {
    while (!open.empty() && (start == nullptr || open.back()->last < *start)) {
      const Prefix<Address>* done = open.back();
      open.pop_back();
      Address after;
      if (next(done->last, after)) emit(after, open.empty() ? Answer{} : answer_of(*open.back()));
    }
  };
  for (const auto& p : prefixes) {
    close_until(&p.first);
    emit(p.first, answer_of(p));
    open.push_back(&p);
  }
  close_until(nullptr);
  out.index.assign((1u << 16) + 1, 0);
  std::size_t range = 0;
  for (std::uint32_t h = 0; h < (1u << 16); ++h) {
    while (range < out.starts.size() && top16(out.starts[range]) < h) ++range;
    out.index[h] = static_cast<std::uint32_t>(range);
  }
  out.index[1u << 16] = static_cast<std::uint32_t>(out.starts.size());
}

}  // namespace

PrefixTable PrefixTable::parse(std::string_view text, PrefixLoadReport& report) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<Prefix<std::uint32_t>> v4;
  std::vector<Prefix<Wide>> v6;
  std::size_t line_number = 0;
  const auto reject = [&report, &line_number](std::string why) {
    if (report.rejected++ == 0) {
      report.first_rejected_line = line_number;
      report.first_rejected_why = std::move(why);
    }
  };
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    ++line_number;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    // Whitespace-separated fields (at most four are looked at).
    std::array<std::string_view, 5> field{};
    std::size_t fields = 0;
    for (std::size_t i = 0; i < line.size() && fields < field.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      const std::size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
      if (i > start) field[fields++] = line.substr(start, i - start);
    }
    if (fields == 0) continue;
    ++report.lines;
    std::string_view address = field[0], length_text, origin, peer;
    if (const auto slash = address.find('/'); slash != std::string_view::npos) {
      length_text = address.substr(slash + 1);
      address = address.substr(0, slash);
      origin = field[1];
      peer = field[2];
      if (fields > 3) {
        reject("more than three fields");
        continue;
      }
    } else {  // CAIDA pfx2as: address, length, AS
      length_text = field[1];
      origin = field[2];
      peer = field[3];
      if (fields > 4) {
        reject("more than four fields");
        continue;
      }
    }
    if (origin.empty()) {
      reject("no AS number (expected PREFIX/LENGTH AS [PEER-AS], or ADDRESS LENGTH AS)");
      continue;
    }
    int length = -1;
    const auto [lp, lec] = std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (lec != std::errc() || lp != length_text.data() + length_text.size() || length_text.empty()) {
      reject(fmt::format("bad prefix length '{}'", length_text));
      continue;
    }
    std::uint32_t origin_as = 0, peer_as = 0;
    if (!parse_as(origin, origin_as) || (!peer.empty() && !parse_as(peer, peer_as))) {
      reject(fmt::format("bad AS number '{}'", peer.empty() || parse_as(origin, origin_as) ? origin : peer));
      continue;
    }
    const std::string address_text(address);
    std::array<std::uint8_t, 16> raw{};
    if (inet_pton(AF_INET, address_text.c_str(), raw.data()) == 1) {
      if (length > 32) {
        reject(fmt::format("IPv4 prefix length {} over 32", length));
        continue;
      }
      Prefix<std::uint32_t> p{0, 0, length, origin_as, peer_as, line_number};
      bounds(narrow_from(raw.data()), length, p.first, p.last);
      v4.push_back(p);
    } else if (inet_pton(AF_INET6, address_text.c_str(), raw.data()) == 1) {
      if (length > 128) {
        reject(fmt::format("IPv6 prefix length {} over 128", length));
        continue;
      }
      Prefix<Wide> p{{}, {}, length, origin_as, peer_as, line_number};
      bounds(wide_from(raw.data()), length, p.first, p.last);
      v6.push_back(p);
    } else {
      reject(fmt::format("'{}' is not an IPv4 or IPv6 address", address));
    }
  }
  PrefixTable table;
  report.ipv4_prefixes = v4.size();
  report.ipv6_prefixes = v6.size();
  table.prefixes_ = v4.size() + v6.size();
  flatten<std::uint32_t, Ranges<std::uint32_t>, Answer>(v4, table.ipv4_);
  flatten<Wide, Ranges<Wide>, Answer>(v6, table.ipv6_);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return table;
}

std::optional<PrefixTable> PrefixTable::load(const std::string& path, PrefixLoadReport& report, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("cannot read the prefix file '{}': {}", path, std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    error = fmt::format("cannot read the prefix file '{}': {}", path, std::strerror(errno));
    return std::nullopt;
  }
  report = {};
  auto table = parse(content.str(), report);
  if (table.prefixes() == 0) {
    error = report.rejected == 0
                ? fmt::format("prefix file '{}' holds no prefix (expected lines of PREFIX/LENGTH AS [PEER-AS], "
                              "or ADDRESS LENGTH AS as CAIDA's pfx2as)", path)
                : fmt::format("prefix file '{}' holds no prefix: line {}: {}", path, report.first_rejected_line,
                              report.first_rejected_why);
    return std::nullopt;
  }
  return table;
}

template <typename Address>
PrefixMatch PrefixTable::find(const Ranges<Address>& ranges, Address address) {
  // Every range before index[h] starts below this /16, every one from index[h + 1] above it.
  const std::uint32_t h = top16(address);
  const auto it = std::upper_bound(ranges.starts.begin() + ranges.index[h], ranges.starts.begin() + ranges.index[h + 1],
                                   address);
  if (it == ranges.starts.begin()) return {};
  const Answer& a = ranges.answers[static_cast<std::size_t>(it - ranges.starts.begin()) - 1];
  return {a.origin_as, a.peer_as, a.length, a.found};
}

PrefixMatch PrefixTable::lookup_ipv4(const std::uint8_t* address) const {
  return find(ipv4_, narrow_from(address));
}

PrefixMatch PrefixTable::lookup_ipv6(const std::uint8_t* address) const {
  return find(ipv6_, wide_from(address));
}

namespace {
std::string describe(const std::string& path, const PrefixLoadReport& r) {
  std::string text = fmt::format("prefixes: {} IPv4 and {} IPv6 prefixes from {} in {:.2f} s", r.ipv4_prefixes,
                                 r.ipv6_prefixes, path, r.seconds);
  if (r.rejected != 0) {
    text += fmt::format("; {} line{} not understood, skipped (first: line {}: {})", r.rejected,
                        r.rejected == 1 ? "" : "s", r.first_rejected_line, r.first_rejected_why);
  }
  return text;
}
}  // namespace

PrefixSource::Stamp PrefixSource::stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::int64_t>(st.st_size), static_cast<std::int64_t>(st.st_ino)};
}

PrefixSource::PrefixSource(std::string path, bool peer_as) : path_(std::move(path)), peer_as_(peer_as) {
  loaded_ = stamp(path_);
  PrefixLoadReport report;
  std::string error;
  auto table = PrefixTable::load(path_, report, error);
  if (!table) throw std::runtime_error(error);
  table_ = std::make_shared<const PrefixTable>(std::move(*table));
  initial_report_ = describe(path_, report);
}

std::optional<TransportEvent> PrefixSource::reload() {
  const Stamp now = stamp(path_);
  if (now == loaded_) return std::nullopt;
  loaded_ = now;
  PrefixLoadReport report;
  std::string error;
  auto table = PrefixTable::load(path_, report, error);
  if (!table) {
    return TransportEvent{TransportEvent::Severity::kWarning, error + "; the previous table stays"};
  }
  table_ = std::make_shared<const PrefixTable>(std::move(*table));
  return TransportEvent{report.rejected != 0 ? TransportEvent::Severity::kWarning : TransportEvent::Severity::kNotice,
                        "reloaded " + describe(path_, report)};
}

}  // namespace tapflow::exporter
