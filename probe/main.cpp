// tapflow: turns packets into flow records and exports them as IPFIX (NetFlow v5/v9 next).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cache/log.h"
#include "exporter/collector.h"
#include "exporter/exporter.h"
#include "probe/cli.h"
#include "probe/control_server.h"
#include "probe/metrics_server.h"
#include "probe/flow_printer.h"
#include "probe/pipeline.h"
#include "probe/probe_options.h"

namespace {

using tapflow::probe::ProbeOptions;
using tapflow::probe::add_probe_options;

std::atomic<bool> g_stop{false};

std::atomic<bool> g_reopen{false};

void on_stop_signal(int) { g_stop.store(true); }
void on_reopen_signal(int) { g_reopen.store(true); }

// `systemctl reload` (packaging/tapflow.service) sends SIGHUP: file: outputs are reopened (log
// rotation) between two batches; it never stops the probe.
void install_reopen_handler() {
  struct sigaction hup {};
  hup.sa_handler = on_reopen_signal;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  install_reopen_handler();
}

// Drops root to `user` (its primary group, no supplementary groups). Throws on failure: running
// on as root when the user asked otherwise would be worse than stopping.
void drop_privileges(const std::string& user) {
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) throw std::runtime_error("--user: no such user '" + user + "'");
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
    throw std::runtime_error("--user " + user + ": cannot drop privileges: " + std::strerror(errno));
  }
}

class PidFile {
 public:
  explicit PidFile(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
    std::ofstream out(path_);
    out << getpid() << "\n";
    if (!out) throw std::runtime_error("cannot write pid file '" + path_ + "'");
  }
  ~PidFile() {
    if (!path_.empty()) std::remove(path_.c_str());
  }

 private:
  std::string path_;
};

