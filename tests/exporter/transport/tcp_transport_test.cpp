// TCP export transport: delivery of whole messages, a collector that is down (refused, then
// reachable), a collector that closes the connection, and templates on every new connection.
#include "exporter/transport/tcp_transport.h"

#include "tests/support/loopback_listener.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace tapflow::exporter {
namespace {

// The collector's side: a TCP listener that reads byte counts.
class Listener : public test::LoopbackListener {
 public:
  explicit Listener(std::uint16_t port = 0) : LoopbackListener(IPPROTO_TCP, port) {}
  std::vector<std::uint8_t> read_exactly(std::size_t n) {
    std::vector<std::uint8_t> out(n);
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = recv(peer_, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    out.resize(got);
    return out;
  }
};

std::uint16_t unused_port() {
  Listener l;
  return l.port_number();  // closed again when l goes: nothing listens there afterwards
}

TEST(TcpTransport, DeliversWholeMessagesInOrder) {
  Listener collector;
  TcpTransport t("127.0.0.1", collector.port());
  ASSERT_EQ(collector.accept_peer() >= 0, true);
  EXPECT_TRUE(t.connected());
  EXPECT_TRUE(t.needs_templates());  // a new session
  const std::vector<std::uint8_t> a{1, 2, 3, 4}, b(3000, 7);
  EXPECT_EQ(t.send(a), SendResult::kSent);
  EXPECT_FALSE(t.needs_templates());
  EXPECT_EQ(t.send(b), SendResult::kSent);
  auto got = collector.read_exactly(a.size() + b.size());
  ASSERT_EQ(got.size(), a.size() + b.size());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), got.begin()));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), got.begin() + 4));
  EXPECT_FALSE(t.periodic_templates());
  EXPECT_EQ(t.description(), "tcp://127.0.0.1:" + collector.port());
}

TEST(TcpTransport, CollectorDownFailsThenConnectsWhenItComesUp) {
  const std::uint16_t port = unused_port();
  TcpTransport t("127.0.0.1", std::to_string(port), std::chrono::milliseconds(500), std::chrono::milliseconds(0));
  EXPECT_FALSE(t.connected());
  EXPECT_TRUE(t.needs_templates());
  const std::vector<std::uint8_t> m{9, 9, 9};
  EXPECT_EQ(t.send(m), SendResult::kFailed);
  Listener collector(port);
  EXPECT_EQ(t.send(m), SendResult::kSent);
  ASSERT_GE(collector.accept_peer(), 0);
  EXPECT_EQ(collector.read_exactly(3), m);
  EXPECT_EQ(t.connections(), 1u);
}

TEST(TcpTransport, CollectorClosingIsNoticedAndTheNextSessionNeedsTemplates) {
  auto collector = std::make_unique<Listener>();
  const std::uint16_t port = collector->port_number();
  TcpTransport t("127.0.0.1", collector->port(), std::chrono::milliseconds(500), std::chrono::milliseconds(0));
  ASSERT_GE(collector->accept_peer(), 0);
  const std::vector<std::uint8_t> m{1, 1, 1, 1};
  EXPECT_EQ(t.send(m), SendResult::kSent);
  collector.reset();  // the collector goes away: connection closed, nothing listening
  usleep(50'000);
  // Noticed before writing: the message is reported failed, not silently lost.
  EXPECT_EQ(t.send(m), SendResult::kFailed);
  EXPECT_FALSE(t.connected());
  EXPECT_TRUE(t.needs_templates());
  Listener again(port);
  EXPECT_EQ(t.send(m), SendResult::kSent);
  ASSERT_GE(again.accept_peer(), 0);
  EXPECT_EQ(again.read_exactly(4), m);
  EXPECT_EQ(t.connections(), 2u);
}

TEST(TcpTransport, UnresolvableHostIsAConstructionError) {
  EXPECT_THROW(TcpTransport("no-such-host.invalid", "4739"), std::runtime_error);
}

}  // namespace
}  // namespace tapflow::exporter
