// Prometheus endpoint (--metrics ADDR:PORT): GET /metrics answers the probe's counters in the
// Prometheus text format. A minimal HTTP/1.1 server (one request per connection) on a
// RequestServer thread: bounded request head (size and header count), time to send it and to
// take the answer, and clients at once, so slow or huge requests neither starve scrapes nor grow
// memory. Each scrape asks the data path for a snapshot between two batches, like the control
// socket. (cpp-httplib 0.11, Debian 12's, reads headers without a count limit and times out
// each read rather than the request, and its limits are compiled into the shared library.)
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "probe/pipeline.h"
#include "probe/ops/request_server.h"

namespace tapflow::probe {


// The HTTP answer to one request head (request line and headers, up to the blank line):
// `metrics()` for GET or HEAD of /metrics, else 400, 404, 405 or 431 (more than 100 headers).
std::string answer_http_request(std::string_view head, const std::function<std::string()>& metrics);

class MetricsServer {
 public:
  // Listens on "ADDR:PORT" ("[V6]:PORT" for IPv6). Throws std::invalid_argument for an address
  // that is not of that form, std::runtime_error if it cannot listen.
  MetricsServer(const std::string& address, Pipeline& pipeline);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // 16 clients at once; a request head of up to 8 KiB within 5 s, its answer taken within 10 s.
  static RequestLimits limits();
  static constexpr std::size_t kMaxHeaders = 100;

 private:
  std::unique_ptr<RequestServer> server_;
};

}  // namespace tapflow::probe
