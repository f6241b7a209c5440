#include "exporter/exporter.h"

#include <chrono>
#include <stdexcept>
#include <string>

#include "exporter/anonymize/anonymizer.h"
#include "exporter/biflow/uniflow_exporter.h"
#include "exporter/group_exporter.h"
#include "exporter/json/json_lines_exporter.h"
#include "exporter/prefixes/prefix_exporter.h"
#include "exporter/transport/endpoint_url.h"
#include "exporter/transport/file_transport.h"
#include "exporter/message_exporter.h"
#include "exporter/transport/sctp_transport.h"
#include "exporter/transport/tcp_transport.h"
#include "exporter/transport/udp_transport.h"

namespace tapflow::exporter {

std::uint64_t system_clock_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

namespace {
std::unique_ptr<FlowExporter> make_unwrapped(std::string_view url, const ExportOptions& options, Clock clock);
}  // namespace

std::unique_ptr<FlowExporter> make_exporter(std::string_view url, const ExportOptions& options,
                                            Clock clock) {
  const bool group = url.starts_with("failover:") || url.starts_with("balance:");
  if (group) {  // each member applies the stages (or its own ?anonymize= / ?prefixes=)
    return make_unwrapped(url, options, std::move(clock));
  }
  // URL?anonymize=SPEC&prefixes=FILE|none on one destination overrides --anonymize / --prefixes
  // for it alone.
  AnonymizeSpec spec = options.anonymize;
  std::shared_ptr<PrefixSource> prefixes = options.prefixes;
  std::string_view base = url;
  if (const auto query = url.find('?'); query != std::string_view::npos) {
    base = url.substr(0, query);
    std::string_view rest = url.substr(query + 1);
    const auto bad = [url](const std::string& why) {
      return std::runtime_error("export URL '" + std::string(url) + "': " + why);
    };
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view param = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (param.starts_with("anonymize=")) {
        std::string error;
        const auto parsed = parse_anonymize(param.substr(10), error);
        if (!parsed) throw bad(error);
        spec = *parsed;
      } else if (param.starts_with("prefixes=")) {
        const std::string path(param.substr(9));
        if (path == "none") {
          prefixes = nullptr;
        } else if (path.empty()) {
          throw bad("prefixes= needs a file, or none");
        } else if (options.prefixes == nullptr || options.prefixes->path() != path) {
          prefixes = std::make_shared<PrefixSource>(path, options.peer_as);
        }
      } else {
        throw bad("unknown option '" + std::string(param) + "' (expected anonymize=SPEC or prefixes=FILE|none, "
                  "joined by &)");
      }
    }
  }
  ExportOptions inner = options;
  inner.anonymize = {};  // applied once, here
  inner.prefixes = nullptr;
  inner.routing_fields = prefixes != nullptr;
  auto e = make_unwrapped(base, inner, std::move(clock));
  // AS numbers from the real addresses, then anonymisation.
  if (spec.active()) e = std::make_unique<AnonymizingExporter>(spec, std::move(e));
  if (prefixes) e = std::make_unique<PrefixExporter>(std::move(prefixes), std::move(e));
  return e;
}

