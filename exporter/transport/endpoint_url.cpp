#include "exporter/transport/endpoint_url.h"

#include <charconv>

namespace tapflow::exporter {

namespace {

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc{} && end == port.data() + port.size() && value <= 65535;
}

}  // namespace

std::optional<EndpointUrl> parse_endpoint_url(std::string_view url) {
  EndpointUrl out;
  if (url.starts_with("file:")) {
    std::string_view path = url.substr(5);
    if (path.starts_with("//")) path.remove_prefix(2);  // file:///tmp/x as well as file:/tmp/x
    if (path.empty()) return std::nullopt;
    out.scheme = EndpointUrl::Scheme::kFile;
    out.path = std::string(path);
    return out;
  }
  std::string_view rest = url;
  if (rest.starts_with("udp://")) {
    rest.remove_prefix(6);
  } else if (rest.starts_with("tcp://")) {
    rest.remove_prefix(6);
    out.scheme = EndpointUrl::Scheme::kTcp;
  } else if (rest.starts_with("sctp://")) {
    rest.remove_prefix(7);
    out.scheme = EndpointUrl::Scheme::kSctp;
  } else if (rest.find("://") != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view host;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
    if (host.empty()) return std::nullopt;
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    // An IPv6 literal needs brackets, otherwise its last group would read as the port.
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  if (!valid_port(port) || host.find('/') != std::string_view::npos) return std::nullopt;
  out.host = std::string(host);
  out.port = std::string(port);
  return out;
}

}  // namespace tapflow::exporter
