// RequestServer, under the control socket and the metrics endpoint (issue 13, items 4 and 10): a
// client that never reads a large answer, one that drips its request, many slow ones, or one
// with a huge request, never holds up another client or the server's shutdown; and the HTTP
// answers of the metrics endpoint.
#include "probe/ops/request_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "probe/ops/metrics_server.h"

namespace tapflow::probe {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string socket_path() {
  return "/tmp/tapflow_request_server_test." + std::to_string(getpid()) + ".sock";
}

sockaddr_un address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  return a;
}

int listen_unix(const std::string& path) {
  unlink(path.c_str());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto a = address(path);
  EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(fd, 64), 0);
  return fd;
}

int connect_unix(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto a = address(path);
  EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0)
      << std::strerror(errno);
  return fd;
}

// Sends `request`, reads the answer to the end; gives up after `timeout`.
std::string ask(const std::string& path, const std::string& request,
                milliseconds timeout = milliseconds(3000)) {
  const int fd = connect_unix(path);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string answer;
  char buffer[65536];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;)
    answer.append(buffer, static_cast<std::size_t>(n));
  close(fd);
  return answer;
}

// The control socket's framing: a line; "big" answers 16 MiB.
RequestProtocol line_protocol() {
  RequestProtocol p;
  p.request_length = [](std::string_view r) {
    const auto end = r.find('\n');
    return end == std::string_view::npos ? 0 : end + 1;
  };
  p.answer = [](std::string_view request, int) {
    if (request == "big\n") return std::string(16 << 20, 'x');
    return "answer to " + std::string(request);
  };
  p.too_large = "too large\n";
  p.timed_out = "timed out\n";
  p.answer_at_end = true;
  return p;
}

RequestLimits short_limits() {
  RequestLimits l;
  l.max_clients = 4;
  l.max_request_bytes = 64;
  l.read_timeout = milliseconds(500);
  l.write_timeout = milliseconds(1000);
  return l;
}

// Item 4: `ctl flows 100000` and never read blocked every other client and shutdown.
TEST(RequestServer, AClientThatNeverReadsHoldsNobodyUp) {
  const auto path = socket_path();
  auto server = std::make_unique<RequestServer>(listen_unix(path), line_protocol(), short_limits());
  std::vector<int> stuck;
  for (int i = 0; i < 3; ++i) {
    stuck.push_back(connect_unix(path));
    ASSERT_EQ(send(stuck.back(), "big\n", 4, 0), 4);
  }
  std::this_thread::sleep_for(milliseconds(100));
  const auto start = Clock::now();
  EXPECT_EQ(ask(path, "stats\n"), "answer to stats\n");
  EXPECT_LT(Clock::now() - start, milliseconds(300));
  // Shutdown does not wait for them either.
  const auto stop = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - stop, milliseconds(200));
  for (int fd : stuck) close(fd);
}

TEST(RequestServer, AnAnswerNotTakenInTimeIsDropped) {
  const auto path = socket_path();
  RequestServer server(listen_unix(path), line_protocol(), short_limits());
  const int fd = connect_unix(path);
  ASSERT_EQ(send(fd, "big\n", 4, 0), 4);
  std::this_thread::sleep_for(milliseconds(1500));  // past the 1 s write deadline
  std::size_t got = 0;
  char buffer[65536];
  for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) got += static_cast<std::size_t>(n);
  EXPECT_LT(got, std::size_t{16} << 20);  // cut short, and the connection closed
  EXPECT_EQ(server.counters().timed_out, 1u);
  close(fd);
}

