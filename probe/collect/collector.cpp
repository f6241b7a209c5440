#include "probe/collect/collector.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/sctp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "exporter/json/json_lines_exporter.h"
#include "exporter/transport/endpoint_url.h"
#include "exporter/ipfix/ipfix_file_reader.h"
#include "exporter/message_decoder.h"
#include "exporter/transport/sctp_transport.h"

namespace tapflow::probe {

// The collector reads what the exporter side writes: its decoder, records and transports.
using namespace tapflow::exporter;  // NOLINT(google-build-using-namespace)

namespace {

constexpr int kPollIntervalMs = 100;
constexpr int kReceiveBufferBytes = 8 * 1024 * 1024;
constexpr std::size_t kMaxDatagram = 65535;

std::atomic<bool> g_signalled{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_stop_signal(int) { g_signalled.store(true, std::memory_order_relaxed); }

// Installs SIGINT/SIGTERM handlers for the collector's lifetime, restoring the previous ones.
class SignalGuard {
 public:
  explicit SignalGuard(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
    g_signalled = false;
    struct sigaction action{};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~SignalGuard() {
    if (!enabled_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  bool enabled_;
  struct sigaction old_int_{};
  struct sigaction old_term_{};
};

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string format_peer(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(peer);
    inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    return fmt::format("[{}]:{}", text, ntohs(a.sin6_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(peer);
  inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
  return fmt::format("{}:{}", text, ntohs(a.sin_port));
}

// Prints records and problems; shared by the UDP and file paths.
class Printer {
 public:
  explicit Printer(const CollectorOptions& options) : options_(options) {}

  // Returns false once max_records have been printed.
  bool on_message(std::string_view source, const MessageSummary& summary,
                  std::span<const DecodedRecord> records) {
    if (summary.gap) {
      // v5 and IPFIX number records, v9 packets.
      fmt::print(options_.err,
                 "collect: sequence gap from {} v{} domain {}: expected {}, got {} ({} {} missing)\n",
                 source, summary.version, summary.observation_domain_id, summary.gap->expected,
                 summary.gap->got, summary.gap->missing(),
                 summary.version == 9 ? "packets" : "records");
    }
    if (summary.malformed) {
      fmt::print(options_.err, "collect: malformed message from {}: {}\n", source, summary.reason);
    }
    // What is remembered per source to print once is bounded like the decoder's sources: past the
    // bound it starts over (a line may be printed again).
    if (warned_no_template_.size() >= kMaxRemembered) warned_no_template_.clear();
    if (last_options_.size() >= kMaxRemembered) last_options_.clear();
    if (summary.sets_without_template != 0 && warned_no_template_.emplace(source).second) {
      fmt::print(options_.err,
                 "collect: data from {} domain {} before its template; skipped until the template "
                 "arrives (counted in the summary)\n",
                 source, summary.observation_domain_id);
    }
    for (const auto& options : summary.options) {
      // Options records go to `err` beside the other reports, so `out` stays one line per flow.
      // A record repeated unchanged (the sampling at each template refresh, v5's in every
      // header) is printed once.
      std::string line = format_options_record(options);
      auto& last = last_options_[fmt::format("{} {} {} {}", source, summary.version,
                                             summary.observation_domain_id, options.template_id)];
      if (line == last) continue;
      fmt::print(options_.err, "collect: {} v{} domain {}: {}\n", source, summary.version,
                 summary.observation_domain_id, line);
      last = std::move(line);
    }
    for (const auto& record : records) {
      if (options_.max_records != 0 && printed_ >= options_.max_records) return false;
      std::string line = options_.json ? exporter::record_json(record.flow, exporter::record_spec(record)).dump() : format_record(record);
      line += '\n';
      std::fputs(line.c_str(), options_.out);
      ++printed_;
    }
    return options_.max_records == 0 || printed_ < options_.max_records;
  }

  // `extra`: what the transport adds (connections refused, timed out), with a leading comma.
  void print_summary(const DecoderCounters& c, std::string_view extra = {}) {
    std::fflush(options_.out);
    fmt::print(options_.err,
               "collect summary: {} messages, {} records ({} printed), {} templates, {} options "
               "records, {} sequence gaps ({} records missing), {} malformed messages, {} data sets "
               "without template, {} messages refused (exporter or domain limit), {} templates refused "
               "(count or memory limit), {} empty records refused, {} sources forgotten{}\n",
               c.messages, c.records, printed_, c.templates, c.options_records, c.sequence_gaps,
               c.missing_records, c.malformed, c.sets_without_template, c.messages_refused,
               c.templates_refused, c.empty_records, c.sources_forgotten, extra);
  }

 private:
  static constexpr std::size_t kMaxRemembered = 4096;
  const CollectorOptions& options_;
  std::uint64_t printed_ = 0;
  std::set<std::string, std::less<>> warned_no_template_;
  std::map<std::string, std::string> last_options_;
};

int bind_socket(const EndpointUrl& url, std::string& error) {
  const bool sctp = url.scheme == EndpointUrl::Scheme::kSctp;
  const bool stream = url.scheme == EndpointUrl::Scheme::kTcp || sctp;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = stream ? SOCK_STREAM : SOCK_DGRAM;
  hints.ai_protocol = stream ? 0 : IPPROTO_UDP;  // resolved as TCP; the socket below says SCTP
  hints.ai_flags = AI_PASSIVE;
  addrinfo* results = nullptr;
  const char* host = url.host.empty() ? nullptr : url.host.c_str();
  if (const int rc = getaddrinfo(host, url.port.c_str(), &hints, &results); rc != 0) {
    error = fmt::format("cannot resolve '{}': {}", url.host, gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (const addrinfo* a = results; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, sctp ? IPPROTO_SCTP : a->ai_protocol);
    if (fd < 0) {
      error = sctp && (errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT) ? sctp_unavailable_message(errno)
                                                                             : std::strerror(errno);
      continue;
    }
    int size = kReceiveBufferBytes;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // best effort
    int one = 1;
    if (stream) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sctp) {
      // Exporters may open several streams; accept up to 16 inbound (we read them all alike).
      sctp_initmsg init{};
      init.sinit_num_ostreams = 1;
      init.sinit_max_instreams = 16;
      setsockopt(fd, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init);
    }
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || (stream && listen(fd, 16) != 0)) {
      error = std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(results);
  return fd;
}

bool should_stop(const CollectorOptions& options) {
  return g_signalled.load(std::memory_order_relaxed) ||
         (options.stop != nullptr && options.stop->load(std::memory_order_relaxed));
}

std::uint64_t steady_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

int collect_file(const CollectorOptions& options, const std::string& path) {
  MessageDecoder decoder(options.limits);
  Printer printer(options);
  bool more = true;
  FileReadSummary result;
  try {
    result = read_ipfix_file(path, decoder,
                             [&](const MessageSummary& summary, std::span<const DecodedRecord> records) {
                               if (more) more = printer.on_message(path, summary, records);
                             });
  } catch (const std::runtime_error& e) {
    fmt::print(options.err, "collect: {}\n", e.what());
    return 2;
  }
  if (!result.error.empty()) fmt::print(options.err, "collect: {}: {}\n", path, result.error);
  printer.print_summary(decoder.counters());
  return result.error.empty() && result.malformed == 0 ? 0 : 1;
}

// Says where the socket listens and tells the caller the port.
void report_listening(const CollectorOptions& options, int fd, std::string_view protocol) {
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  const std::uint16_t port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(bound).sin6_port
                                        : reinterpret_cast<const sockaddr_in&>(bound).sin_port);
  fmt::print(options.err, "collect: listening on {} {}\n", protocol, format_peer(bound));
  if (options.on_listening) options.on_listening(port);
}

int collect_udp(const CollectorOptions& options, const EndpointUrl& url) {
  std::string error;
  FdGuard socket_fd(bind_socket(url, error));
  if (socket_fd.get() < 0) {
    fmt::print(options.err, "collect: cannot listen on '{}': {}\n", options.listen, error);
    return 2;
  }
  report_listening(options, socket_fd.get(), "UDP");

  MessageDecoder decoder(options.limits);
  Printer printer(options);
  std::vector<std::uint8_t> datagram(kMaxDatagram);
  std::vector<DecodedRecord> records;
  auto last_datagram = std::chrono::steady_clock::now();
  std::uint64_t last_sweep_ms = steady_ms();
  bool more = true;
  while (more && !should_stop(options)) {
    decoder.set_time(steady_ms());
    // Silent sources are looked for once a second (a walk over at most max_sources).
    if (steady_ms() - last_sweep_ms >= 1000) {
      last_sweep_ms = steady_ms();
      if (const auto n = decoder.forget_idle_sources(options.udp_source_timeout_ms); n != 0) {
        fmt::print(options.err, "collect: forgot {} UDP source{} silent for {} ms\n", n, n == 1 ? "" : "s",
                   options.udp_source_timeout_ms);
      }
    }
    pollfd pfd{socket_fd.get(), POLLIN, 0};
    const int ready = poll(&pfd, 1, kPollIntervalMs);
    if (ready < 0 && errno != EINTR) {
      fmt::print(options.err, "collect: poll: {}\n", std::strerror(errno));
      break;
    }
    // Drain everything queued before looking at the clock and the flags again.
    bool received = false;
    while (more) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      const ssize_t n = recvfrom(socket_fd.get(), datagram.data(), datagram.size(), 0,
                                 reinterpret_cast<sockaddr*>(&peer), &peer_length);
      if (n < 0) break;  // EAGAIN, or an error we will see again at the next poll
      received = true;
      const std::string source = format_peer(peer);
      records.clear();
      const auto summary = decoder.decode(
          std::span<const std::uint8_t>(datagram.data(), static_cast<std::size_t>(n)), source,
          records);
      more = printer.on_message(source, summary, records);
    }
    const auto now = std::chrono::steady_clock::now();
    if (received) {
      last_datagram = now;
    } else if (options.idle_timeout_ms != 0 &&
               now - last_datagram >= std::chrono::milliseconds(options.idle_timeout_ms)) {
      break;
    }
  }
  printer.print_summary(decoder.counters());
  return 0;
}

// The peer's address without its port: connections from one address share a bound.
std::string peer_address(const sockaddr_storage& peer) {
  const std::string text = format_peer(peer);
  return text.substr(0, text.rfind(':'));
}

// IPFIX over TCP (RFC 7011 §10.4) or SCTP (§10.2, one-to-one style sockets): each connection
// or association is a stream of messages cut by the Length field (SCTP keeps message boundaries
// too, and a message must fill its user messages exactly); a connection is its own template
// session (source = the protocol and the peer's address and port), forgotten when it ends. A
// stream that stops making sense (not IPFIX, a length below the header) is reported and closed,
// since there is no way to find the next message in it. Connections are bounded in number, per
// peer address and in time (see CollectorOptions), so idle or dripping ones cannot hold every slot.
int collect_stream(const CollectorOptions& options, const EndpointUrl& url) {
  constexpr std::size_t kIpfixHeader = 16;
  const bool sctp = url.scheme == EndpointUrl::Scheme::kSctp;
  std::string error;
  FdGuard listener(bind_socket(url, error));
  if (listener.get() < 0) {
    fmt::print(options.err, "collect: cannot listen on '{}': {}\n", options.listen, error);
    return 2;
  }
  report_listening(options, listener.get(), sctp ? "SCTP" : "TCP");
  struct Connection {
    int fd;
    std::string source;
    std::string address;  // the peer's, without the port
    std::vector<std::uint8_t> buffer;
    std::uint64_t last_data_ms;      // accepted or last octet received
    std::uint64_t message_start_ms;  // accepted or the first octet of the message now buffered
    bool proven = false;             // delivered a template or a record
  };
  std::vector<Connection> connections;
  MessageDecoder decoder(options.limits);
  Printer printer(options);
  std::vector<DecodedRecord> records;
  std::vector<std::uint8_t> chunk(kMaxDatagram);
  auto last_data = std::chrono::steady_clock::now();
  std::uint64_t refused = 0, evicted = 0, timed_out = 0;
  bool more = true;
  auto drop = [&](std::size_t i, std::string_view why) {
    if (!why.empty()) fmt::print(options.err, "collect: {}: {}; closing the connection\n", connections[i].source, why);
    close(connections[i].fd);
    // RFC 7011 §10.4.1: the Transport Session ends with its connection; a new connection from the
    // same address and port is a new session with new templates and sequence numbers.
    decoder.forget_source(connections[i].source);
    connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(i));
  };
  // Which connection a newcomer from `address` replaces when a bound is reached, or npos: the
  // longest silent one (of that address when only its per-peer bound is reached) that never
  // delivered a template or a record.
  auto victim = [&](const std::string* address) {
    std::size_t chosen = std::string::npos;
    for (std::size_t i = 0; i < connections.size(); ++i) {
      const auto& c = connections[i];
      if (c.proven || (address != nullptr && c.address != *address)) continue;
      if (chosen == std::string::npos || c.last_data_ms < connections[chosen].last_data_ms) chosen = i;
    }
    return chosen;
  };
  while (more && !should_stop(options)) {
    std::vector<pollfd> fds{{listener.get(), POLLIN, 0}};
    for (const auto& c : connections) fds.push_back({c.fd, POLLIN, 0});
    const int ready = poll(fds.data(), fds.size(), kPollIntervalMs);
    if (ready < 0 && errno != EINTR) {
      fmt::print(options.err, "collect: poll: {}\n", std::strerror(errno));
      break;
    }
    std::uint64_t now_ms = steady_ms();
    decoder.set_time(now_ms);
    bool received = false;
    if (fds[0].revents & POLLIN) {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      const int fd = accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_CLOEXEC);
      if (fd >= 0) {
        const std::string address = peer_address(peer);
        const auto from_peer = static_cast<std::size_t>(
            std::count_if(connections.begin(), connections.end(), [&](const Connection& c) { return c.address == address; }));
        bool admitted = true;
        if (from_peer >= options.max_connections_per_peer || connections.size() >= options.max_connections) {
          const bool per_peer = from_peer >= options.max_connections_per_peer;
          const std::size_t v = victim(per_peer ? &address : nullptr);
          if (v == std::string::npos) {
            fmt::print(options.err, "collect: refusing {}: already {} connections{}\n", format_peer(peer),
                       per_peer ? from_peer : connections.size(), per_peer ? " from that address" : "");
            ++refused;
            close(fd);
            admitted = false;
          } else {
            ++evicted;
            drop(v, fmt::format("making room for {} (no template or record in {} ms)", format_peer(peer),
                                now_ms - connections[v].last_data_ms));
          }
        }
        if (admitted) {
          connections.push_back({fd, (sctp ? "sctp:" : "tcp:") + format_peer(peer), address, {}, now_ms, now_ms});
          // A new connection is a new session even if a stale one had this address and port.
          decoder.forget_source(connections.back().source);
          fmt::print(options.err, "collect: connection from {}\n", format_peer(peer));
        }
      }
    }
    // Connections are matched to poll results by fd (the vector may shrink as we go).
    for (std::size_t f = 1; f < fds.size() && more; ++f) {
      if (fds[f].revents == 0) continue;
      std::size_t i = 0;
      while (i < connections.size() && connections[i].fd != fds[f].fd) ++i;
      if (i == connections.size()) continue;
      ssize_t n;
      bool message_ends = false;  // SCTP: this read ends a user message
      if (sctp) {
        sctp_sndrcvinfo info{};
        int flags = 0;
        n = sctp_recvmsg(connections[i].fd, chunk.data(), chunk.size(), nullptr, nullptr, &info, &flags);
        // Notifications are off by default on the collector's side; skip any that come anyway.
        if (n > 0 && (flags & MSG_NOTIFICATION) != 0) continue;
        message_ends = (flags & MSG_EOR) != 0;
      } else {
        n = recv(connections[i].fd, chunk.data(), chunk.size(), 0);
      }
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        const bool partial = !connections[i].buffer.empty();
        fmt::print(options.err, "collect: {} closed{}\n", connections[i].source,
                   partial ? fmt::format(" in the middle of a message ({} octets dropped)", connections[i].buffer.size())
                           : "");
        drop(i, "");
        continue;
      }
      received = true;
      auto& connection = connections[i];
      auto& buffer = connection.buffer;
      if (buffer.empty()) connection.message_start_ms = now_ms;
      connection.last_data_ms = now_ms;
      buffer.insert(buffer.end(), chunk.begin(), chunk.begin() + n);
      std::size_t offset = 0;
      std::string broken;
      while (more && buffer.size() - offset >= 4) {
        const std::uint16_t version = static_cast<std::uint16_t>(buffer[offset] << 8 | buffer[offset + 1]);
        const std::size_t length = static_cast<std::size_t>(buffer[offset + 2] << 8 | buffer[offset + 3]);
        if (version != 10) {
          broken = fmt::format("version {} in a {} stream (only IPFIX is framed on {})", version,
                               sctp ? "SCTP" : "TCP", sctp ? "SCTP" : "TCP");
          break;
        }
        if (length < kIpfixHeader) {
          broken = fmt::format("message length {} below the 16-octet header", length);
          break;
        }
        if (buffer.size() - offset < length) break;
        records.clear();
        const auto summary = decoder.decode(std::span<const std::uint8_t>(buffer.data() + offset, length),
                                            connection.source, records);
        if (summary.templates + summary.records + summary.options_records != 0) connection.proven = true;
        more = printer.on_message(connection.source, summary, records);
        offset += length;
        connection.message_start_ms = now_ms;  // the next message starts here
      }
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(offset));
      if (more && broken.empty() && message_ends && !buffer.empty()) {
        broken = fmt::format("an SCTP message whose IPFIX Length leaves {} octets over", buffer.size());
      }
      if (!broken.empty()) drop(i, broken);
    }
    now_ms = steady_ms();
    for (std::size_t i = 0; i < connections.size();) {
      const auto& c = connections[i];
      // A connection that has not completed a message (its first, or one it began) in time, or
      // that has been silent for the idle time, holds a slot for nothing.
      const bool waiting = c.buffer.empty() ? !c.proven : true;
      if (waiting && now_ms - c.message_start_ms >= options.stream_message_timeout_ms) {
        ++timed_out;
        drop(i, fmt::format("no complete message within {} ms", options.stream_message_timeout_ms));
      } else if (now_ms - c.last_data_ms >= options.stream_idle_timeout_ms) {
        ++timed_out;
        drop(i, fmt::format("silent for {} ms", options.stream_idle_timeout_ms));
      } else {
        ++i;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (received) {
      last_data = now;
    } else if (options.idle_timeout_ms != 0 && now - last_data >= std::chrono::milliseconds(options.idle_timeout_ms)) {
      break;
    }
  }
  for (const auto& c : connections) close(c.fd);
  printer.print_summary(decoder.counters(),
                        fmt::format(", {} connections refused, {} replaced, {} timed out", refused, evicted, timed_out));
  return 0;
}

}  // namespace

int run_collector(const CollectorOptions& options) {
  std::string error;
  const auto url = parse_endpoint_url(options.listen, error);
  if (!url) {
    fmt::print(options.err,
               "collect: bad listen URL '{}': {}\n",
               options.listen, error);
    return 2;
  }
  SignalGuard signals(options.handle_signals);
  if (url->scheme == EndpointUrl::Scheme::kFile) return collect_file(options, url->path);
  if (url->scheme == EndpointUrl::Scheme::kTcp || url->scheme == EndpointUrl::Scheme::kSctp) {
    return collect_stream(options, *url);
  }
  return collect_udp(options, *url);
}

}  // namespace tapflow::probe
