// tapflow: turns packets into flow records and exports them as IPFIX (NetFlow v5/v9 next).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "exporter/exporter.h"
#include "probe/flow_printer.h"
#include "probe/pipeline.h"
#include "probe/probe_options.h"

namespace {

using tapflow::probe::ProbeOptions;

void add_probe_options(CLI::App& app, ProbeOptions& o) {
  app.add_option("-r,--read", o.read_files, "Read packets from a pcap or pcapng file (repeatable)")
      ->check(CLI::ExistingFile);
  app.add_option("-n,--export", o.export_urls,
                 "Export to a collector: udp://HOST:PORT, HOST:PORT (UDP) or file:PATH (IPFIX file); "
                 "repeatable. Without -n, flows are printed as a table on stdout");
  app.add_option("-v,--version-export", o.version, "Export format: 10 = IPFIX")
      ->check(CLI::IsMember({10}))
      ->capture_default_str();
  app.add_option("--active-timeout", o.active_timeout_s, "Active timeout in seconds")
      ->check(CLI::Range(1u, 7u * 24 * 3600))
      ->capture_default_str();
  app.add_option("--inactive-timeout", o.inactive_timeout_s, "Inactive timeout in seconds")
      ->check(CLI::Range(1u, 7u * 24 * 3600))
      ->capture_default_str();
  app.add_option("--cache-size", o.cache_size, "Flow cache capacity (flows), allocated once")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--threads", o.threads,
                 "Flow-cache shards, one worker thread each (0 = one per core, at most 8; "
                 "1 = everything on one thread)")
      ->check(CLI::Range(0u, 64u))
      ->capture_default_str();
  app.add_option("--observation-domain", o.observation_domain_id, "IPFIX observation domain id")
      ->capture_default_str();
  app.add_option("--mtu", o.mtu, "Largest export datagram, IP and UDP headers included")
      ->check(CLI::Range(std::size_t{576}, std::size_t{65535}))
      ->capture_default_str();
  app.add_option("--template-refresh", o.template_refresh_s,
                 "Resend templates over UDP every this many seconds")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  app.add_option("--stats-json", o.stats_json, "Write the run's statistics as JSON to PATH ('-' = stdout)");
  app.add_flag("!--no-progress", o.progress, "Do not show a progress bar on a terminal");
}

int run_probe(const ProbeOptions& options) {
  if (options.read_files.empty()) {
    fmt::print(stderr, "tapflow: nothing to read: give -r FILE (see --help)\n");
    return 2;
  }
  std::vector<std::unique_ptr<tapflow::exporter::FlowExporter>> exporters;
  tapflow::exporter::ExportOptions export_options{
      .version = options.version,
      .observation_domain_id = options.observation_domain_id,
      .mtu = options.mtu,
      .template_refresh_interval_s = options.template_refresh_s};
  try {
    for (const auto& url : options.export_urls) {
      exporters.push_back(tapflow::exporter::make_exporter(url, export_options));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "tapflow: {}\n", e.what());
    return 2;
  }
  tapflow::probe::FlowPrinter printer(stdout);
  tapflow::probe::Pipeline pipeline(options, std::move(exporters),
                                    options.export_urls.empty() ? &printer : nullptr);
  const int status = pipeline.run_files();
  std::fflush(stdout);
  fmt::print(stderr, "{}", tapflow::probe::format_summary(pipeline.stats()));
  if (!options.stats_json.empty()) {
    const std::string text = tapflow::probe::to_json(pipeline.stats()).dump(2) + "\n";
    if (options.stats_json == "-") {
      fmt::print("{}", text);
    } else {
      std::ofstream out(options.stats_json);
      out << text;
      if (!out) {
        fmt::print(stderr, "tapflow: cannot write statistics to '{}'\n", options.stats_json);
        return 1;
      }
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tapflow: flow probe and NetFlow/IPFIX exporter"};
  app.set_version_flag("--version", "tapflow 0.1.0");
  ProbeOptions options;
  add_probe_options(app, options);
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  return run_probe(options);
}