// Item 4: a client dripping one octet per 1.5 s held the server 34.7 s.
TEST(RequestServer, ADrippingClientIsCutOffAtTheReadDeadline) {
  const auto path = socket_path();
  RequestServer server(listen_unix(path), line_protocol(), short_limits());
  const int drip = connect_unix(path);
  const auto start = Clock::now();
  std::string answer;
  char buffer[256];
  for (int i = 0; i < 20; ++i) {
    if (send(drip, "s", 1, MSG_NOSIGNAL) != 1) break;
    // Meanwhile others are served at once.
    if (i == 1) {
      EXPECT_EQ(ask(path, "other\n", milliseconds(300)), "answer to other\n");
    }
    std::this_thread::sleep_for(milliseconds(100));
    const ssize_t n = recv(drip, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) answer.append(buffer, static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  EXPECT_EQ(answer, "timed out\n");
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
  close(drip);
}

TEST(RequestServer, AnOverlongRequestIsRefused) {
  const auto path = socket_path();
  RequestServer server(listen_unix(path), line_protocol(), short_limits());
  EXPECT_EQ(ask(path, std::string(100, 'a') + "\n"), "too large\n");
  EXPECT_EQ(ask(path, "short\n"), "answer to short\n");
  EXPECT_EQ(server.counters().too_large, 1u);
}

TEST(RequestServer, ARequestEndedByShutdownIsAnswered) {
  const auto path = socket_path();
  RequestServer server(listen_unix(path), line_protocol(), short_limits());
  const int fd = connect_unix(path);
  ASSERT_EQ(send(fd, "no newline", 10, 0), 10);
  shutdown(fd, SHUT_WR);
  char buffer[256];
  const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
  EXPECT_EQ(std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(n, 0))),
            "answer to no newline");
  close(fd);
}

// Item 10: 8 slow clients (one header line a second) starved /metrics. With every slot taken by
// clients still sending, a newcomer replaces the one that has been sending the longest (12
// clients for 4 slots: the scrape waits in the backlog behind 8 of them).
TEST(RequestServer, SlowClientsDoNotStarveANewcomer) {
  const auto path = socket_path();
  RequestLimits limits = short_limits();
  limits.read_timeout = milliseconds(5000);
  RequestServer server(listen_unix(path), line_protocol(), limits);
  std::vector<int> slow;
  for (int i = 0; i < 12; ++i) {
    slow.push_back(connect_unix(path));
    send(slow.back(), "x", 1, MSG_NOSIGNAL);
  }
  std::this_thread::sleep_for(milliseconds(400));  // past the 250 ms a fresh client is safe
  for (int round = 0; round < 5; ++round) {
    const auto start = Clock::now();
    EXPECT_EQ(ask(path, "scrape\n", milliseconds(2000)), "answer to scrape\n") << round;
    // Behind the slow clients still in the backlog, each let in 250 ms after the one it replaces.
    EXPECT_LT(Clock::now() - start, milliseconds(1000));
    for (int fd : slow) send(fd, "x", 1, MSG_NOSIGNAL);
  }
  EXPECT_GE(server.counters().replaced, 1u);
  for (int fd : slow) close(fd);
}

// 20 concurrent GET /metrics lost 7 (issue 13, item 1, through cpp-httplib's threads): clients
// that arrive together, more than there are slots, are each answered, none replaced.
TEST(RequestServer, ClientsArrivingTogetherAreAllAnswered) {
  const auto path = socket_path();
  RequestServer server(listen_unix(path), line_protocol(), short_limits());
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      if (ask(path, "q" + std::to_string(i) + "\n") == "answer to q" + std::to_string(i) + "\n")
        ++answered;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered, 20);
  EXPECT_EQ(server.counters().replaced, 0u);
}

TEST(MetricsHttp, AnswersGetAndHeadOfMetricsOnly) {
  const auto metrics = [] { return std::string("tapflow_up 1\n"); };
  const auto get =
      answer_http_request("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", metrics);
  EXPECT_EQ(get.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << get;
  EXPECT_NE(get.find("Content-Length: 13\r\n"), std::string::npos) << get;
  EXPECT_NE(get.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << get;
  EXPECT_EQ(get.substr(get.size() - 13), "tapflow_up 1\n");
  const auto head = answer_http_request("HEAD /metrics?x=1 HTTP/1.0\n\n", metrics);
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  EXPECT_EQ(answer_http_request("GET / HTTP/1.1\r\n\r\n", metrics).rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(answer_http_request("POST /metrics HTTP/1.1\r\n\r\n", metrics).rfind("HTTP/1.1 405", 0),
            0u);
  EXPECT_EQ(answer_http_request("garbage\r\n\r\n", metrics).rfind("HTTP/1.1 400", 0), 0u);
  std::string many = "GET /metrics HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= MetricsServer::kMaxHeaders; ++i) many += "a: b\r\n";
  EXPECT_EQ(answer_http_request(many + "\r\n", metrics).rfind("HTTP/1.1 431", 0), 0u);
}

}  // namespace
}  // namespace tapflow::probe
