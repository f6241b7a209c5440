// SCTP export: sctp:// URLs, which messages go fully reliably (those with templates), the clear
// start-up error on a kernel without SCTP, and, where the kernel has SCTP (tests/vm runs these in
// a VM when the host has none), real associations: whole messages in order on stream 0, a
// collector that is down then comes up, an aborted association noticed before sending and
// templates on the next one, and `collect --listen sctp://` receiving every record.
#include "exporter/transport/sctp_transport.h"

#include "tests/support/loopback_listener.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/sctp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "probe/collect/collector.h"
#include "exporter/transport/endpoint_url.h"
#include "exporter/exporter.h"
#include "exporter/message_exporter.h"

namespace tapflow::exporter {
namespace {

using Bytes = std::vector<std::uint8_t>;

#define SKIP_WITHOUT_KERNEL_SCTP()                                                                \
  do {                                                                                            \
    if (!kernel_supports_sctp(AF_INET)) GTEST_SKIP() << "no SCTP in this kernel (modprobe sctp)"; \
  } while (false)

TEST(SctpEndpointUrl, ParsesSctpForms) {
  auto u = parse_endpoint_url("sctp://collector.example:4739");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, EndpointUrl::Scheme::kSctp);
  EXPECT_EQ(u->host, "collector.example");
  EXPECT_EQ(u->port, "4739");
  u = parse_endpoint_url("sctp://[::1]:4740");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, EndpointUrl::Scheme::kSctp);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "4740");
  u = parse_endpoint_url("sctp://:4739");  // any address, for --listen
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "");
  for (const char* bad : {"sctp://h", "sctp://h:", "sctp://h:65536", "sctp://::1:4739", "sctp:/h:1",
                          "sctp//h:1", "sctp://[::1]4739", "sctp://h/x:1"}) {
    EXPECT_FALSE(parse_endpoint_url(bad)) << bad;
  }
}

// RFC 7011 §3.1 message header (16 octets), then sets of {Set ID, Length} (§3.3.2).
Bytes message_with_sets(std::initializer_list<std::pair<std::uint16_t, std::uint16_t>> sets) {
  Bytes m(16, 0);
  m[1] = 10;
  for (const auto& [id, length] : sets) {
    m.push_back(static_cast<std::uint8_t>(id >> 8));
    m.push_back(static_cast<std::uint8_t>(id));
    m.push_back(static_cast<std::uint8_t>(length >> 8));
    m.push_back(static_cast<std::uint8_t>(length));
    m.resize(m.size() + (length >= 4 ? length - 4 : 0), 0);
  }
  m[2] = static_cast<std::uint8_t>(m.size() >> 8);
  m[3] = static_cast<std::uint8_t>(m.size());
  return m;
}

TEST(SctpTransport, SendsMessagesWithTemplatesReliably) {
  // Data sets (ID >= 256) only: PR-SCTP may abandon them.
  EXPECT_FALSE(SctpTransport::carries_templates(message_with_sets({{256, 12}, {257, 20}})));
  EXPECT_FALSE(SctpTransport::carries_templates(message_with_sets({})));
  // A Template Set (2) or Options Template Set (3) anywhere: reliable.
  EXPECT_TRUE(SctpTransport::carries_templates(message_with_sets({{2, 20}, {256, 12}})));
  EXPECT_TRUE(SctpTransport::carries_templates(message_with_sets({{256, 12}, {3, 24}})));
  // What cannot be walked is sent reliably too: a short header, a set length below 4.
  EXPECT_TRUE(SctpTransport::carries_templates(Bytes(10, 0)));
  EXPECT_TRUE(SctpTransport::carries_templates(message_with_sets({{256, 2}})));
}

// Keeps every message the real exporter hands over.
class RecordingTransport final : public Transport {
 public:
  explicit RecordingTransport(std::vector<Bytes>& messages) : messages_(messages) {}
  SendResult send(std::span<const std::uint8_t> message) override {
    messages_.emplace_back(message.begin(), message.end());
    return SendResult::kSent;
  }
  void flush() override {}
  std::size_t max_message_size(std::size_t mtu) const override { return mtu - 48; }
  bool periodic_templates() const override { return false; }
  const std::string& description() const override { return description_; }

 private:
  std::vector<Bytes>& messages_;
  std::string description_ = "recording";
};

std::vector<cache::FlowRecord> make_records(std::size_t count) {
  std::vector<cache::FlowRecord> records(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto& r = records[i];
    r.key.ip_version = 4;
    r.key.source_address[0] = 10;
    r.key.source_address[3] = static_cast<std::uint8_t>(i);
    r.key.destination_address[0] = 192;
    r.key.source_port = static_cast<std::uint16_t>(1000 + i);
    r.key.destination_port = 4739;
    r.key.protocol = 132;
    r.packets = i + 1;
    r.octets = std::uint64_t{100} * (i + 1);
    r.first_ns = 1'700'000'000'000'000'000;
    r.last_ns = r.first_ns + 1'000'000;
    r.end_reason = cache::FlowEndReason::kIdleTimeout;
  }
  return records;
}

