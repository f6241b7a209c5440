#include "exporter/exporter.h"

#include <chrono>
#include <stdexcept>
#include <string>

#include "exporter/endpoint_url.h"
#include "exporter/file_transport.h"
#include "exporter/ipfix_exporter.h"
#include "exporter/sctp_transport.h"
#include "exporter/tcp_transport.h"
#include "exporter/udp_transport.h"

namespace tapflow::exporter {

std::uint64_t system_clock_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::unique_ptr<FlowExporter> make_exporter(std::string_view url, const ExportOptions& options,
                                            Clock clock) {
  const auto endpoint = parse_endpoint_url(url);
  if (!endpoint || options.version != 10) {
    throw std::runtime_error("unsupported export URL '" + std::string(url) +
                             "': expected udp://HOST:PORT, HOST:PORT, tcp://HOST:PORT, sctp://HOST:PORT or file:PATH" +
                             (endpoint ? " with IPFIX (version 10); version " +
                                             std::to_string(options.version) + " is not supported yet"
                                       : ""));
  }
  std::unique_ptr<Transport> transport;
  if (endpoint->scheme == EndpointUrl::Scheme::kFile) {
    transport = std::make_unique<FileTransport>(endpoint->path);
  } else {
    if (endpoint->port == "0" || endpoint->port.empty()) {
      throw std::runtime_error("unsupported export URL '" + std::string(url) + "': port 0");
    }
    if (endpoint->scheme == EndpointUrl::Scheme::kTcp) {
      transport = std::make_unique<TcpTransport>(endpoint->host, endpoint->port);
    } else if (endpoint->scheme == EndpointUrl::Scheme::kSctp) {
      transport = std::make_unique<SctpTransport>(endpoint->host, endpoint->port);
    } else {
      transport = std::make_unique<UdpTransport>(endpoint->host, endpoint->port);
    }
  }
  try {
    return std::make_unique<IpfixExporter>(std::move(transport), options, std::move(clock),
                                           std::string(url));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("export to '" + std::string(url) + "': " + e.what());
  }
}

}  // namespace tapflow::exporter
