// tapflow: turns packets into flow records and exports them as NetFlow v5, v9 or IPFIX.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "probe/log.h"
#include "probe/collect/collector.h"
#include "exporter/exporter.h"
#include "exporter/transport/file_rotation.h"
#include "exporter/transport/file_transport.h"
#include "probe/cli.h"
#include "probe/toml_config.h"
#include "probe/ops/control_request.h"
#include "probe/ops/control_server.h"
#include "probe/ops/metrics_server.h"
#include "probe/flow_printer.h"
#include "probe/counters.h"
#include "probe/pipeline.h"
#include "probe/privileges.h"
#include "probe/runtime/stage.h"
#include "probe/runtime_config.h"
#include "drivers/af_packet/af_packet_driver.h"
#include "drivers/dpdk/dpdk_driver.h"
#include "drivers/pcap_files_driver.h"
#include "drivers/pcap_live_reader.h"
#include "probe/probe_options.h"

namespace {

using tapflow::probe::ProbeOptions;
using tapflow::probe::add_probe_options;

// Exit status when every input was read but records did not reach a destination (tapflow(8)).
constexpr int kExitRecordsLost = 4;

// The control socket of a live capture when --control is not given; as --user, one in a
// directory tapflow makes for the user (so that it can remove the socket at exit).
constexpr const char* kControlPath = "/run/tapflow.ctl";
constexpr const char* kUserControlPath = "/run/tapflow/tapflow.ctl";

std::atomic<bool> g_stop{false};

std::atomic<bool> g_reopen{false};

// The first SIGINT/SIGTERM stops the run gracefully; a second one, while the flows are still being
// exported, ends the process at once.
void on_stop_signal(int signal_number) {
  if (g_stop.exchange(true)) {
    signal(signal_number, SIG_DFL);
    raise(signal_number);
  }
}
void on_reopen_signal(int) { g_reopen.store(true); }

// `systemctl reload` (packaging/tapflow.service) sends SIGHUP: file: outputs are reopened (log
// rotation) between two batches; it never stops the probe.
void install_reopen_handler() {
  struct sigaction hup {};
  hup.sa_handler = on_reopen_signal;
  hup.sa_flags = SA_RESTART;  // never an error in a read it lands in
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
}

void on_interrupt_signal(int) {}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;  // a read that a stop signal lands in goes on; the runtime interrupts it
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // The runtime's interrupt (probe/runtime/stage.h): no SA_RESTART, so a read from a pipe with no
  // writer returns EINTR and the stage sees the stop.
  struct sigaction urg {};
  urg.sa_handler = on_interrupt_signal;
  sigemptyset(&urg.sa_mask);
  sigaction(tapflow::probe::runtime::kInterruptSignal, &urg, nullptr);
  install_reopen_handler();
}

// Writes `text` to `path` (created or truncated; a symbolic link only when its owner is us or
// root, see exporter::open_output_file). False with errno set on failure.
bool write_output(const std::string& path, const std::string& text) {
  const int fd = tapflow::exporter::open_output_file(path, O_WRONLY | O_CREAT | O_TRUNC);
  if (fd < 0) return false;
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  if (const int error = tapflow::exporter::write_all(fd, bytes); error != 0) {
    close(fd);
    errno = error;
    return false;
  }
  return close(fd) == 0;
}

std::string output_error() {
  return errno == ELOOP ? "a symbolic link owned by another user (not followed)" : std::strerror(errno);
}

class PidFile {
 public:
  // With `user` (--user), the file is given to it, so that it stays the user's to replace.
  PidFile(std::string path, const tapflow::probe::RunAsUser* user) : path_(std::move(path)) {
    if (path_.empty()) return;
    if (!write_output(path_, std::to_string(getpid()) + "\n")) {
      throw std::runtime_error("cannot write pid file '" + path_ + "': " + output_error());
    }
    if (user != nullptr) tapflow::probe::give_to(*user, path_);
  }
  ~PidFile() {
    if (!path_.empty()) std::remove(path_.c_str());
  }

 private:
  std::string path_;
};