namespace {
std::unique_ptr<FlowExporter> make_unwrapped(std::string_view url, const ExportOptions& options, Clock clock) {
  if (url.starts_with("json:")) {
    // JSON lines: not a NetFlow format, so any -v; '-' is standard output.
    std::string path(url.substr(5));
    if (path.empty()) throw std::runtime_error("export URL '" + std::string(url) + "': json: needs a path, or - for standard output");
    FileOptions file{.clock = clock, .owner_uid = options.output_owner_uid, .owner_gid = options.output_owner_gid,
                     .what = "JSON lines file"};
    if (path == "-") {
      path = "/dev/stdout";
      file.reopenable = false;  // not a file of ours to reopen, nor to rotate
      file.owner_uid = -1;
    } else {
      file.rotate_interval_s = options.rotate_interval_s;
    }
    return std::make_unique<JsonLinesExporter>(std::make_unique<FileTransport>(path, std::move(file)),
                                               std::string(url), options.template_spec());
  }
  for (const auto& [prefix, mode] : {std::pair{std::string_view("failover:"), GroupExporter::Mode::kFailover},
                                     std::pair{std::string_view("balance:"), GroupExporter::Mode::kBalance}}) {
    if (!url.starts_with(prefix)) continue;
    std::vector<std::unique_ptr<FlowExporter>> members;
    std::string_view rest = url.substr(prefix.size());
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view member = rest.substr(0, comma);
      if (member.starts_with("failover:") || member.starts_with("balance:")) {
        throw std::runtime_error("export group '" + std::string(url) + "': groups do not nest");
      }
      if (member.starts_with("file:")) {
        throw std::runtime_error("export group '" + std::string(url) + "': its members are collectors (udp://, tcp://, sctp://), not files");
      }
      members.push_back(make_exporter(member, options, clock));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    return std::make_unique<GroupExporter>(mode, std::move(members), std::string(url));
  }
  std::string error;
  const auto endpoint = parse_endpoint_url(url, error);
  if (!endpoint) {
    throw std::runtime_error("bad export URL '" + std::string(url) + "': " + error);
  }
  if (options.version != 5 && options.version != 9 && options.version != 10) {
    throw std::runtime_error("unsupported export version " + std::to_string(options.version) +
                             ": expected 5 (NetFlow v5), 9 (NetFlow v9) or 10 (IPFIX)");
  }
  if (endpoint->scheme == EndpointUrl::Scheme::kFile && options.version != 10) {
    throw std::runtime_error("export to '" + std::string(url) + "': files hold IPFIX (RFC 5655); " +
                             "NetFlow v" + std::to_string(options.version) +
                             " has no file format: use version 10 or a udp:// destination");
  }
  if ((endpoint->scheme == EndpointUrl::Scheme::kTcp || endpoint->scheme == EndpointUrl::Scheme::kSctp) &&
      options.version != 10) {
    throw std::runtime_error("export to '" + std::string(url) + "': NetFlow v" +
                             std::to_string(options.version) +
                             " is a datagram format with no stream framing: use -v 10 (IPFIX) over "
                             "TCP or SCTP, or a udp:// destination");
  }
  std::unique_ptr<Transport> transport;
  if (endpoint->scheme == EndpointUrl::Scheme::kFile) {
    transport = std::make_unique<FileTransport>(
        endpoint->path, FileOptions{.rotate_interval_s = options.rotate_interval_s,
                                    .clock = clock,
                                    .owner_uid = options.output_owner_uid,
                                    .owner_gid = options.output_owner_gid});
  } else {
    if (endpoint->port == "0" || endpoint->port.empty()) {
      throw std::runtime_error("bad export URL '" + std::string(url) + "': port 0 (a collector listens on a port of its own)");
    }
    if (endpoint->scheme == EndpointUrl::Scheme::kTcp) {
      transport = std::make_unique<TcpTransport>(endpoint->host, endpoint->port);
    } else if (endpoint->scheme == EndpointUrl::Scheme::kSctp) {
      transport = std::make_unique<SctpTransport>(endpoint->host, endpoint->port);
    } else {
      transport = std::make_unique<UdpTransport>(endpoint->host, endpoint->port, options.rate,
                                                 UdpOptions{options.multicast_ttl, options.source_address});
    }
  }
  try {
    switch (options.version) {
      case 5:
      case 9: {
        std::unique_ptr<FlowExporter> e;
        if (options.version == 5) {
          e = std::make_unique<NetflowV5Exporter>(std::move(transport), options, std::move(clock), std::string(url));
        } else {
          e = std::make_unique<NetflowV9Exporter>(std::move(transport), options, std::move(clock), std::string(url));
        }
        // No reverse elements: a biflow goes out as its two uniflows.
        if (options.biflow) e = std::make_unique<UniflowExporter>(std::move(e));
        return e;
      }
      default:
        return std::make_unique<IpfixExporter>(std::move(transport), options, std::move(clock),
                                               std::string(url));
    }
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("export to '" + std::string(url) + "': " + e.what());
  }
}

}  // namespace
}  // namespace tapflow::exporter
