// Deterministic generator of large synthetic captures for benchmarks: heavy-tailed flow sizes
// (Pareto), IMIX-like packet sizes, an IPv4/IPv6 mix, TCP flows opened by SYN and closed by FIN or
// RST, UDP flows, many concurrent flows, snaplen 96. Same seed and sizes, same file, byte for byte.
// --syn-flood instead writes --packets TCP SYNs of 64 bytes from random IPv4 sources and ports to
// one server port: every packet a new flow, the cache-exhaustion case.
// --shape names the traffic shapes bench/compare measures (see kShapes); a shape only sets the
// defaults of the other options, scaled to --packets, so any of them can still be overridden.
#include <CLI/CLI.hpp>
#include <pcap/pcap.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Flow {
  bool ipv6;
  bool tcp;
  std::uint8_t src[16], dst[16];
  std::uint16_t sport, dport;
  std::uint32_t remaining;  // packets still to send
  bool started;
  bool rst;  // ends with RST instead of FIN
};

void put16(std::uint8_t* p, std::uint16_t v) { p[0] = static_cast<std::uint8_t>(v >> 8); p[1] = static_cast<std::uint8_t>(v); }

// A named traffic shape: --flows and --concurrent as fractions of --packets (so a small capture has
// the shape of a large one) and the capture's time span (0: --rate's default, 1 Mpps). --flows only
// sets the mean of the Pareto sizes; the flows a capture really holds (distinct 5-tuples, counted
// by build/bench/min_loop) are given for 5 M packets, seed 1.
struct Shape {
  const char* name;
  double packets_per_flow;       // --flows = packets / this
  double packets_per_live_flow;  // --concurrent = packets / this
  double duration_s;
  bool syn_flood;
};