TEST(SctpTransport, TheEncodersFirstMessageIsReliableTheRestTimed) {
  std::vector<Bytes> messages;
  IpfixExporter exporter(
      std::make_unique<RecordingTransport>(messages), {}, [] { return 0ull; }, "x");
  exporter.export_records(make_records(200));
  exporter.flush();
  ASSERT_GE(messages.size(), 3u);
  EXPECT_TRUE(SctpTransport::carries_templates(messages.front()));
  for (std::size_t i = 1; i < messages.size(); ++i)
    EXPECT_FALSE(SctpTransport::carries_templates(messages[i])) << i;
}

TEST(SctpTransport, KernelWithoutSctpIsAClearStartUpError) {
  if (kernel_supports_sctp(AF_INET)) GTEST_SKIP() << "this kernel has SCTP";
  try {
    make_exporter("sctp://127.0.0.1:4739", {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("sctp://127.0.0.1:4739"), std::string::npos) << what;
    EXPECT_NE(what.find("SCTP is not available in this kernel (modprobe sctp)"), std::string::npos)
        << what;
  }
  std::FILE* err = std::tmpfile();
  probe::CollectorOptions options;
  options.listen = "sctp://127.0.0.1:0";
  options.handle_signals = false;
  options.err = err;
  EXPECT_EQ(probe::run_collector(options), 2);
  std::fflush(err);
  std::rewind(err);
  char text[512] = {};
  EXPECT_GT(std::fread(text, 1, sizeof text - 1, err), 0u);
  EXPECT_NE(std::string(text).find("SCTP is not available in this kernel (modprobe sctp)"),
            std::string::npos)
      << text;
  std::fclose(err);
}

TEST(SctpTransport, UnresolvableHostIsAConstructionError) {
  EXPECT_THROW(SctpTransport("no-such-host.invalid", "4739"), std::runtime_error);
}

// A one-to-one SCTP listener on 127.0.0.1 (ephemeral port unless given).
class Listener : public test::LoopbackListener {
 public:
  explicit Listener(std::uint16_t port = 0, int receive_buffer = 0)
      : LoopbackListener(IPPROTO_SCTP, port, receive_buffer) {}
  // One whole user message and the stream it came on.
  Bytes receive(std::uint16_t* stream = nullptr) {
    pollfd p{peer_, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) return {};
    Bytes out(65536);
    sctp_sndrcvinfo info{};
    int flags = 0;
    const int n = sctp_recvmsg(peer_, out.data(), out.size(), nullptr, nullptr, &info, &flags);
    EXPECT_NE(flags & MSG_EOR, 0);
    if (stream != nullptr) *stream = info.sinfo_stream;
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }
  void abort_peer() {
    linger abortive{1, 0};  // close with ABORT rather than SHUTDOWN
    setsockopt(peer_, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    close(peer_);
    peer_ = -1;
  }
};

std::uint16_t unused_port() {
  Listener l;
  return l.port_number();  // closed again when l goes: nothing listens there afterwards
}

TEST(SctpTransport, DeliversWholeMessagesInOrderOnStreamZero) {
  SKIP_WITHOUT_KERNEL_SCTP();
  Listener collector;
  SctpTransport t("127.0.0.1", collector.port());
  ASSERT_GE(collector.accept_peer(), 0);
  EXPECT_TRUE(t.connected());
  EXPECT_TRUE(t.needs_templates());  // a new association
  const Bytes with_templates = message_with_sets({{2, 20}, {256, 12}});
  const Bytes data = message_with_sets({{256, 200}});
  EXPECT_EQ(t.send(with_templates), SendResult::kSent);
  EXPECT_FALSE(t.needs_templates());
  EXPECT_EQ(t.send(data), SendResult::kSent);
  std::uint16_t stream = 99;
  EXPECT_EQ(collector.receive(&stream), with_templates);  // message boundaries kept
  EXPECT_EQ(stream, 0);
  EXPECT_EQ(collector.receive(&stream), data);
  EXPECT_EQ(stream, 0);
  EXPECT_TRUE(t.partial_reliability());  // PR-SCTP negotiated and SCTP_PRINFO taken
  EXPECT_FALSE(t.periodic_templates());
  EXPECT_EQ(t.description(), "sctp://127.0.0.1:" + collector.port());
  EXPECT_EQ(t.abandoned(), 0u);
}

// RFC 7011 §10.2 asks for PR-SCTP so a slow collector costs old data, not an ever-growing queue:
// a collector that stops reading, data-only messages with a 10 ms lifetime queue behind its closed
// window and are abandoned (counted), while the association stays up and the template message
// before them arrived whole.
TEST(SctpTransport, PrSctpAbandonsOldDataWhenTheCollectorStalls) {
  SKIP_WITHOUT_KERNEL_SCTP();
  Listener collector(0, 4096);
  SctpTransport t("127.0.0.1", collector.port(), std::chrono::milliseconds(2000),
                  std::chrono::milliseconds(0), std::chrono::milliseconds(10));
  ASSERT_GE(collector.accept_peer(), 0);
  const Bytes with_templates = message_with_sets({{2, 20}, {256, 12}});
  ASSERT_EQ(t.send(with_templates), SendResult::kSent);
  const Bytes data = message_with_sets({{256, 200}});
  for (int batch = 0; batch < 100 && t.abandoned() == 0; ++batch) {
    for (int i = 0; i < 20; ++i) EXPECT_EQ(t.send(data), SendResult::kSent) << batch << " " << i;
    usleep(50'000);  // the queued ones outlive their lifetime; the next send abandons them
  }
  EXPECT_GT(t.abandoned(), 0u);
  EXPECT_TRUE(t.connected());
  EXPECT_EQ(collector.receive(), with_templates);
}

TEST(SctpTransport, CollectorDownFailsThenAssociatesWhenItComesUp) {
  SKIP_WITHOUT_KERNEL_SCTP();
  const std::uint16_t port = unused_port();
  SctpTransport t("127.0.0.1", std::to_string(port), std::chrono::milliseconds(500),
                  std::chrono::milliseconds(0));
  EXPECT_FALSE(t.connected());
  EXPECT_TRUE(t.needs_templates());
  const Bytes m = message_with_sets({{2, 8}});
  EXPECT_EQ(t.send(m), SendResult::kFailed);
  Listener collector(port);
  EXPECT_EQ(t.send(m), SendResult::kSent);
  ASSERT_GE(collector.accept_peer(), 0);
  EXPECT_EQ(collector.receive(), m);
  EXPECT_EQ(t.associations(), 1u);
}

TEST(SctpTransport, AbortedAssociationIsNoticedAndTheNextOneNeedsTemplates) {
  SKIP_WITHOUT_KERNEL_SCTP();
  auto collector = std::make_unique<Listener>();
  const std::uint16_t port = collector->port_number();
  SctpTransport t("127.0.0.1", collector->port(), std::chrono::milliseconds(500),
                  std::chrono::milliseconds(0));
  ASSERT_GE(collector->accept_peer(), 0);
  const Bytes m = message_with_sets({{2, 8}});
  EXPECT_EQ(t.send(m), SendResult::kSent);
  EXPECT_EQ(collector->receive(), m);
  collector->abort_peer();  // SCTP ABORT
  collector.reset();        // and nothing listens any more
  usleep(100'000);
  EXPECT_EQ(t.send(m), SendResult::kFailed);  // noticed, not silently lost
  EXPECT_FALSE(t.connected());
  EXPECT_TRUE(t.needs_templates());
  Listener again(port);
  EXPECT_EQ(t.send(m), SendResult::kSent);
  ASSERT_GE(again.accept_peer(), 0);
  EXPECT_EQ(again.receive(), m);
  EXPECT_EQ(t.associations(), 2u);
}

// `collect --listen sctp://HOST:0` and an exporter to it: every record arrives, none fails.
void collect_round_trip(const std::string& host) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::atomic<int> port{0};
  probe::CollectorOptions options;
  options.listen = "sctp://" + host + ":0";
  options.max_records = 300;
  options.idle_timeout_ms = 5000;
  options.handle_signals = false;
  options.out = out;
  options.err = err;
  options.on_listening = [&](std::uint16_t p) { port = p; };
  int status = -1;
  std::thread collector([&] { status = probe::run_collector(options); });
  for (int i = 0; i < 500 && port == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_NE(port, 0);
  auto exporter = make_exporter("sctp://" + host + ":" + std::to_string(port.load()), {});
  exporter->export_records(make_records(300));
  exporter->flush();
  collector.join();
  EXPECT_EQ(status, 0);
  EXPECT_EQ(exporter->counters().send_errors, 0u);
  std::fflush(out);
  std::rewind(out);
  std::size_t lines = 0;
  for (int c; (c = std::fgetc(out)) != EOF;) lines += c == '\n';
  EXPECT_EQ(lines, 300u);
  std::fflush(err);
  std::rewind(err);
  std::string messages;
  for (int c; (c = std::fgetc(err)) != EOF;) messages += static_cast<char>(c);
  EXPECT_NE(messages.find("connection from " + host + ":"), std::string::npos) << messages;
  EXPECT_NE(messages.find("0 data sets without template"), std::string::npos) << messages;
  std::fclose(out);
  std::fclose(err);
}

TEST(SctpTransport, CollectReceivesEveryRecordOverIpv4) {
  SKIP_WITHOUT_KERNEL_SCTP();
  collect_round_trip("127.0.0.1");
}

TEST(SctpTransport, CollectReceivesEveryRecordOverIpv6) {
  SKIP_WITHOUT_KERNEL_SCTP();
  if (!kernel_supports_sctp(AF_INET6)) GTEST_SKIP() << "no SCTP over IPv6 in this kernel";
  collect_round_trip("[::1]");
}

}  // namespace
}  // namespace tapflow::exporter
