// What the stream transports (TCP, SCTP) share: resolving a collector, connecting with a timeout,
// the socket options that keep a stalled collector from holding the data path, and the session
// bookkeeping of an outage. No exceptions; failures come back as an errno value or a resolver
// message, and are logged once per outage.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "exporter/transport/transport.h"

namespace tapflow::exporter {

// "[v6addr]" or "host", as it goes before ":port" in a URL.
std::string bracketed_host(const std::string& host);

// The address family getaddrinfo gives first for host:port (AF_INET6 or AF_INET), or 0 with
// `error` set to the resolver's message.
int resolve_family(const std::string& host, const std::string& port, std::string& error);

// For a transport's constructor, so a typo stops tapflow at start-up: whether host:port resolves
// to IPv6 first. Throws std::runtime_error naming the destination ("cannot resolve TCP
// destination 'tcp://x:4739': ...") when the host is empty or does not resolve.
bool resolves_to_ipv6(const char* protocol_name, const std::string& description, const std::string& host,
                      const std::string& port);

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

// How the log lines name a transport's session: TCP connects, SCTP associates.
struct StreamWording {
  const char* connect;     // "connect to"
  const char* connected;   // "connected to"
  const char* session;     // "connection to"
  const char* reconnect;   // "reconnecting"
};

// One session to a collector: connected when a message needs it and at most once per retry
// interval after a failure; the first failure of an outage is reported once (an event for the
// program to log), and so is the recovery. The transport says when a session is broken (disconnect) and when its first message
// went out (mark_used: until then the session needs templates, RFC 7011 §8).
class StreamSession {
 public:
  // Outages and recoveries are reported into `events`, the owning transport's.
  StreamSession(TransportEvents& events, std::string host, std::string port, int protocol, bool ipv6,
                std::string description,
                StreamWording wording, std::chrono::milliseconds io_timeout,
                std::chrono::milliseconds retry_interval, std::function<void(int fd)> configure = {});
  ~StreamSession();
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  // Connects now; false (logged once per outage) when that fails.
  bool connect_now();
  // Connects if there is no session and the retry interval has passed; true when connected.
  bool connect_if_due();
  // Closes a broken session; logged once per outage.
  void disconnect(const char* why, int error);
  void mark_used() { fresh_ = false; }

  int fd() const { return fd_; }
  bool connected() const { return fd_ >= 0; }
  bool fresh() const { return fresh_; }             // connected, nothing sent yet
  bool ipv6() const { return ipv6_; }               // of the session, else of the resolved name
  std::uint64_t sessions() const { return sessions_; }  // successful connects so far

 private:
  TransportEvents& events_;
  std::string host_;
  std::string port_;
  int protocol_;
  bool ipv6_;
  std::string description_;
  StreamWording wording_;
  std::chrono::milliseconds io_timeout_;
  std::chrono::milliseconds retry_interval_;
  std::function<void(int fd)> configure_;
  int fd_ = -1;
  bool fresh_ = false;
  bool outage_reported_ = false;
  std::uint64_t sessions_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace tapflow::exporter