// --user, before anything is opened as root: the file outputs must be creatable by the user
// after the drop. A --rotate pattern's directory is where every interval's file is made, so one
// the user cannot write is refused (std::invalid_argument); a plain file is only recreated after
// a SIGHUP (the file renamed away, log rotation), so that case is a warning.
void check_output_directories(const ProbeOptions& options, const tapflow::probe::RunAsUser& user) {
  std::vector<std::string> urls, directories;
  for (const auto& url : options.export_urls) {
    const auto path = tapflow::exporter::file_output_path(url);
    if (!path) continue;
    urls.push_back(url);
    directories.push_back(tapflow::probe::existing_directory_of(
        options.rotate_s != 0 ? tapflow::exporter::rotation_base_directory(*path) + "/x" : *path));
  }
  const auto writable = tapflow::probe::writable_by(user, directories);
  for (std::size_t i = 0; i < urls.size(); ++i) {
    if (writable[i]) continue;
    if (options.rotate_s != 0) {
      throw std::invalid_argument("--user " + user.name + " --rotate: the files of " + urls[i] +
                                  " cannot be created: directory '" + directories[i] + "' is not writable by " +
                                  user.name);
    }
    tapflow::log::warning("--user {}: directory '{}' is not writable by {}: after a SIGHUP with the file of {} "
                          "renamed away (log rotation), no new file can be made and its records are lost",
                          user.name, directories[i], user.name, urls[i]);
  }
}

// --stats-json PATH as --user: opened (created if missing, not truncated) before the drop and
// written at the end through that descriptor, so a directory or file of root's is no obstacle.
int open_stats_json_early(const std::string& path, const tapflow::probe::RunAsUser& user) {
  const int fd = tapflow::exporter::open_output_file(path, O_WRONLY | O_CREAT);
  if (fd < 0) throw std::runtime_error("cannot write statistics to '" + path + "': " + output_error());
  if (const int error = tapflow::exporter::give_output_file(fd, static_cast<int>(user.uid), static_cast<int>(user.gid));
      error != 0) {
    close(fd);
    throw std::runtime_error("--user " + user.name + ": cannot give '" + path + "' to " + user.name + ": " +
                             std::strerror(error));
  }
  return fd;
}

// Replaces what `fd` holds with `text`. False with errno set on failure.
bool rewrite_output(int fd, const std::string& text) {
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)) return false;
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  if (const int error = tapflow::exporter::write_all(fd, bytes); error != 0) {
    errno = error;
    return false;
  }
  return true;
}

// Opens the capture source the options name: the -r files, or the -i interfaces (throws
// std::runtime_error naming an interface that cannot be opened).
std::unique_ptr<tapflow::drivers::Driver> open_driver(const ProbeOptions& options) {
  if (!options.read_files.empty()) return std::make_unique<tapflow::drivers::PcapFilesDriver>(options.read_files);
  if (tapflow::drivers::is_dpdk_interface(options.interfaces.front())) {
    tapflow::drivers::DpdkOptions dpdk;
    dpdk.eal_arguments = tapflow::drivers::split_eal_arguments(options.dpdk_eal);
    for (const auto& spec : options.interfaces) dpdk.ports.push_back(tapflow::drivers::parse_dpdk_port(spec));
    dpdk.rx_queues = options.rx_queues;
    dpdk.promiscuous = options.promiscuous;
    return tapflow::drivers::open_dpdk_driver(dpdk);
  }
  if (options.rx_queues > 1) {
    // Several sockets in one fanout group per interface, each with its own worker.
    tapflow::drivers::AfPacketOptions fanout;
    for (const auto& spec : options.interfaces) fanout.interfaces.push_back(tapflow::drivers::parse_interface(spec));
    fanout.queues = options.rx_queues;
    fanout.filter = options.filter;
    fanout.snaplen = options.snaplen;
    fanout.promiscuous = options.promiscuous;
    fanout.ring_bytes = static_cast<std::size_t>(options.buffer_size_mb) << 20;
    fanout.immediate = options.immediate;
    return std::make_unique<tapflow::drivers::AfPacketDriver>(fanout);
  }
  tapflow::drivers::LiveCaptureOptions capture;
  for (const auto& spec : options.interfaces) capture.interfaces.push_back(tapflow::drivers::parse_interface(spec));
  capture.filter = options.filter;
  capture.snaplen = options.snaplen;
  capture.promiscuous = options.promiscuous;
  capture.buffer_size = options.buffer_size_mb << 20;
  capture.immediate = options.immediate;
  return std::make_unique<tapflow::drivers::PcapLiveReader>(capture);
}

