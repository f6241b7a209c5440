#include "probe/ops/metrics_server.h"

#include "probe/counters.h"

#include <fmt/format.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace tapflow::probe {

namespace {

std::string http_response(std::string_view status, std::string_view content_type, std::string_view body,
                          bool head_only = false, std::string_view extra_headers = {}) {
  return fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n{}",
                     status, content_type, body.size(), extra_headers, head_only ? std::string_view{} : body);
}

std::string http_error(std::string_view status) {
  return http_response(status, "text/plain; charset=utf-8", fmt::format("{}\n", status));
}

// The end of the request head: the blank line (RFC 9112 §2.2 lets a bare LF end a line too).
std::size_t request_head_length(std::string_view received) {
  const auto crlf = received.find("\r\n\r\n");
  const auto lf = received.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return 0;
  return std::min(crlf == std::string_view::npos ? SIZE_MAX : crlf + 4, lf == std::string_view::npos ? SIZE_MAX : lf + 2);
}

// A listening TCP socket on host:port (numeric addresses), or -1 with errno set.
int listen_tcp(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* results = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &results) != 0) {
    errno = EADDRNOTAVAIL;
    return -1;
  }
  int fd = -1;
  for (const addrinfo* a = results; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      const int saved = errno;
      close(fd);
      fd = -1;
      errno = saved;
    }
  }
  freeaddrinfo(results);
  return fd;
}

}  // namespace

std::string answer_http_request(std::string_view head, const std::function<std::string()>& metrics) {
  const auto line_end = head.find('\n');
  std::string_view line = head.substr(0, line_end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Headers: lines after the request line, up to the blank one.
  std::size_t headers = 0;
  for (auto at = line_end; at != std::string_view::npos && at + 1 < head.size(); at = head.find('\n', at + 1)) {
    const auto next = head.find('\n', at + 1);
    const auto length = (next == std::string_view::npos ? head.size() : next) - (at + 1);
    if (length == 0 || (length == 1 && head[at + 1] == '\r')) break;
    ++headers;
  }
  if (headers > MetricsServer::kMaxHeaders) return http_error("431 Request Header Fields Too Large");
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(sp2 + 1).substr(0, 5) != "HTTP/") {
    return http_error("400 Bad Request");
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return http_error("404 Not Found");
  if (method != "GET" && method != "HEAD") {
    return http_response("405 Method Not Allowed", "text/plain; charset=utf-8", "405 Method Not Allowed\n", false,
                         "Allow: GET, HEAD\r\n");
  }
  return http_response("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics(), method == "HEAD");
}

RequestLimits MetricsServer::limits() {
  RequestLimits limits;
  limits.max_clients = 16;
  limits.max_request_bytes = 8192;
  limits.read_timeout = std::chrono::milliseconds(5000);
  limits.write_timeout = std::chrono::milliseconds(10000);
  return limits;
}

MetricsServer::MetricsServer(const std::string& address, Pipeline& pipeline) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    throw std::invalid_argument("--metrics '" + address + "': expected ADDR:PORT, e.g. 127.0.0.1:9464 or [::1]:9464");
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    throw std::invalid_argument("--metrics '" + address + "': the port is not a number");
  }
  if (port < 0 || port > 65535) throw std::invalid_argument("--metrics '" + address + "': the port is past 65535");
  const int fd = listen_tcp(host.empty() ? "0.0.0.0" : host, port);
  if (fd < 0) {
    throw std::runtime_error("--metrics: cannot listen on '" + address + "': " + std::strerror(errno));
  }
  RequestProtocol protocol;
  protocol.request_length = request_head_length;
  protocol.answer = [&pipeline](std::string_view head, int) {
    return answer_http_request(head, [&pipeline] {
      Pipeline::Snapshot snapshot;
      pipeline.request(false, 0, snapshot);
      return format_prometheus(snapshot.stats);
    });
  };
  protocol.too_large = http_error("431 Request Header Fields Too Large");
  protocol.timed_out = http_error("408 Request Timeout");
  server_ = std::make_unique<RequestServer>(fd, std::move(protocol), limits());
}

MetricsServer::~MetricsServer() = default;

}  // namespace tapflow::probe
