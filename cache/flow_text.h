// The one text rendering of the flow vocabulary, shared by every output that shows a flow as
// text (the table, ctl, the JSON flows, `tapflow collect`): protocol names, addresses, endpoints
// with IPv6 in brackets, TCP flags as nfdump shows them, times in UTC. Pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "cache/flow_key.h"

namespace tapflow::cache {

// "TCP", "UDP", "ICMP", "ICMPv6", "GRE", "ESP", "SCTP"; any other protocol as its number ("2").
std::string protocol_name(std::uint8_t protocol);
// "192.0.2.1" or "2001:db8::1" (no brackets).
std::string format_address(const std::array<std::uint8_t, 16>& address, bool ipv6);
// "192.0.2.1:53" or "[2001:db8::1]:53".
std::string format_endpoint(const std::array<std::uint8_t, 16>& address, bool ipv6, std::uint16_t port);
// The source or destination endpoint of a key.
std::string format_endpoint(const FlowKey& key, bool source);
// nfdump's order and letters: CWR ECE URG ACK PSH RST SYN FIN, a dot for each flag not set.
std::string format_tcp_flags(std::uint8_t flags);
// "2017-04-14 10:55:37.123" (UTC, milliseconds) for ns since the Unix epoch.
std::string format_time_utc(std::uint64_t ns);

}  // namespace tapflow::cache
