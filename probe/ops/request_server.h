// One request in, one answer out, connection closed: the engine under the control socket and the
// metrics endpoint. One thread polls the listening socket and every client; each client has a
// deadline to send its request and one to take the answer, and a bounded request size, so a
// client that sends slowly, never reads or never closes costs a slot for a bounded time and never
// blocks the other clients, the data path or shutdown. It must never block on a client.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace tapflow::probe {

struct RequestLimits {
  std::size_t max_clients = 16;  // connections served at once; more wait in the backlog
  std::size_t max_request_bytes = 1024;
  std::chrono::milliseconds read_timeout{2000};    // the whole request, from the connection
  std::chrono::milliseconds write_timeout{10000};  // the whole answer, from the request
};

// What the protocol says. Every function runs on the server's thread.
struct RequestProtocol {
  // The length of the request at the start of `received`, or 0 while it is incomplete.
  std::function<std::size_t(std::string_view received)> request_length;
  // The answer to a complete request (or, with answer_at_end, to what came before the client
  // closed its side). `client` is the connected socket, for its credentials.
  std::function<std::string(std::string_view request, int client)> answer;
  // Sent, best effort, to a client whose request outgrows max_request_bytes or read_timeout.
  std::string too_large;
  std::string timed_out;
  // A client that shuts down its side before a complete request is answered with what it sent.
  bool answer_at_end = false;
};

struct RequestCounters {
  std::size_t answered = 0;
  std::size_t timed_out = 0;  // reading or writing
  std::size_t too_large = 0;
  std::size_t replaced = 0;  // closed while still reading to make room for a newcomer
};

class RequestServer {
 public:
  // Takes `listen_fd` (bound and listening; closed by the destructor) and starts the thread.
  RequestServer(int listen_fd, RequestProtocol protocol, RequestLimits limits);
  // Stops at once: every client still connected is closed, whatever it was doing.
  ~RequestServer();
  RequestServer(const RequestServer&) = delete;
  RequestServer& operator=(const RequestServer&) = delete;

  // Counted by the server's thread; readable from any thread.
  RequestCounters counters() const;

 private:
  void run();

  int listen_fd_;
  RequestProtocol protocol_;
  RequestLimits limits_;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<std::size_t> answered_{0}, timed_out_{0}, too_large_{0}, replaced_{0};
  std::thread thread_;
};

}  // namespace tapflow::probe
