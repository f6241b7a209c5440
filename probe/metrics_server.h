// Prometheus endpoint (--metrics ADDR:PORT): GET /metrics answers the probe's counters in the
// Prometheus text format. Served by cpp-httplib on its own thread; each scrape asks the data
// path for a snapshot between two batches, like the control socket.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "probe/pipeline.h"

namespace httplib {
class Server;
}

namespace tapflow::probe {

// The counters of `stats` in the Prometheus text exposition format.
std::string format_prometheus(const ProbeStats& stats);

class MetricsServer {
 public:
  // Listens on "ADDR:PORT" ("[V6]:PORT" for IPv6). Throws std::runtime_error if it cannot.
  MetricsServer(const std::string& address, Pipeline& pipeline);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace tapflow::probe
