// What the stream transports (TCP, SCTP) share: resolving a collector, connecting with a timeout,
// and the socket options that keep a stalled collector from holding the data path.
// No exceptions; failures come back as an errno value or a resolver message.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <string>

namespace tapflow::exporter {

// "[v6addr]" or "host", as it goes before ":port" in a URL.
std::string bracketed_host(const std::string& host);

// The address family getaddrinfo gives first for host:port (AF_INET6 or AF_INET), or 0 with
// `error` set to the resolver's message.
int resolve_family(const std::string& host, const std::string& port, std::string& error);

struct StreamConnectResult {
  int fd = -1;          // connected, blocking, with SO_SNDTIMEO = io_timeout; -1 on failure
  bool ipv6 = false;
  int error = 0;        // errno of the last failed attempt
  std::string resolve_error;  // set when the name did not resolve (then error is 0)
};

// Resolves host:port again (a collector's name may move while it is down), then tries each
// address: socket(family, SOCK_STREAM, protocol), `configure(fd)` before connecting, a
// non-blocking connect bounded by io_timeout, then back to blocking with the send timeout.
StreamConnectResult connect_stream(const std::string& host, const std::string& port, int protocol,
                                   std::chrono::milliseconds io_timeout,
                                   const std::function<void(int fd)>& configure = {});

}  // namespace tapflow::exporter
