#include "probe/cli.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "cache/sampler.h"
#include "exporter/transport/file_rotation.h"
#include "probe/decode/decoder.h"
#include "probe/duration.h"
#include "probe/record_choice.h"

namespace tapflow::probe {

namespace {

std::string duration_text(std::uint32_t seconds) {
  if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

// An option in seconds that also takes units (probe/duration.h), within [min_s, max_s].
CLI::Option* add_duration_option(CLI::App& app, const std::string& name, std::uint32_t& seconds,
                                 std::uint32_t min_s, std::uint32_t max_s, const std::string& help) {
  return app
      .add_option_function<std::string>(
          name, [&seconds](const std::string& text) { seconds = *parse_duration(text); },  // validated by check()
          help + " (seconds, or a duration like 90s, 15m, 1h30m, 2d)")
      ->check([min_s, max_s](const std::string& text) {
        const auto value = parse_duration(text);
        if (!value) return "'" + text + "': " + std::string(kDurationFormat);
        if (*value < min_s || *value > max_s) {
          return "'" + text + "' is out of range: " + duration_text(min_s) + " to " + duration_text(max_s);
        }
        return std::string();
      })
      ->type_name("DURATION")
      ->default_str(std::to_string(seconds));
}

[[noreturn]] void refuse(const std::string& message) { throw CLI::ValidationError(message); }

// softflowd's `-t name=time`: maxlife is the active timeout, general the inactive one; the
// per-protocol idle timeouts have no tapflow counterpart (one inactive timeout for every flow).
void apply_softflowd_timeouts(const std::vector<std::string>& settings, ProbeOptions& o) {
  for (const auto& setting : settings) {
    const auto equals = setting.find('=');
    const std::string name = setting.substr(0, equals);
    const std::string value = equals == std::string::npos ? std::string() : setting.substr(equals + 1);
    std::uint32_t* target = name == "maxlife" ? &o.active_timeout_s : name == "general" ? &o.inactive_timeout_s : nullptr;
    if (target == nullptr) {
      refuse("-t " + setting + ": tapflow has one inactive timeout for every protocol (--inactive-timeout, "
             "or -t general=TIME) and an active timeout (--active-timeout, or -t maxlife=TIME)");
    }
    const auto seconds = parse_duration(value);
    if (!seconds || *seconds == 0 || *seconds > 7u * 24 * 3600) {
      refuse("-t " + setting + ": " + std::string(kDurationFormat) + ", 1s to 7d");
    }
    *target = *seconds;
  }
}

// softflowd's letters (tapflow(8), SOFTFLOWD SPELLINGS): -C, -N, -p, -m, -c, -d and -t mean what
// they mean there (and -n a:1,b:2, split in main.cpp); the others answer with tapflow's way of saying it. The
// refusals are hidden from --help.
void add_softflowd_spellings(CLI::App& app, ProbeOptions& o) {
  app.add_flag_function("-d", [](std::int64_t) {}, "Accepted for softflowd: tapflow always runs in the foreground");
  app.add_option_function<std::vector<std::string>>(
         "-t", [&o](const std::vector<std::string>& settings) { apply_softflowd_timeouts(settings, o); },
         "softflowd's timeouts: -t maxlife=TIME (--active-timeout), -t general=TIME (--inactive-timeout)")
      ->allow_extra_args(false)
      ->type_name("NAME=TIME")
      ->configurable(false);
  const std::pair<const char*, const char*> valued[] = {
      {"-T", "tapflow has no -T; flows are tracked by the full 5-tuple plus ToS and interface"},
      {"-P", "tapflow has no -P; the transport is in the export URL: -n udp://HOST:PORT, tcp://HOST:PORT or "
             "sctp://HOST:PORT"},
      {"-B", "tapflow has no -B; the capture buffer is --buffer-size MIB (mebibytes, not bytes)"},
  };
  for (const auto& [name, message] : valued) {
    app.add_option_function<std::string>(name, [message = std::string(message)](const std::string&) { refuse(message); })
        ->group("")
        ->configurable(false);
  }
  const std::pair<const char*, const char*> flags[] = {
      {"-D", "tapflow has no -D; it always runs in the foreground: use --log-level debug for more detail"},
      {"-6", "tapflow has no -6; IPv6 flows are always tracked (NetFlow v5 cannot carry them: use -v 9 or -v 10)"},
      {"-b", "tapflow has no -b; flows are unidirectional (RFC 7011), one record per direction"},
  };
  for (const auto& [name, message] : flags) {
    app.add_flag_function(name, [message = std::string(message)](std::int64_t) { refuse(message); })
        ->group("")
        ->configurable(false);
  }
}

}  // namespace

namespace {
// An option whose text a parser(text, error) -> optional<T> turns into a value: check() answers
// with the parser's message, then the callback stores what it made (parsed twice, at start-up).
template <typename T, typename Parse>
void add_parsed_option(CLI::App& app, const std::string& name, T& target, Parse parse, const std::string& help) {
  app.add_option_function<std::string>(
         name,
         [&target, parse](const std::string& text) {
           std::string error;
           target = *parse(text, error);  // validated by check()
         },
         help)
      ->check([parse](const std::string& text) {
        std::string error;
        return parse(text, error) ? std::string() : error;
      });
}
}  // namespace

namespace {
// --rotate applies to file: and json: outputs except json:- (the standard output): what it does
// nothing for, and patterns that would put several intervals into one file, are said once.
void add_rotation_warnings(const ProbeOptions& o, std::vector<std::string>& warnings) {
  bool rotated = false;
  for (const auto& url : o.export_urls) {
    if (url == "json:-") {
      warnings.push_back("--rotate does not apply to json:- (the standard output), which stays one stream");
      rotated = true;  // said
      continue;
    }
    const auto path = exporter::file_output_path(url);
    if (!path) continue;
    rotated = true;
    const std::string pattern = exporter::rotation_pattern(*path, o.rotate_s);
    if (exporter::pattern_merges_intervals(pattern, o.rotate_s)) {
      warnings.push_back("--rotate " + duration_text(o.rotate_s) + ": '" + pattern +
                         "' names consecutive intervals alike, so they share a file (appended); use finer "
                         "conversions (%H%M, %S) for a file per interval");
    }
  }
  if (!rotated) warnings.push_back("--rotate applies to file: and json: outputs (-n), and there is none; ignored");
}
}  // namespace

void add_probe_options(CLI::App& app, ProbeOptions& o) {
  // No ExistingFile check: a file that cannot be opened is a read error (exit 1, one line naming
  // it, earlier files' flows still exported), as the README says, not an argument error.
  app.add_option("-r,--read", o.read_files, "Read packets from a pcap or pcapng file (repeatable)")
      ->allow_extra_args(false);
  app.add_option("-i,--interface", o.interfaces,
                 "Capture live on [IFINDEX:]IFACE (repeatable); the ifIndex is exported as "
                 "ingressInterface (default: the kernel's)")
      ->allow_extra_args(false);
  app.add_option("filter", o.filter_words, "BPF capture filter, as tcpdump takes it (live capture)");
  app.add_option("-C,--snaplen", o.snaplen, "Bytes captured per packet (live; -C as softflowd)")
      ->check(CLI::Range(64, 65535))
      ->capture_default_str();
  app.add_flag("!-N,!--no-promisc", o.promiscuous, "Do not put the interfaces in promiscuous mode (-N as softflowd)");
  app.add_option("--buffer-size", o.buffer_size_mb, "Kernel capture buffer per interface, MiB")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--rx-queues", o.rx_queues,
                 "Receive queues per interface, each with its own flow-cache worker: AF_PACKET sockets "
                 "in one fanout group (flow hash) for -i IFACE, RSS queues for -i dpdk:PORT")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  app.add_option("--dpdk-eal", o.dpdk_eal,
                 "DPDK EAL arguments for -i dpdk:PORT, as one string (e.g. \"-l 0-2 -a 0000:01:00.0\")");
  app.add_flag("--immediate", o.immediate, "Deliver packets at once rather than per ring block (lower latency, more CPU)");
  app.add_option("-p,--pidfile", o.pidfile, "Write the process id to this file (-p as softflowd)");
  app.add_option("--user", o.user, "Drop privileges to this user once the capture is open");
  app.add_option("-n,--export", o.export_urls,
                 "Export to a collector: udp://HOST:PORT, HOST:PORT (UDP), tcp://HOST:PORT (IPFIX over "
                 "TCP, reconnects by itself), sctp://HOST:PORT (IPFIX over SCTP, needs the kernel's sctp module), "
                 "failover:URL,URL... (the next collector takes over when one fails), balance:URL,URL... (records "
                 "shared in turn), "
                 "file:PATH (IPFIX file) or json:PATH (JSON lines, - = stdout); "
                 "repeatable. Without -n, flows are printed as a table on stdout")
      ->allow_extra_args(false);
  add_parsed_option(app, "--export-rate", o.export_rate, tapflow::exporter::parse_export_rate,
      "Pace each UDP destination: messages per second (2000), or bytes or bits per second (10MB/s, "
      "100Mbit/s); 0 = as fast as possible. Default 2000, which a collector with default socket "
      "buffers on the same host keeps up with");
  add_parsed_option(app, "--anonymize", o.anonymize, tapflow::exporter::parse_anonymize,
      "Anonymise the addresses every destination gets: mask:N zeroes the low N bits of IPv4 addresses, "
      "v6:M the low M bits of IPv6 ones (mask:11,v6:64); cryptopan:KEYFILE maps them prefix-preservingly "
      "(Crypto-PAn, a 32-byte key raw or in hex); multicast and broadcast kept. A destination's "
      "own URL?anonymize=SPEC (with + for ,) overrides it, none included");
  app.add_option("--prefixes", o.prefixes,
                 "Fill in AS numbers and prefix lengths (v5 src_as/dst_as and masks, IEs 16/17, 9/13, 29/30) "
                 "from FILE: lines of PREFIX/LENGTH AS [PEER-AS], or CAIDA pfx2as's ADDRESS LENGTH AS; IPv4 "
                 "and IPv6; longest match; SIGHUP reloads it. Before --anonymize. A destination's own "
                 "URL?prefixes=FILE|none overrides it")
      ->check(CLI::ExistingFile);
  app.add_option("--prefix-as", o.prefix_as,
                 "Which AS --prefixes gives: origin (the AS column) or peer (the PEER-AS column, where given)")
      ->check(CLI::IsMember({"origin", "peer"}))
      ->capture_default_str();
  add_duration_option(app, "--rotate", o.rotate_s, 1, 7u * 24 * 3600,
                      "Cut file: and json: outputs into a file per interval of the probe's clock (the packets' "
                      "time when reading files), aligned to multiples of it in UTC (300: :00, :05...); the "
                      "path's strftime conversions (%Y%m%d%H%M) name the interval's start in UTC, a path "
                      "without any gets .%Y%m%d%H%M appended");
  app.add_option("--export-ttl", o.export_ttl, "TTL (IPv4) or hop limit (IPv6) of exports to a multicast group")
      ->check(CLI::Range(1, 255))
      ->capture_default_str();
  app.add_option("--export-source", o.export_source,
                 "Source address of UDP exports (numeric; for IPv4 multicast it also picks the interface)");
  app.add_option("-v,--version-export", o.version,
                 "Export format: 5 = NetFlow v5 (IPv4 only), 9 = NetFlow v9, 10 = IPFIX")
      ->check(CLI::IsMember({5, 9, 10}))
      ->capture_default_str();
  add_parsed_option(
      app, "--decap", o.decap,
      [](const std::string& text, std::string& error) -> std::optional<std::uint16_t> {
        const auto options = parse_decap(text, error);
        if (!options) return std::nullopt;
        return options->decap;
      },
      "Key flows in these tunnels on their innermost headers, with the tunnel's id (VNI, TEID, GRE key, "
      "ERSPAN session) in the key: a comma list of gre, vxlan, geneve, gtp-u, erspan, ip-in-ip, "
      "ipv6-in-ipv4, or all; at most 3 tunnels deep");
  add_parsed_option(
      app, "--key", o.key,
      [](const std::string& text, std::string& error) -> std::optional<RecordChoice> {
        RecordChoice choice;
        if (!parse_key(text, choice, error)) return std::nullopt;
        choice.key_text = text;
        return choice;
      },
      "The flow key (Flexible NetFlow's match): a comma list of " + key_field_names() +
          ". Fields left out are 0 in the records and left out of v9/IPFIX templates; the protocol is "
          "always in the key");
  add_parsed_option(app, "--fields", o.fields, tapflow::exporter::parse_field_list,
                    "More fields in each record (Flexible NetFlow's collect), taken from the flow's first packet "
                    "(fragmentFlags: of all its packets; the lengths: its smallest and largest): a comma list of " +
                        tapflow::exporter::optional_field_names() +
                        ". v9, IPFIX, json: and the table carry them, but for the tunnel endpoints (with --decap: "
                        "the innermost tunnel's outer addresses), which only json: and the table show");
  app.add_flag("--biflow", o.biflow,
               "One record per connection (RFC 5103): forward and reverse counters, flags and times; the "
               "initiator is the SYN sender when the handshake is seen, else the first packet's source. IPFIX "
               "and json: carry the reverse elements; v5 and v9 destinations get each biflow as two uniflows");
  add_parsed_option(app, "-s,--sample", o.sampling, tapflow::cache::parse_sampling,
      "Packet sampling before the cache: N or deterministic:N (every Nth packet), random:N "
      "(one random packet in each N); the rate is announced to the collectors");
  app.add_flag("--scale-sampled", o.scale_sampled,
               "Multiply sampled packet and octet counts by the sampling interval (then no rate "
               "is announced, so collectors do not scale them again)");
  app.add_option("--engine-type", o.engine_type, "NetFlow v5 header engine_type")
      ->check(CLI::Range(0u, 255u))
      ->capture_default_str();
  app.add_option("--engine-id", o.engine_id, "NetFlow v5 header engine_id")
      ->check(CLI::Range(0u, 255u))
      ->capture_default_str();
  add_duration_option(app, "--active-timeout", o.active_timeout_s, 1, 7u * 24 * 3600, "Active timeout");
  add_duration_option(app, "--inactive-timeout", o.inactive_timeout_s, 1, 7u * 24 * 3600, "Inactive timeout");
  app.add_option("-m,--cache-size", o.cache_size, "Flow cache capacity (flows), allocated once (-m as softflowd)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--threads", o.threads,
                 "Data-path threads: 1 = read, decode and cache on one thread; N > 1 = a dispatcher plus "
                 "N-1 flow-cache shards; an export thread on top (0 = the CPUs tapflow may use, at most 8)")
      ->check(CLI::Range(0u, 64u))
      ->capture_default_str();
  app.add_option("--observation-domain", o.observation_domain_id, "IPFIX observation domain id")
      ->capture_default_str();
  app.add_option("--mtu", o.mtu, "Largest export datagram, IP and UDP headers included")
      ->check(CLI::Range(std::size_t{576}, std::size_t{65535}))
      ->capture_default_str();
  add_duration_option(app, "--template-refresh", o.template_refresh_s, 1, 86400,
                      "Resend templates over UDP every this long");
  app.add_option("--template-refresh-packets", o.template_refresh_packets,
                 "NetFlow v9 and IPFIX over UDP: also resend templates every this many messages "
                 "(0 = by time only)")
      ->capture_default_str();
  app.add_option("-c,--control", o.control_path,
                 "Control socket for 'tapflow ctl' (mode 0600; live capture default: "
                 "/run/tapflow.ctl; 'none' disables it)");
  app.add_option("--metrics", o.metrics_address, "Serve Prometheus metrics on ADDR:PORT (GET /metrics)");
  app.add_option("--stats-json", o.stats_json, "Write the run's statistics as JSON to PATH ('-' = stdout)");
  app.add_flag("!--no-progress", o.progress, "Do not show a progress bar on a terminal");
  add_softflowd_spellings(app, o);
  app.add_option("--log-level", o.log_level,
                 "Log messages of this level and above on stderr (with <N> priorities for journald "
                 "under systemd)")
      ->check(CLI::IsMember({"error", "warning", "notice", "info", "debug"}))
      ->capture_default_str();
}

std::optional<std::string> refused_combination(const ProbeOptions& o) {
  const auto elements = exporter::information_elements();
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (o.fields.test(i) && elements[i].type == exporter::DataType::kIpAddress && o.decap == 0) {
      return fmt::format("{} (--fields) is the outer address of a tunnel's inner flow: it needs --decap",
                         elements[i].name);
    }
  }
  if (o.version == 5 && !o.export_urls.empty()) {
    RecordChoice choice = o.key;
    choice.chosen |= o.fields;
    for (std::size_t i = 0; i < elements.size(); ++i) {
      if (choice.chosen.test(i) && elements[i].formats != 0) {
        return fmt::format("NetFlow v5 (-v 5) has no field for {} (--key/--fields): use -v 9 or -v 10",
                           elements[i].name);
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> options_without_effect(const CLI::App& app, const ProbeOptions& o) {
  std::vector<std::string> warnings;
  auto given = [&app](const char* name) { return app.count(name) != 0; };
  const std::string format = o.version == 10 ? "IPFIX (-v 10)" : "NetFlow v" + std::to_string(o.version) + " (-v " +
                                                                     std::to_string(o.version) + ")";
  if (o.version != 5) {
    for (const char* name : {"--engine-type", "--engine-id"}) {
      if (given(name)) warnings.push_back(std::string(name) + " sets a NetFlow v5 header field; ignored with " + format);
    }
  } else {
    if (given("--observation-domain")) {
      warnings.push_back("--observation-domain is a NetFlow v9/IPFIX header field; ignored with " + format +
                         " (its header has --engine-type and --engine-id)");
    }
    for (const char* name : {"--template-refresh", "--template-refresh-packets"}) {
      if (given(name)) warnings.push_back(std::string(name) + " does nothing with " + format + ", which has no templates; ignored");
    }
    if (o.decap != 0 && !o.export_urls.empty()) {
      warnings.push_back("--decap with " + format + ": v5 has no field for the tunnel id, so flows with equal inner "
                         "headers in different tunnels reach the collector as records it cannot tell apart "
                         "(use -v 9 or 10)");
    }
  }
  // Fields no export format carries (the tunnel endpoints): said once, for the -n destinations
  // that are not json:.
  const bool exported = std::any_of(o.export_urls.begin(), o.export_urls.end(),
                                    [](const std::string& url) { return !url.starts_with("json:"); });
  const auto elements = exporter::information_elements();
  for (std::size_t i = 0; exported && i < elements.size(); ++i) {
    if (o.fields.test(i) && elements[i].formats == 0) {
      warnings.push_back(fmt::format("{} has no NetFlow or IPFIX element (IANA registers none for tunnel "
                                     "endpoints): {} records leave it out; json: destinations and the table show it",
                                     elements[i].name, format));
    }
  }
  if (!o.read_files.empty()) {
    for (const char* name : {"--snaplen", "--no-promisc", "--buffer-size", "--immediate", "--pidfile"}) {
      if (given(name)) warnings.push_back(std::string(name) + " applies to live capture (-i); ignored with -r");
    }
  }
  if (o.export_urls.empty()) {
    for (const char* name : {"--anonymize", "--prefixes"}) {
      if (given(name)) warnings.push_back(std::string(name) + " applies to -n destinations; the table on stdout shows the flows as the cache holds them");
    }
  }
  if (given("--prefix-as") && !given("--prefixes")) {
    warnings.push_back("--prefix-as does nothing without --prefixes; ignored");
  }
  if (given("--scale-sampled") && o.sampling.mode == cache::SamplingMode::kNone) {
    warnings.push_back("--scale-sampled does nothing without sampling (-s N); ignored");
  }
  if (o.rotate_s != 0) add_rotation_warnings(o, warnings);
  return warnings;
}

}  // namespace tapflow::probe
