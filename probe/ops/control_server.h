// The control socket: a Unix-domain stream socket (mode 0600) on which `tapflow ctl` asks a
// running probe for statistics, active flows and top talkers, or to export every flow now.
// One request line in, the answer out, connection closed. Runs on its own thread (RequestServer:
// several clients at once, each with a read and a write deadline, so one that sends slowly or
// never reads its answer holds nobody up, and shutdown never waits for it); the data path
// answers between two batches (see Pipeline::request), so it never takes a lock per packet.
#pragma once

#include <memory>
#include <string>

#include "probe/pipeline.h"
#include "probe/ops/request_server.h"

namespace tapflow::probe {

class ControlServer {
 public:
  // Binds `path` (mode 0600). Throws std::runtime_error if another tapflow already answers on
  // it, or if it cannot be created; a stale socket file left by a dead process is replaced.
  ControlServer(std::string path, Pipeline& pipeline);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // 8 clients at once; a request line of up to 1 KiB within 2 s, its answer taken within 10 s.
  static RequestLimits limits();

 private:
  std::string path_;
  std::unique_ptr<RequestServer> server_;
};

// Answers one request line ("stats", "flows 20", "top 10 bytes", "expire"; "--json" anywhere
// asks for JSON). Separate from the socket for tests.
std::string handle_control_request(const std::string& line, Pipeline& pipeline);

// `tapflow ctl`: sends `request` to the socket at `path`, prints the answer; returns an exit code.
int run_control_client(const std::string& path, const std::string& request);

}  // namespace tapflow::probe