int run_probe(ProbeOptions& options) {
  if (tapflow::log::Level level; tapflow::log::parse_level(options.log_level, level)) {
    tapflow::log::set_threshold(level);
  }
  for (const auto& w : options.filter_words) options.filter += (options.filter.empty() ? "" : " ") + w;
  if (options.read_files.empty() == options.interfaces.empty()) {
    tapflow::log::error("{}", options.read_files.empty()
                                  ? "nothing to read: give -r FILE or -i IFACE (see --help)"
                                  : "give either -r FILE or -i IFACE, not both");
    return 2;
  }
  if (!options.filter.empty() && options.interfaces.empty()) {
    tapflow::log::error("unexpected argument '{}' (a capture filter needs -i)", options.filter);
    return 2;
  }
  std::vector<std::unique_ptr<tapflow::exporter::FlowExporter>> exporters;
  // What the collectors are told of sampling: nothing when the counts are already scaled, or
  // collectors that renormalise would multiply them a second time.
  tapflow::exporter::Sampling sampling;
  if (options.sampling.mode != tapflow::cache::SamplingMode::kNone && !options.scale_sampled) {
    sampling.mode = options.sampling.mode == tapflow::cache::SamplingMode::kRandom
                        ? tapflow::exporter::Sampling::Mode::kRandom
                        : tapflow::exporter::Sampling::Mode::kDeterministic;
    sampling.interval = options.sampling.interval;
  }
  // The pipeline exists only once the exporters do; the reliability statistics ask it through
  // this pointer, on the exporting thread, after it is set.
  tapflow::probe::Pipeline* pipeline_for_totals = nullptr;
  tapflow::exporter::ExportOptions export_options{
      .version = options.version,
      .observation_domain_id = options.observation_domain_id,
      .engine_type = static_cast<std::uint8_t>(options.engine_type),
      .engine_id = static_cast<std::uint8_t>(options.engine_id),
      .mtu = options.mtu,
      .template_refresh_interval_s = options.template_refresh_s,
      .template_refresh_packets = options.template_refresh_packets,
      .sampling = sampling,
      .totals = [&pipeline_for_totals] {
        return pipeline_for_totals ? pipeline_for_totals->export_totals() : tapflow::exporter::ProbeTotals{};
      }};
  // Files: the exporters' clock is the packets' time (kept by the pipeline), so a capture
  // converts to the same export whenever it is converted. Live: the wall clock.
  std::atomic<std::uint64_t> packet_clock{0};
  tapflow::exporter::Clock clock = tapflow::exporter::system_clock_ns;
  if (!options.read_files.empty()) {
    clock = [&packet_clock] { return packet_clock.load(std::memory_order_relaxed); };
  }
  try {
    for (const auto& url : options.export_urls) {
      exporters.push_back(tapflow::exporter::make_exporter(url, export_options, clock));
    }
  } catch (const std::exception& e) {
    tapflow::log::error("{}", e.what());
    return 2;
  }
  tapflow::probe::FlowPrinter printer(stdout);
  tapflow::probe::Pipeline pipeline(options, std::move(exporters),
                                    options.export_urls.empty() ? &printer : nullptr, &packet_clock);
  pipeline_for_totals = &pipeline;
  pipeline.watch_reopen(&g_reopen);
  int status = 0;
  try {
    std::string control_path = options.control_path;
    if (control_path.empty() && !options.interfaces.empty()) control_path = "/run/tapflow.ctl";
    std::unique_ptr<tapflow::probe::ControlServer> control;
    if (!control_path.empty() && control_path != "none") {
      control = std::make_unique<tapflow::probe::ControlServer>(control_path, pipeline);
    }
    std::unique_ptr<tapflow::probe::MetricsServer> metrics;
    if (!options.metrics_address.empty()) {
      metrics = std::make_unique<tapflow::probe::MetricsServer>(options.metrics_address, pipeline);
    }
    if (!options.read_files.empty()) {
      install_reopen_handler();  // SIGINT/SIGTERM keep their default: they stop a conversion
      status = pipeline.run_files();
    } else {
      install_signal_handlers();
      PidFile pidfile(options.pidfile);
      status = pipeline.run_live(g_stop, [&options] {
        if (!options.user.empty()) drop_privileges(options.user);
      });
    }
  } catch (const std::exception& e) {
    tapflow::log::error("{}", e.what());
    return 1;
  }
  std::fflush(stdout);
  if (tapflow::log::enabled(tapflow::log::Level::kNotice)) {
    fmt::print(stderr, "{}", tapflow::probe::format_summary(pipeline.stats()));
  }
  if (!options.stats_json.empty()) {
    const std::string text = tapflow::probe::to_json(pipeline.stats()).dump(2) + "\n";
    if (options.stats_json == "-") {
      fmt::print("{}", text);
    } else {
      std::ofstream out(options.stats_json);
      out << text;
      if (!out) {
        tapflow::log::error("cannot write statistics to '{}'", options.stats_json);
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
  // Every long option can also come from an INI/TOML file (CLI11): `interface = ["eth0"]`.
  app.set_config("--config", "", "Read options from this file (TOML/INI; command line wins)");
  // A misspelt name in a configuration file is an error, not a setting silently ignored.
  app.allow_config_extras(CLI::config_extras_mode::error);

  tapflow::exporter::CollectorOptions collect_options;
  CLI::App* collect = app.add_subcommand("collect", "Receive NetFlow/IPFIX and print the records as text");
  collect->add_option("--listen", collect_options.listen,
                      "udp://ADDR:PORT, udp://[V6]:PORT, tcp://ADDR:PORT, sctp://ADDR:PORT (IPFIX) or file:PATH")
      ->required();
  collect->add_option("--max-records", collect_options.max_records, "Stop after this many records");
  collect->add_option("--idle-timeout", collect_options.idle_timeout_ms,
                      "Stop after this many milliseconds without a datagram");

  std::string control_path = "/run/tapflow.ctl";
  std::vector<std::string> control_words;
  bool control_json = false;
  CLI::App* ctl = app.add_subcommand("ctl", "Query a running tapflow through its control socket");
  ctl->add_option("-s,--socket", control_path, "Control socket path")->capture_default_str();
  ctl->add_flag("--json", control_json, "Answer as JSON");
  ctl->add_option("request", control_words,
                  "stats | flows [N] | top N [bytes|packets|flows] | expire")
      ->required();

  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    // Bad arguments: exit 2 with one line (CLI11_PARSE would exit 105-ish with two lines).
    tapflow::log::error("{} (see --help)", e.what());
    return 2;
  }
  catch (const std::exception& e) {
    // CLI11 2.1 lets std::stoll's out_of_range escape for a flag given a huge number
    // (`--no-progress=99999999999999999999`, or the same in a --config file): still a bad argument.
    tapflow::log::error("bad argument: a value is out of range ({}) (see --help)", e.what());
    return 2;
  }
  if (collect->parsed()) return tapflow::exporter::run_collector(collect_options);
  if (ctl->parsed()) {
    std::string request;
    for (const auto& w : control_words) request += (request.empty() ? "" : " ") + w;
    if (control_json) request += " --json";
    return tapflow::probe::run_control_client(control_path, request);
  }
  return run_probe(options);
}
