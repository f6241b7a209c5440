#include "exporter/transport/endpoint_url.h"

#include <netdb.h>

#include <cctype>
#include <charconv>

namespace tapflow::exporter {

namespace {

const char* scheme_protocol(EndpointUrl::Scheme scheme) {
  switch (scheme) {
    case EndpointUrl::Scheme::kTcp: return "tcp";
    case EndpointUrl::Scheme::kSctp: return "sctp";
    default: return "udp";
  }
}

// A services(5) name: letters, digits, '-', '_', '+', '.', starting with a letter (so "x1" may be
// one but "1x" is a malformed number).
bool looks_like_service_name(std::string_view port) {
  if (port.empty() || !std::isalpha(static_cast<unsigned char>(port[0]))) return false;
  for (const char c : port) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '+' && c != '.') return false;
  }
  return true;
}

// Checks `port` (decimal 0..65535 or a services(5) name for the scheme's protocol, as softflowd
// takes `-n host:ipfix`) and returns it as decimal; empty with `error` set otherwise.
std::string checked_port(std::string_view port, EndpointUrl::Scheme scheme, std::string& error) {
  if (port.empty()) {
    error = "missing port after ':'";
    return {};
  }
  if (std::isdigit(static_cast<unsigned char>(port[0]))) {
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (end != port.data() + port.size()) {
      error = "port '" + std::string(port) + "' is not a number or a service name";
      return {};
    }
    if (ec != std::errc{} || value > 65535) {
      error = "port " + std::string(port) + " is out of range (0-65535)";
      return {};
    }
    return std::to_string(value);
  }
  if (looks_like_service_name(port)) {
    const std::string name(port);
    // getservbyname reads /etc/services: a local table, no network lookup.
    const servent* entry = getservbyname(name.c_str(), scheme_protocol(scheme));
    // IANA gives a service one number for UDP, TCP and SCTP alike (IPFIX: 4739), but
    // /etc/services seldom lists SCTP: take the TCP entry then.
    if (entry == nullptr && scheme == EndpointUrl::Scheme::kSctp) entry = getservbyname(name.c_str(), "tcp");
    if (entry != nullptr) return std::to_string(ntohs(static_cast<std::uint16_t>(entry->s_port)));
    // The flow-export ports themselves, which Debian 12's /etc/services lacks: IANA's IPFIX port
    // (RFC 7011 §10) and NetFlow's customary one.
    if (name == "ipfix") return "4739";
    if (name == "ipfixs") return "4740";
    if (name == "netflow") return "2055";
    error = "unknown service '" + name + "' for " + scheme_protocol(scheme) + " (see /etc/services)";
    return {};
  }
  error = "port '" + std::string(port) + "' is not a number or a service name";
  return {};
}

}  // namespace

std::optional<EndpointUrl> parse_endpoint_url(std::string_view url) {
  std::string error;
  return parse_endpoint_url(url, error);
}

std::optional<EndpointUrl> parse_endpoint_url(std::string_view url, std::string& error) {
  EndpointUrl out;
  error.clear();
  if (url.empty()) {
    error = "empty URL";
    return std::nullopt;
  }
  if (url.starts_with("file:")) {
    std::string_view path = url.substr(5);
    if (path.starts_with("//")) path.remove_prefix(2);  // file:///tmp/x as well as file:/tmp/x
    if (path.empty()) {
      error = "missing path after 'file:'";
      return std::nullopt;
    }
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
  } else if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
    error = "unknown scheme '" + std::string(rest.substr(0, sep)) + "://' (expected udp://, tcp://, sctp:// or file:)";
    return std::nullopt;
  }
  const std::string_view scheme_text = url.substr(0, url.size() - rest.size());
  std::string_view host;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' after the IPv6 address";
      return std::nullopt;
    }
    host = rest.substr(1, close - 1);
    if (host.empty()) {
      error = "empty address between '[' and ']'";
      return std::nullopt;
    }
    if (close + 1 >= rest.size() || rest[close + 1] != ':') {
      error = "missing port: expected [" + std::string(host) + "]:PORT";
      return std::nullopt;
    }
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      error = "missing port: expected HOST:PORT";
      return std::nullopt;
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    // An IPv6 literal needs brackets, otherwise its last group would read as the port.
    if (host.find(':') != std::string_view::npos) {
      error = "an IPv6 address needs brackets: " +
              std::string(scheme_text.empty() ? std::string_view("udp://") : scheme_text) + "[" +
              std::string(host) + "]:" + std::string(port);
      return std::nullopt;
    }
  }
  if (host.find('/') != std::string_view::npos) {
    error = "'/' in the host '" + std::string(host) + "'";
    return std::nullopt;
  }
  out.port = checked_port(port, out.scheme, error);
  if (out.port.empty()) return std::nullopt;
  out.host = std::string(host);
  return out;
}

}  // namespace tapflow::exporter
