// `tapflow collect` over TCP must stay up for every exporter (issue 13, items 6 and 7): a session
// ends with its connection (a reused source port starts afresh, 1100 exporters in turn are all
// heard), idle or dripping connections are closed, and a newcomer past a bound takes the place of
// a connection that never delivered anything.
#include "probe/collect/collector.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "exporter/ipfix/ipfix_encoder.h"

namespace tapflow::probe {
namespace {

using namespace tapflow::exporter;  // NOLINT(google-build-using-namespace)

using std::chrono::milliseconds;

cache::FlowRecord make_record(std::uint32_t n) {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  r.key.source_address[0] = 10;
  r.key.source_address[2] = static_cast<std::uint8_t>(n >> 8);
  r.key.source_address[3] = static_cast<std::uint8_t>(n);
  r.key.destination_address[0] = 192;
  r.key.source_port = static_cast<std::uint16_t>(n);
  r.key.destination_port = 80;
  r.key.protocol = 6;
  r.packets = 1;
  r.octets = 40;
  r.first_ns = 1'700'000'000'000'000'000;
  r.last_ns = r.first_ns;
  return r;
}

std::vector<std::uint8_t> message(IpfixEncoder& encoder, bool templates, std::uint32_t n) {
  encoder.begin_message(templates);
  EXPECT_EQ(encoder.add_record(make_record(n)), IpfixEncoder::AddResult::kAdded);
  const auto m = encoder.finish_message(1'700'000'100);
  return {m.begin(), m.end()};
}

std::string read_all(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
  return text;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A collector on tcp://127.0.0.1:0 on its own thread until stop().
class TcpCollector {
 public:
  explicit TcpCollector(CollectorOptions options) : options_(std::move(options)) {
    options_.listen = "tcp://127.0.0.1:0";
    options_.stop = &stop_;
    options_.handle_signals = false;
    options_.out = out_;
    options_.err = err_;
    options_.on_listening = [this](std::uint16_t p) { port_ = p; };
    thread_ = std::thread([this] { status_ = run_collector(options_); });
    for (int i = 0; i < 1000 && port_ == 0; ++i) std::this_thread::sleep_for(milliseconds(2));
    EXPECT_NE(port_, 0);
  }
  ~TcpCollector() {
    stop();
    std::fclose(out_);
    std::fclose(err_);
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Connects from `local_port` (0: any). SO_LINGER 0 on close resets the connection, so the port
  // can be bound again at once.
  int connect_from(std::uint16_t local_port = 0) const {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (local_port != 0) {
      a.sin_port = htons(local_port);
      EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    }
    a.sin_port = htons(port_);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    return fd;
  }
  static void send_all(int fd, const std::vector<std::uint8_t>& bytes) {
    EXPECT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // Waits until `out` holds `lines` records (or 5 s).
  void wait_for_records(std::size_t lines) {
    for (int i = 0; i < 500 && count(read_all(out_), "\n") < lines; ++i)
      std::this_thread::sleep_for(milliseconds(10));
  }
  std::string out() { return read_all(out_); }
  std::string err() { return read_all(err_); }
  int status() const { return status_; }

 private:
  CollectorOptions options_;
  std::FILE* out_ = std::tmpfile();
  std::FILE* err_ = std::tmpfile();
  std::atomic<bool> stop_{false};
  std::atomic<std::uint16_t> port_{0};
  int status_ = -1;
  std::thread thread_;
};

// Item 6: the session ends with its connection. A new exporter from the same address and port
// starts its sequence numbers at 0: that is no gap (before, it was one of about 2^32 records).
TEST(CollectorTcp, AReusedSourcePortStartsANewSession) {
  TcpCollector collector({});
  const std::uint16_t port = 40000 + static_cast<std::uint16_t>(getpid() % 20000);
  {
    IpfixEncoder first(1, 65535);
    const int fd = collector.connect_from(port);
    for (std::uint32_t i = 0; i < 5; ++i) TcpCollector::send_all(fd, message(first, i == 0, i));
    collector.wait_for_records(5);
    close(fd);
  }
  std::this_thread::sleep_for(milliseconds(300));  // the collector sees the close
  {
    IpfixEncoder second(1, 65535);
    const int fd = collector.connect_from(port);
    TcpCollector::send_all(fd, message(second, true, 9));
    collector.wait_for_records(6);
    close(fd);
  }
  collector.stop();
  const std::string err = collector.err();
  EXPECT_EQ(count(collector.out(), "\n"), 6u);
  EXPECT_EQ(count(err, "sequence gap from"), 0u) << err;
  EXPECT_NE(err.find(" 0 sequence gaps"), std::string::npos) << err;
}

// Item 6: 1100 exporters one after the other (more than the 1024 sources a decoder holds) are
// all heard, as each connection's session is forgotten when it closes.
TEST(CollectorTcp, ManyExportersInTurnAreAllHeard) {
  TcpCollector collector({});
  for (std::uint32_t i = 0; i < 1100; ++i) {
    IpfixEncoder encoder(1, 65535);
    const int fd = collector.connect_from();
    TcpCollector::send_all(fd, message(encoder, true, i));
    shutdown(fd, SHUT_WR);
    char byte;
    EXPECT_EQ(recv(fd, &byte, 1, 0), 0);  // the collector read it all and closed its side
    close(fd);
  }
  collector.wait_for_records(1100);
  collector.stop();
  const std::string err = collector.err();
  EXPECT_EQ(count(collector.out(), "\n"), 1100u)
      << err.substr(err.size() > 2000 ? err.size() - 2000 : 0);
  EXPECT_EQ(err.find("too many exporters"), std::string::npos);
}

// Item 7: 64 idle connections from one local user no longer lock every exporter out.
TEST(CollectorTcp, IdleConnectionsDoNotLockExportersOut) {
  CollectorOptions options;
  options.stream_message_timeout_ms = 2000;
  TcpCollector collector(options);
  std::vector<int> idle;
  for (int i = 0; i < 64; ++i) idle.push_back(collector.connect_from());
  std::this_thread::sleep_for(milliseconds(300));
  IpfixEncoder encoder(1, 65535);
  const int fd = collector.connect_from();
  TcpCollector::send_all(fd, message(encoder, true, 1));
  collector.wait_for_records(1);
  EXPECT_EQ(count(collector.out(), "\n"), 1u) << collector.err();
  // The real exporter stays while newcomers keep coming: they replace idle ones, not it.
  for (int i = 0; i < 64; ++i) idle.push_back(collector.connect_from());
  std::this_thread::sleep_for(milliseconds(300));
  TcpCollector::send_all(fd, message(encoder, false, 2));
  collector.wait_for_records(2);
  EXPECT_EQ(count(collector.out(), "\n"), 2u) << collector.err();
  // And the idle ones are closed once they have not sent a message in time.
  std::this_thread::sleep_for(milliseconds(2500));
  collector.stop();
  const std::string err = collector.err();
  EXPECT_EQ(err.find("refusing"), std::string::npos) << err;
  EXPECT_GE(count(err, "no complete message within 2000 ms"), 1u) << err;
  for (int s : idle) close(s);
  close(fd);
}

// Item 7: a connection dripping one octet at a time is closed when its message is not complete
// within the message timeout; one silent after its messages, at the idle timeout.
TEST(CollectorTcp, DrippingAndSilentConnectionsAreClosed) {
  CollectorOptions options;
  options.stream_message_timeout_ms = 400;
  options.stream_idle_timeout_ms = 800;
  TcpCollector collector(options);
  IpfixEncoder encoder(1, 65535);
  const int silent = collector.connect_from();
  TcpCollector::send_all(silent, message(encoder, true, 1));
  const int drip = collector.connect_from();
  const auto m = message(encoder, true, 2);
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < m.size() && !closed; ++i) {
    if (send(drip, &m[i], 1, MSG_NOSIGNAL) != 1) closed = true;
    std::this_thread::sleep_for(milliseconds(100));
    char byte;
    if (recv(drip, &byte, 1, MSG_DONTWAIT) == 0) closed = true;
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  std::this_thread::sleep_for(milliseconds(800));
  char byte;
  EXPECT_EQ(recv(silent, &byte, 1, MSG_DONTWAIT), 0);  // closed at the idle timeout
  collector.stop();
  const std::string err = collector.err();
  EXPECT_NE(err.find("no complete message within 400 ms"), std::string::npos) << err;
  EXPECT_NE(err.find("silent for 800 ms"), std::string::npos) << err;
  EXPECT_NE(err.find("2 timed out"), std::string::npos) << err;
  EXPECT_EQ(count(collector.out(), "\n"), 1u);
  close(silent);
  close(drip);
}

// One peer address may hold only max_connections_per_peer connections; past that, a newcomer
// replaces one of its own idle connections or is refused when all of them are real exporters.
TEST(CollectorTcp, OnePeerCannotTakeEverySlot) {
  CollectorOptions options;
  options.max_connections_per_peer = 3;
  TcpCollector collector(options);
  std::vector<int> real;
  for (std::uint32_t i = 0; i < 3; ++i) {
    IpfixEncoder encoder(1, 65535);
    real.push_back(collector.connect_from());
    TcpCollector::send_all(real.back(), message(encoder, true, i));
  }
  collector.wait_for_records(3);
  const int fourth = collector.connect_from();
  char byte;
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(recv(fourth, &byte, 1, MSG_DONTWAIT), 0);  // refused: closed at once
  collector.stop();
  EXPECT_NE(collector.err().find("already 3 connections from that address"), std::string::npos)
      << collector.err();
  for (int s : real) close(s);
  close(fourth);
}

}  // namespace
}  // namespace tapflow::probe