// -i dpdk:PORT: all interfaces or none, no BPF filter (the ports are read by DPDK, not the
// kernel), a build with DPDK. 0 if fine, else the exit status after one line.
int check_dpdk_options(const ProbeOptions& options) {
  const auto dpdk = std::count_if(options.interfaces.begin(), options.interfaces.end(),
                                  [](const std::string& s) { return tapflow::drivers::is_dpdk_interface(s); });
  if (dpdk == 0) {
    if (options.dpdk_eal.empty()) return 0;
    tapflow::log::error("--dpdk-eal needs -i dpdk:PORT");
    return 2;
  }
  if (!tapflow::drivers::dpdk_built_in()) {
    tapflow::log::error("{}", tapflow::drivers::DpdkUnavailable().what());
    return 2;
  }
  if (static_cast<std::size_t>(dpdk) != options.interfaces.size()) {
    tapflow::log::error("-i dpdk:PORT cannot be mixed with other interfaces");
    return 2;
  }
  if (!options.filter.empty()) {
    tapflow::log::error("a capture filter ('{}') cannot apply to -i dpdk:PORT (DPDK ports have no BPF)", options.filter);
    return 2;
  }
  for (const auto& spec : options.interfaces) {
    try {
      tapflow::drivers::parse_dpdk_port(spec);
    } catch (const std::invalid_argument& e) {
      tapflow::log::error("{}", e.what());
      return 2;
    }
  }
  return 0;
}