constexpr Shape kShapes[] = {
    // bench/compare's capture from the start: --flows 500000, 125 k flows live at once, 5 s.
    {"default", 10.0, 40.0, 0.0, false},
    // 500 k flows spread over 300 s with 20 k live at once: the inactive timeout, not the end of
    // input, expires most flows and the table stays small (issue 17's held-out shape).
    {"spread", 13.5, 250.0, 300.0, false},
    // Mostly one- and two-packet flows (UDP singletons, SYN+FIN): 2.5 M flows in 5 M packets, 5 s.
    {"short", 1.0, 100.0, 0.0, false},
    // Random-source SYNs, every packet a new flow: the cache-exhaustion case (65,536 entries).
    {"synflood", 1.0, 1.0, 0.0, true},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gen_pcap: synthetic capture for tapflow benchmarks"};
  std::uint64_t packets = 5'000'000, flows = 500'000, seed = 1;
  double ipv6_fraction = 0.2, udp_fraction = 0.3;
  unsigned snaplen = 96;
  std::uint64_t rate_pps = 1'000'000;
  std::string out;
  bool syn_flood = false;
  std::uint64_t concurrent_flows = 0;
  double duration_s = 0;
  std::string shape_name;
  app.add_option("--packets", packets, "Packets to write")->capture_default_str();
  auto* flows_option =
      app.add_option("--flows", flows, "Flows (heavy-tailed sizes with mean packets/flows)")
          ->capture_default_str();
  app.add_option("--seed", seed, "Random seed")->capture_default_str();
  app.add_option("--ipv6-fraction", ipv6_fraction, "Share of IPv6 flows")->capture_default_str();
  app.add_option("--udp-fraction", udp_fraction, "Share of UDP flows")->capture_default_str();
  app.add_option("--snaplen", snaplen, "Captured bytes per packet")->capture_default_str();
  auto* rate_option =
      app.add_option("--rate", rate_pps, "Packet rate of the timestamps (packets per second)")
          ->capture_default_str();
  auto* concurrent_option =
      app.add_option("--concurrent", concurrent_flows, "Flows live at once (default: flows / 4)");
  auto* duration_option = app.add_option("--duration", duration_s,
                                         "Seconds of capture time the packets span (sets the rate)")
                              ->check(CLI::PositiveNumber)
                              ->excludes(rate_option);
  std::vector<std::string> shape_names;
  for (const Shape& s : kShapes) shape_names.emplace_back(s.name);
  app.add_option("--shape", shape_name,
                 "Traffic shape: sets the defaults of --flows, --concurrent, --duration and "
                 "--syn-flood from --packets")
      ->check(CLI::IsMember(shape_names));
  app.add_option("-o,--out", out, "Output pcap file ('-' for standard output)")->required();
  auto* syn_flood_option = app.add_flag("--syn-flood", syn_flood,
                                        "Only TCP SYNs from random IPv4 sources (one flow each)");
  CLI11_PARSE(app, argc, argv);

  for (const Shape& s : kShapes) {
    if (shape_name != s.name) continue;
    if (flows_option->count() == 0) {
      flows = std::max<std::uint64_t>(
          1, std::llround(static_cast<double>(packets) / s.packets_per_flow));
    }
    if (concurrent_option->count() == 0) {
      concurrent_flows = std::max<std::uint64_t>(
          1, std::llround(static_cast<double>(packets) / s.packets_per_live_flow));
    }
    if (duration_option->count() == 0 && rate_option->count() == 0 && s.duration_s > 0)
      duration_s = s.duration_s;
    if (syn_flood_option->count() == 0) syn_flood = s.syn_flood;
  }

  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double mean = std::max(1.0, static_cast<double>(packets) / static_cast<double>(flows));
  const double alpha = 1.3;  // Pareto shape: a few elephants, many mice
  const double xm = mean * (alpha - 1) / alpha;
  auto flow_size = [&] {
    const double x = xm / std::pow(1.0 - uniform(rng), 1.0 / alpha);
    return static_cast<std::uint32_t>(std::clamp(x, 1.0, 1e6));
  };
  auto new_flow = [&] {
    Flow f{};
    f.ipv6 = uniform(rng) < ipv6_fraction;
    f.tcp = uniform(rng) >= udp_fraction;
    for (auto& b : f.src) b = static_cast<std::uint8_t>(rng());
    for (auto& b : f.dst) b = static_cast<std::uint8_t>(rng());
    f.src[0] = f.ipv6 ? 0x20 : 10;
    f.dst[0] = f.ipv6 ? 0x20 : 172;
    f.sport = static_cast<std::uint16_t>(1024 + rng() % 60000);
    static constexpr std::uint16_t kPorts[] = {80, 443, 53, 22, 25, 8080, 123, 3306};
    f.dport = kPorts[rng() % std::size(kPorts)];
    f.remaining = flow_size() + (f.tcp ? 1 : 0);
    f.rst = uniform(rng) < 0.1;
    return f;
  };
  // IMIX: 7 x 64, 4 x 576, 1 x 1500 (layer-2 frame sizes).
  auto frame_size = [&] {
    const auto r = rng() % 12;
    return r < 7 ? 64u : (r < 11 ? 576u : 1514u);
  };

  pcap_t* dead = pcap_open_dead(DLT_EN10MB, static_cast<int>(snaplen));
  pcap_dumper_t* dumper = pcap_dump_open(dead, out.c_str());
  if (dumper == nullptr) {
    std::fprintf(stderr, "gen_pcap: cannot write '%s': %s\n", out.c_str(), pcap_geterr(dead));
    return 1;
  }
  std::uint8_t frame[1600] = {};
  const std::uint64_t start_ns = 1'700'000'000ull * 1'000'000'000ull;
  const std::uint64_t gap_ns =
      duration_s > 0
          ? static_cast<std::uint64_t>(duration_s * 1e9 /
                                       static_cast<double>(std::max<std::uint64_t>(1, packets)))
          : 1'000'000'000ull / std::max<std::uint64_t>(1, rate_pps);
  if (syn_flood) {
    frame[0] = 0x02; frame[6] = 0x02; frame[11] = 1;
    put16(frame + 12, 0x0800);
    std::uint8_t* ip = frame + 14;
    ip[0] = 0x45;
    put16(ip + 2, 50);  // 20 + 20 + 10 bytes of padding up to a 64-byte frame
    ip[8] = 64; ip[9] = 6;
    ip[16] = 192; ip[17] = 0; ip[18] = 2; ip[19] = 1;
    std::uint8_t* tcp = ip + 20;
    put16(tcp + 2, 80);
    tcp[12] = 0x50;
    tcp[13] = 0x02;
    for (std::uint64_t n = 0; n < packets; ++n) {
      const std::uint64_t r = rng();
      std::memcpy(ip + 12, &r, 4);  // a random source address and port: a new flow nearly always
      put16(tcp, static_cast<std::uint16_t>(1024 + (r >> 32) % 64000));
      pcap_pkthdr header{};
      const std::uint64_t t = start_ns + n * gap_ns;
      header.ts.tv_sec = static_cast<time_t>(t / 1'000'000'000ull);
      header.ts.tv_usec = static_cast<suseconds_t>((t % 1'000'000'000ull) / 1000);
      header.len = 64;
      header.caplen = std::min(64u, snaplen);
      pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame);
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
    return 0;
  }
  // The number of flows alive at once grows with the flow count, so the cache is really loaded.
  const std::size_t concurrent = static_cast<std::size_t>(
      std::max<std::uint64_t>(1, concurrent_flows > 0 ? concurrent_flows : flows / 4));
  std::vector<Flow> active;
  active.reserve(concurrent);
  for (std::size_t i = 0; i < concurrent; ++i) active.push_back(new_flow());

  for (std::uint64_t n = 0; n < packets; ++n) {
    Flow& f = active[rng() % active.size()];
    // The smallest IPv6 frame must still hold a whole TCP header.
    const unsigned wire = std::max(frame_size(), f.ipv6 ? 78u : 64u);
    std::memset(frame, 0, 64);
    frame[0] = 0x02; frame[6] = 0x02; frame[11] = 1;
    put16(frame + 12, f.ipv6 ? 0x86dd : 0x0800);
    std::uint8_t* ip = frame + 14;
    std::uint8_t* l4;
    const std::uint8_t proto = f.tcp ? 6 : 17;
    const unsigned l3_len = wire - 14;
    if (f.ipv6) {
      ip[0] = 0x60;
      put16(ip + 4, static_cast<std::uint16_t>(l3_len - 40));
      ip[6] = proto; ip[7] = 64;
      std::memcpy(ip + 8, f.src, 16);
      std::memcpy(ip + 24, f.dst, 16);
      l4 = ip + 40;
    } else {
      ip[0] = 0x45;
      put16(ip + 2, static_cast<std::uint16_t>(l3_len));
      ip[8] = 64; ip[9] = proto;
      std::memcpy(ip + 12, f.src, 4);
      std::memcpy(ip + 16, f.dst, 4);
      l4 = ip + 20;
    }
    put16(l4, f.sport);
    put16(l4 + 2, f.dport);
    bool last = --f.remaining == 0;
    if (f.tcp) {
      l4[12] = 0x50;
      l4[13] = !f.started ? 0x02 : (last ? (f.rst ? 0x04 : 0x11) : 0x18);
    } else {
      put16(l4 + 4, static_cast<std::uint16_t>(l3_len - (f.ipv6 ? 40 : 20)));
    }
    f.started = true;
    pcap_pkthdr header{};
    const std::uint64_t t = start_ns + n * gap_ns;
    header.ts.tv_sec = static_cast<time_t>(t / 1'000'000'000ull);
    header.ts.tv_usec = static_cast<suseconds_t>((t % 1'000'000'000ull) / 1000);
    header.len = wire;
    header.caplen = std::min(wire, snaplen);
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame);
    if (last) f = new_flow();
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
  return 0;
}
