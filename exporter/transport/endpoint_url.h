// Parsing of the destination and listen URLs the exporter and collector accept:
// udp://HOST:PORT, udp://[V6]:PORT, bare HOST:PORT (UDP), tcp://HOST:PORT, tcp://[V6]:PORT,
// sctp://HOST:PORT, sctp://[V6]:PORT and file:PATH. PORT is a number or a services(5) name
// (`localhost:ipfix`), looked up in /etc/services; host names are not resolved here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tapflow::exporter {

struct EndpointUrl {
  enum class Scheme : unsigned char { kUdp, kTcp, kSctp, kFile };
  Scheme scheme = Scheme::kUdp;
  std::string host;  // without brackets; may be empty for udp://:PORT, tcp://:PORT or sctp://:PORT (any address, listen only)
  std::string port;  // decimal (a service name is looked up), 1..65535 (0 allowed when listening: any free port)
  std::string path;  // file:PATH
};

// nullopt when the text is none of the accepted forms; `error` then says what is wrong ("missing
// port: expected HOST:PORT", "port 70000 is out of range (0-65535)", "an IPv6 address needs
// brackets: udp://[::1]:2055", "unknown scheme 'quic://' (expected ...)").
std::optional<EndpointUrl> parse_endpoint_url(std::string_view url, std::string& error);
std::optional<EndpointUrl> parse_endpoint_url(std::string_view url);

}  // namespace tapflow::exporter