int run_probe(ProbeOptions& options, const std::vector<std::string>& warnings) {
  if (tapflow::log::Level level; tapflow::log::parse_level(options.log_level, level)) {
    tapflow::log::set_threshold(level);
  }
  for (const auto& w : options.filter_words) options.filter += (options.filter.empty() ? "" : " ") + w;
  // softflowd's `-n host1:port1,host2:port2`: one destination each (a file: path keeps its commas,
  // a failover: or balance: group is one destination made of its members).
  std::vector<std::string> urls;
  for (const auto& url : options.export_urls) {
    if (url.starts_with("file:") || url.starts_with("failover:") || url.starts_with("balance:") ||
        url.find(',') == std::string::npos) {
      urls.push_back(url);
      continue;
    }
    for (std::size_t begin = 0, end; begin <= url.size(); begin = end + 1) {
      end = std::min(url.find(',', begin), url.size());
      urls.push_back(url.substr(begin, end - begin));
    }
  }
  options.export_urls = std::move(urls);
  if (options.read_files.empty() == options.interfaces.empty()) {
    tapflow::log::error("{}", options.read_files.empty()
                                  ? "nothing to read: give -r FILE or -i IFACE (see --help)"
                                  : "give either -r FILE or -i IFACE, not both");
    return 2;
  }
  for (const auto& w : options.filter_words) {
    // An option CLI11 did not know, after -i IFACE, lands among the filter words: it is a
    // mistake, not BPF (a BPF word never starts with a dash; a lone "-" is subtraction).
    if (w.size() > 1 && w[0] == '-') {
      tapflow::log::error("unknown option '{}' (see --help); a capture filter comes last, in tcpdump syntax", w);
      return 2;
    }
  }
  if (options.rx_queues > 1 && options.interfaces.empty()) {
    tapflow::log::error("--rx-queues applies to live capture (-i IFACE); a file is one stream (use --threads)");
    return 2;
  }
  if (!options.filter.empty() && options.interfaces.empty()) {
    tapflow::log::error("unexpected argument '{}' (a capture filter needs -i)", options.filter);
    return 2;
  }
  for (const auto& w : warnings) tapflow::log::warning("{}", w);
  if (const int status = check_dpdk_options(options); status != 0) return status;
  // SIGINT/SIGTERM stop reading (a conversion as well as a live capture) and every flow is still
  // exported; SIGHUP reopens file outputs; SIGPIPE (a ctl client or a file: FIFO reader that went
  // away) is an error on that descriptor, never the end of the run.
  install_signal_handlers();
  // --user as root: what is opened or made before the drop is prepared for the user
  // (probe/privileges.h). Not root: the drop itself fails, as it always did.
  std::optional<tapflow::probe::RunAsUser> user;
  int stats_json_fd = -1;
  tapflow::probe::FlowPrinter printer(stdout);
  std::unique_ptr<tapflow::probe::Pipeline> pipeline;
  try {
    if (!options.user.empty()) {
      user = tapflow::probe::lookup_user(options.user);
      if (geteuid() == 0) check_output_directories(options, *user);
    }
    tapflow::probe::RuntimeConfig config = tapflow::probe::make_runtime_config(options);
    printer.set_fields(config.export_config.options.template_spec());
    if (user && geteuid() == 0) {
      config.export_config.options.output_owner_uid = static_cast<int>(user->uid);
      config.export_config.options.output_owner_gid = static_cast<int>(user->gid);
    }
    pipeline = std::make_unique<tapflow::probe::Pipeline>(config, options.export_urls.empty() ? &printer : nullptr);
    if (user && geteuid() == 0 && !options.stats_json.empty() && options.stats_json != "-") {
      stats_json_fd = open_stats_json_early(options.stats_json, *user);
    }
  } catch (const std::exception& e) {
    tapflow::log::error("{}", e.what());
    return 2;
  }
  pipeline->watch_reopen(&g_reopen);
  int status = 0;
  try {
    // The capture first: as a user who may not capture, its error (run as root or give
    // CAP_NET_RAW) is the one to see, not the control socket's EACCES on /run; and a ctl question
    // asked while the pipeline never runs would wait for ever. A second instance on the same
    // control socket still stops at the socket, before reading anything.
    const std::unique_ptr<tapflow::drivers::Driver> driver = open_driver(options);
    std::string control_path = options.control_path;
    // As --user the socket must be removable at exit by the user, which /run is not: the default
    // is then in a directory of its own (packaging/tapflow.service's path), made for the user.
    if (control_path.empty() && !options.interfaces.empty()) control_path = user ? kUserControlPath : kControlPath;
    const bool prepare = user && geteuid() == 0;
    const std::string pidfile_path = options.interfaces.empty() ? std::string() : options.pidfile;
    if (prepare && !control_path.empty() && control_path != "none") {
      tapflow::probe::prepare_runtime_directory(*user, control_path, "the control socket");
    }
    if (prepare && !pidfile_path.empty()) tapflow::probe::prepare_runtime_directory(*user, pidfile_path, "the pid file");
    std::unique_ptr<tapflow::probe::ControlServer> control;
    if (!control_path.empty() && control_path != "none") {
      control = std::make_unique<tapflow::probe::ControlServer>(control_path, *pipeline);
      if (prepare) tapflow::probe::give_to(*user, control_path);
    }
    std::unique_ptr<tapflow::probe::MetricsServer> metrics;
    if (!options.metrics_address.empty()) {
      metrics = std::make_unique<tapflow::probe::MetricsServer>(options.metrics_address, *pipeline);
    }
    if (!options.interfaces.empty()) {
      // One line for the journal: what is captured, with which filter, and where it goes.
      std::string where;
      for (const auto& url : options.export_urls) where += (where.empty() ? "" : ", ") + url;
      tapflow::log::notice("capturing on {}{}; exporting {} to {}", fmt::join(options.interfaces, ", "),
                           options.filter.empty() ? std::string() : " (filter '" + options.filter + "')",
                           options.version == 10 ? std::string("IPFIX") : "NetFlow v" + std::to_string(options.version),
                           where.empty() ? std::string("the table on stdout") : where);
    }
    PidFile pidfile(pidfile_path, prepare ? &*user : nullptr);
    // Once the capture is open, nothing else needs root.
    if (user) tapflow::probe::drop_privileges(*user);
    status = pipeline->run(*driver, g_stop);
  } catch (const std::invalid_argument& e) {
    tapflow::log::error("{}", e.what());  // a bad argument found late (--metrics ADDR:PORT)
    return 2;
  } catch (const std::exception& e) {
    tapflow::log::error("{}", e.what());
    return 1;
  }
  std::fflush(stdout);
  if (status == tapflow::probe::Pipeline::kExitInterrupted) {
    tapflow::log::notice("stopped by a signal before the end of the input; every flow read was exported");
  }
  // Records that did not reach a destination change the exit status (4) unless a worse one is
  // already set: a run that lost records never looks like one that did not.
  const auto& final_stats = pipeline->stats();
  bool lost = final_stats.records_not_printed != 0;
  if (final_stats.records_dropped != 0) {
    lost = true;
    tapflow::log::error("{} records were dropped because the export could not keep up (see --export-rate)",
                        final_stats.records_dropped);
  }
  for (const auto& e : final_stats.exporters) {
    if (e.counters.records_unsent == 0) continue;
    lost = true;
    tapflow::log::error("{} of {} records did not reach {} ({} messages failed; see the summary)",
                        e.counters.records_unsent, e.counters.records, e.destination, e.counters.send_errors);
  }
  if (lost && status == 0) status = kExitRecordsLost;
  // Nothing read at all (every -r file missing or unreadable): the error lines say it all, a
  // summary of zeros would only bury them.
  const bool nothing_read = final_stats.packets_read == 0 && final_stats.files_read == 0 && final_stats.file_errors != 0;
  if (tapflow::log::enabled(tapflow::log::Level::kNotice) && !nothing_read) {
    fmt::print(stderr, "{}", tapflow::probe::format_summary(pipeline->stats()));
  }
  if (!options.stats_json.empty()) {
    const std::string text = tapflow::probe::to_json(pipeline->stats()).dump(2) + "\n";
    if (options.stats_json == "-") {
      fmt::print("{}", text);
    } else {
      const bool written = stats_json_fd >= 0 ? rewrite_output(stats_json_fd, text) && close(stats_json_fd) == 0
                                              : write_output(options.stats_json, text);
      if (!written) {
        tapflow::log::error("cannot write statistics to '{}': {}", options.stats_json, output_error());
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
  // Every long option can also come from a TOML file: `interface = ["eth0"]` (probe/toml_config.h
  // checks it with line numbers, CLI11 then applies each option's own checks).
  app.set_config("--config", "", "Read options from this TOML file (command line wins)");
  // A misspelt name in a configuration file is an error, not a setting silently ignored.
  app.allow_config_extras(CLI::config_extras_mode::error);
  const auto toml_config = std::make_shared<tapflow::probe::TomlConfig>(app);
  app.config_formatter(toml_config);

  tapflow::probe::CollectorOptions collect_options;
  CLI::App* collect = app.add_subcommand("collect", "Receive NetFlow/IPFIX and print the records as text");
  collect->add_option("--listen", collect_options.listen,
                      "udp://ADDR:PORT, udp://[V6]:PORT, tcp://ADDR:PORT, sctp://ADDR:PORT (IPFIX) or file:PATH")
      ->required();
  collect->add_option("--max-records", collect_options.max_records, "Stop after this many records");
  collect->add_flag("--json", collect_options.json,
                    "Print records as JSON lines, with the field names of -n json: and ctl flows --json");
  collect->add_option("--idle-timeout", collect_options.idle_timeout_ms,
                      "Stop after this many milliseconds without a datagram");

  std::string control_path = kControlPath;
  std::vector<std::string> control_words;
  bool control_json = false;
  CLI::App* ctl = app.add_subcommand("ctl", "Query a running tapflow through its control socket");
  ctl->add_option("-s,--socket", control_path, "Control socket path")->capture_default_str();
  ctl->add_flag("--json", control_json, "Answer as JSON");
  ctl->add_option("request", control_words,
                  std::string(tapflow::probe::kControlUsage.substr(0, tapflow::probe::kControlUsage.find("  ("))))
      ->required();

  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    // Bad arguments: exit 2 with one line (CLI11_PARSE would exit 105-ish with two lines).
    tapflow::log::error("{} (see --help)", toml_config->locate(e.what()));
    return 2;
  }
  catch (const std::exception& e) {
    // CLI11 2.1 lets std::stoll's out_of_range escape for a flag given a huge number
    // (`--no-progress=99999999999999999999`, or the same in a --config file): still a bad argument.
    tapflow::log::error("bad argument: a value is out of range ({}) (see --help)", e.what());
    return 2;
  }
  if (collect->parsed()) return tapflow::probe::run_collector(collect_options);
  if (ctl->parsed()) {
    // Without -s: the default socket, or the one a probe run with --user (or under systemd) has.
    if (ctl->count("--socket") == 0 && access(kControlPath, F_OK) != 0 && access(kUserControlPath, F_OK) == 0) {
      control_path = kUserControlPath;
    }
    std::string request;
    for (const auto& w : control_words) request += (request.empty() ? "" : " ") + w;
    if (control_json) request += " --json";
    // A malformed request is refused here, before connecting: exit 2 as for any bad argument.
    if (std::string error; !tapflow::probe::parse_control_request(request, error)) {
      fmt::print(stderr, "tapflow ctl: {}\nusage: tapflow ctl [-s PATH] [--json] {}\n", error,
                 tapflow::probe::kControlUsage.substr(0, tapflow::probe::kControlUsage.find("  (")));
      return 2;
    }
    return tapflow::probe::run_control_client(control_path, request);
  }
  if (const auto refused = tapflow::probe::refused_combination(options)) {
    tapflow::log::error("{}", *refused);
    return 2;
  }
  return run_probe(options, tapflow::probe::options_without_effect(app, options));
}
