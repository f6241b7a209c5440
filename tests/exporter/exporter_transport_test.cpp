// The IPFIX exporter with an injected clock and transport (template refresh, MTU, failed sends),
// URL parsing, and the real transports: UDP over 127.0.0.1 and ::1, and RFC 5655 files read back.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "probe/collect/collector.h"
#include "exporter/transport/endpoint_url.h"
#include "exporter/exporter.h"
#include "exporter/message_exporter.h"
#include "exporter/ipfix/ipfix_file_reader.h"
#include "exporter/message_decoder.h"

namespace tapflow::exporter {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000;

cache::FlowRecord make_record(std::uint8_t ip_version, std::uint32_t n) {
  cache::FlowRecord r;
  r.key.ip_version = ip_version;
  r.key.source_address[0] = ip_version == 4 ? 10 : 0x20;
  r.key.source_address[2] = static_cast<std::uint8_t>(n >> 8);
  r.key.source_address[3] = static_cast<std::uint8_t>(n);
  r.key.destination_address[0] = ip_version == 4 ? 192 : 0xfd;
  r.key.source_port = static_cast<std::uint16_t>(n);
  r.key.destination_port = 80;
  r.key.protocol = 6;
  r.packets = n + 1;
  r.octets = 40 * (n + 1);
  r.first_ns = 1'700'000'000 * kSecond;
  r.last_ns = r.first_ns + n * 1'000'000;
  r.end_reason = cache::FlowEndReason::kActiveTimeout;
  return r;
}

std::vector<cache::FlowRecord> make_records(std::size_t count) {
  std::vector<cache::FlowRecord> records;
  for (std::uint32_t i = 0; i < count; ++i) records.push_back(make_record(i % 5 == 4 ? 6 : 4, i));
  return records;
}

// Keeps every message; optionally fails sends.
class RecordingTransport final : public Transport {
 public:
  struct State {
    std::vector<std::vector<std::uint8_t>> messages;
    bool fail = false;
    int flushes = 0;
  };
  RecordingTransport(State& state, bool periodic) : state_(state), periodic_(periodic) {}
  SendResult send(std::span<const std::uint8_t> message) override {
    state_.messages.emplace_back(message.begin(), message.end());
    return state_.fail ? SendResult::kFailed : SendResult::kSent;
  }
  void flush() override { ++state_.flushes; }
  std::size_t max_message_size(std::size_t mtu) const override { return mtu - 28; }
  bool periodic_templates() const override { return periodic_; }
  const std::string& description() const override { return name_; }

 private:
  State& state_;
  bool periodic_;
  std::string name_ = "recording";
};

bool has_template_set(const std::vector<std::uint8_t>& m) { return m[16] == 0 && m[17] == 2; }

struct Harness {
  RecordingTransport::State state;
  std::uint64_t now_ns = 1'700'000'000 * kSecond;
  std::unique_ptr<IpfixExporter> exporter;
  Harness(bool periodic, ExportOptions options = {}) {
    exporter = std::make_unique<IpfixExporter>(
        std::make_unique<RecordingTransport>(state, periodic), options,
        [this] { return now_ns; }, "test");
  }
  void send(std::size_t count) {
    exporter->export_records(make_records(count));
    exporter->flush();
  }
};

TEST(IpfixExporter, KeepsMessagesUnderTheMtuAndLosesNoRecord) {
  ExportOptions options;
  options.mtu = 576;
  options.template_refresh_packets = 0;  // templates by time only: one template set
  Harness h(true, options);
  const auto records = make_records(5000);
  h.exporter->export_records(std::span(records).first(1234));
  h.exporter->export_records(std::span(records).subspan(1234));
  h.exporter->flush();
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  for (const auto& m : h.state.messages) {
    EXPECT_LE(m.size(), 576u - 28u);
    const auto s = decoder.decode(m, "mtu", out);
    EXPECT_FALSE(s.malformed) << s.reason;
    EXPECT_FALSE(s.gap);
  }
  ASSERT_EQ(out.size(), records.size());
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].flow.key, records[i].key) << i;
  const auto& c = h.exporter->counters();
  EXPECT_EQ(c.records, 5000u);
  EXPECT_EQ(c.messages, h.state.messages.size());
  EXPECT_EQ(c.template_sets, 1u);
  EXPECT_EQ(c.send_errors, 0u);
  std::uint64_t octets = 0;
  for (const auto& m : h.state.messages) octets += m.size();
  EXPECT_EQ(c.octets, octets);
}

TEST(IpfixExporter, SequenceNumbersRunAcrossMessages) {
  Harness h(true);
  h.send(3);
  h.send(4);
  h.send(1);
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  std::vector<std::uint32_t> sequences;
  for (const auto& m : h.state.messages) sequences.push_back(decoder.decode(m, "s", out).sequence_number);
  // RFC 7011 §3.1 counts options data records too: the first message carries the two
  // reliability statistics records with its templates.
  EXPECT_EQ(sequences, (std::vector<std::uint32_t>{0, 3 + 2, 7 + 2}));
}

// RFC 7011 §8.4: over UDP the templates are re-sent every template_refresh_interval_s of the
// export clock; the first message always carries them.
TEST(IpfixExporter, ResendsTemplatesOnTheExportClockOverUdp) {
  ExportOptions options;
  options.template_refresh_interval_s = 600;
  Harness h(true, options);
  h.send(1);
  h.now_ns += 599 * kSecond;
  h.send(1);
  h.now_ns += 1 * kSecond;
  h.send(1);
  h.now_ns += 10 * kSecond;
  h.send(1);
  ASSERT_EQ(h.state.messages.size(), 4u);
  EXPECT_TRUE(has_template_set(h.state.messages[0]));
  EXPECT_FALSE(has_template_set(h.state.messages[1]));
  EXPECT_TRUE(has_template_set(h.state.messages[2]));
  EXPECT_FALSE(has_template_set(h.state.messages[3]));
  EXPECT_EQ(h.exporter->counters().template_sets, 2u);
  // Export Time is the clock in seconds.
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  EXPECT_EQ(decoder.decode(h.state.messages[3], "t", out).export_time_s, 1'700'000'610u);
}

TEST(IpfixExporter, FilesGetTemplatesOnlyAtTheStart) {
  Harness h(false);
  h.send(1);
  h.now_ns += 100'000 * kSecond;
  h.send(1);
  ASSERT_EQ(h.state.messages.size(), 2u);
  EXPECT_TRUE(has_template_set(h.state.messages[0]));
  EXPECT_FALSE(has_template_set(h.state.messages[1]));
}

TEST(IpfixExporter, CountsFailedSendsAndKeepsSequenceNumbersHonest) {
  Harness h(true);
  h.state.fail = true;
  h.send(5);
  h.state.fail = false;
  h.send(2);
  const auto& c = h.exporter->counters();
  EXPECT_EQ(c.records, 7u);
  EXPECT_EQ(c.messages, 2u);
  EXPECT_EQ(c.send_errors, 1u);
  EXPECT_EQ(c.records_unsent, 5u);
  // The collector sees the lost records as a gap: the second message says 5 came before it (and
  // the 2 statistics records that went with the templates).
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  EXPECT_EQ(decoder.decode(h.state.messages[1], "f", out).sequence_number, 5u + 2);
}

TEST(IpfixExporter, CountsUnexportableRecordsAndSendsNothingForThem) {
  Harness h(true);
  cache::FlowRecord r = make_record(4, 0);
  r.key.ip_version = 0;
  std::vector<cache::FlowRecord> records(3, r);
  h.exporter->export_records(records);
  h.exporter->flush();
  EXPECT_TRUE(h.state.messages.empty());
  EXPECT_EQ(h.exporter->counters().unexportable, 3u);
  h.send(1);
  ASSERT_EQ(h.state.messages.size(), 1u);
  EXPECT_TRUE(has_template_set(h.state.messages[0]));  // still due
}

TEST(EndpointUrl, ParsesTheAcceptedForms) {
  auto u = parse_endpoint_url("udp://collector.example:4739");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, EndpointUrl::Scheme::kUdp);
  EXPECT_EQ(u->host, "collector.example");
  EXPECT_EQ(u->port, "4739");
  u = parse_endpoint_url("udp://[::1]:2055");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "2055");
  u = parse_endpoint_url("127.0.0.1:9995");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  u = parse_endpoint_url("[fe80::1%eth0]:9995");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "fe80::1%eth0");
  u = parse_endpoint_url("udp://:4739");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "");
  u = parse_endpoint_url("file:/tmp/x.ipfix");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, EndpointUrl::Scheme::kFile);
  EXPECT_EQ(u->path, "/tmp/x.ipfix");
  u = parse_endpoint_url("file:///tmp/y");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "/tmp/y");
  u = parse_endpoint_url("tcp://[::1]:4739");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, EndpointUrl::Scheme::kTcp);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "4739");
  for (const char* bad : {"quic://h:1", "tcp://h", "h", "udp://h", "udp://h:", "udp://h:65536", "udp://h:x1",
                          "::1:4739", "udp://[::1]4739", "udp://[]:1", "file:", ""}) {
    EXPECT_FALSE(parse_endpoint_url(bad)) << bad;
  }
}

// Each malformed URL says what is wrong with it (issue 16), not one generic line.
TEST(EndpointUrl, SaysWhichPartIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"udp://h", "missing port: expected HOST:PORT"},
      {"collector", "missing port: expected HOST:PORT"},
      {"udp://h:", "missing port after ':'"},
      {"udp://h:65536", "port 65536 is out of range (0-65535)"},
      {"h:99999999999999999999", "port 99999999999999999999 is out of range (0-65535)"},
      {"udp://h:1x", "port '1x' is not a number or a service name"},
      {"::1:2055", "an IPv6 address needs brackets: udp://[::1]:2055"},
      {"tcp://fe80::1:4739", "an IPv6 address needs brackets: tcp://[fe80::1]:4739"},
      {"udp://[::1]4739", "missing port: expected [::1]:PORT"},
      {"udp://[::1:4739", "missing ']' after the IPv6 address"},
      {"quic://h:1", "unknown scheme 'quic://' (expected udp://, tcp://, sctp:// or file:)"},
      {"h:no-such-service-here", "unknown service 'no-such-service-here' for udp (see /etc/services)"},
      {"file:", "missing path after 'file:'"},
      {"", "empty URL"},
  };
  for (const auto& [url, expected] : cases) {
    std::string error;
    EXPECT_FALSE(parse_endpoint_url(url, error)) << url;
    EXPECT_EQ(error, expected) << url;
  }
}

// The export ports by name even where /etc/services lacks them (Debian 12 has no ipfix entry).
TEST(EndpointUrl, KnowsTheFlowExportPortsByName) {
  std::string error;
  auto u = parse_endpoint_url("localhost:ipfix", error);
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->port, "4739");
  u = parse_endpoint_url("sctp://h:ipfix", error);
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->port, "4739");
  u = parse_endpoint_url("udp://h:netflow", error);
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->port, "2055");
}

// A services(5) name stands for its port, looked up for the scheme's protocol (as softflowd's -n).
// Debian 12's netbase lists snmp (161, udp and tcp) and ntp (123, udp only) but not ipfix.
TEST(EndpointUrl, AcceptsServiceNames) {
  if (getservbyname("snmp", "udp") == nullptr || getservbyname("ntp", "udp") == nullptr) {
    GTEST_SKIP() << "no snmp/ntp entries in /etc/services";
  }
  std::string error;
  auto u = parse_endpoint_url("localhost:snmp", error);
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->port, "161");
  u = parse_endpoint_url("tcp://[::1]:snmp", error);
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->scheme, EndpointUrl::Scheme::kTcp);
  EXPECT_EQ(u->port, "161");
  u = parse_endpoint_url("sctp://h:snmp", error);  // no SCTP entry: the TCP one
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->port, "161");
  u = parse_endpoint_url("udp://h:ntp", error);
  ASSERT_TRUE(u) << error;
  EXPECT_EQ(u->port, "123");
  if (getservbyname("ntp", "tcp") == nullptr) {
    EXPECT_FALSE(parse_endpoint_url("tcp://h:ntp", error));
    EXPECT_EQ(error, "unknown service 'ntp' for tcp (see /etc/services)");
  }
}

TEST(MakeExporter, RejectsUnsupportedUrlsAndVersions) {
  try {
    make_exporter("quic://h:1", {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(),
                 "bad export URL 'quic://h:1': unknown scheme 'quic://' (expected udp://, tcp://, sctp:// or "
                 "file:)");
  }
  for (const int version : {1, 7, 8, 11}) {
    ExportOptions unsupported;
    unsupported.version = version;
    EXPECT_THROW(make_exporter("127.0.0.1:2055", unsupported), std::runtime_error) << version;
  }
  ExportOptions v9;
  v9.version = 9;
  EXPECT_NO_THROW(make_exporter("127.0.0.1:2055", v9));
  // Files hold IPFIX (RFC 5655); NetFlow has no file format.
  EXPECT_THROW(make_exporter("file:/tmp/tapflow-v9-file", v9), std::runtime_error);
  try {
    make_exporter("file:/nonexistent-dir/x.ipfix", {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.ipfix"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
  ExportOptions tiny;
  tiny.mtu = 100;
  EXPECT_THROW(make_exporter("127.0.0.1:2055", tiny), std::runtime_error);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "." + std::to_string(getpid()) + ".ipfix"))
      .string();
}

TEST(FileExport, WritesAnRfc5655FileThatReadsBack) {
  const std::string path = temp_path("tapflow_file_export");
  const auto records = make_records(3000);
  {
    ExportOptions options;
    options.observation_domain_id = 9;
    auto exporter = make_exporter("file:" + path, options);
    exporter->export_records(records);
    exporter->flush();
    EXPECT_EQ(exporter->counters().records, 3000u);
    EXPECT_GT(exporter->counters().messages, 2u);  // 65535-octet messages
    EXPECT_EQ(exporter->counters().template_sets, 1u);
    EXPECT_EQ(exporter->destination(), "file:" + path);
  }
  const auto decoded = read_ipfix_file(path);
  ASSERT_EQ(decoded.size(), records.size());
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    EXPECT_EQ(decoded[i].flow.key, records[i].key);
    EXPECT_EQ(decoded[i].flow.octets, records[i].octets);
    EXPECT_EQ(decoded[i].observation_domain_id, 9u);
  }
  // A file cut short reports where it ends.
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 10);
  MessageDecoder decoder;
  std::size_t count = 0;
  const auto result = read_ipfix_file(path, decoder, [&](const MessageSummary&, auto r) { count += r.size(); });
  EXPECT_NE(result.error.find("file ends inside"), std::string::npos) << result.error;
  EXPECT_LT(count, records.size());
  EXPECT_THROW(read_ipfix_file(path), std::runtime_error);
  std::filesystem::remove(path);
  EXPECT_THROW(read_ipfix_file(path), std::runtime_error);
}

// A bound, non-blocking UDP socket on the loopback of one family; port 0 = any free port.
struct Listener {
  int fd = -1;
  std::uint16_t port = 0;
  explicit Listener(int family) {
    fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return;
    sockaddr_storage a{};
    socklen_t length;
    if (family == AF_INET) {
      auto& v4 = reinterpret_cast<sockaddr_in&>(a);
      v4.sin_family = AF_INET;
      v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof v4;
    } else {
      auto& v6 = reinterpret_cast<sockaddr_in6&>(a);
      v6.sin6_family = AF_INET6;
      v6.sin6_addr = in6addr_loopback;
      length = sizeof v6;
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), length) != 0) {
      close(fd);
      fd = -1;
      return;
    }
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length);
    port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in&>(a).sin_port
                                   : reinterpret_cast<sockaddr_in6&>(a).sin6_port);
  }
  ~Listener() {
    if (fd >= 0) close(fd);
  }
  std::vector<std::vector<std::uint8_t>> receive_all() const {
    std::vector<std::vector<std::uint8_t>> out;
    std::vector<std::uint8_t> buffer(65535);
    pollfd p{fd, POLLIN, 0};
    while (poll(&p, 1, 200) > 0) {
      const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
      if (n < 0) break;
      out.emplace_back(buffer.begin(), buffer.begin() + n);
    }
    return out;
  }
};

void udp_round_trip(int family, const std::string& host) {
  Listener listener(family);
  if (listener.fd < 0) GTEST_SKIP() << "no loopback for this address family";
  const auto records = make_records(200);
  ExportOptions options;
  options.mtu = 1500;
  auto exporter = make_exporter("udp://" + host + ":" + std::to_string(listener.port), options);
  exporter->export_records(records);
  exporter->flush();
  const auto messages = listener.receive_all();
  ASSERT_EQ(messages.size(), exporter->counters().messages);
  EXPECT_EQ(exporter->counters().send_errors, 0u);
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  for (const auto& m : messages) {
    EXPECT_LE(m.size(), 1500u - (family == AF_INET ? 28u : 48u));
    const auto s = decoder.decode(m, "udp", out);
    EXPECT_FALSE(s.malformed) << s.reason;
    EXPECT_FALSE(s.gap);
  }
  ASSERT_EQ(out.size(), records.size());
  for (std::size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].flow.key, records[i].key);
}

TEST(UdpExport, RoundTripOverIpv4Loopback) { udp_round_trip(AF_INET, "127.0.0.1"); }
TEST(UdpExport, RoundTripOverIpv6Loopback) { udp_round_trip(AF_INET6, "[::1]"); }

TEST(UdpExport, RefusedDestinationIsCountedNotThrown) {
  std::uint16_t port;
  {
    Listener closed(AF_INET);  // take a free port, then close it: nobody listens there
    port = closed.port;
  }
  auto exporter = make_exporter("127.0.0.1:" + std::to_string(port), {});
  for (int i = 0; i < 5; ++i) {
    exporter->export_records(make_records(3));
    exporter->flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the ICMP error arrive
  }
  exporter->close();
  const auto& c = exporter->counters();
  EXPECT_EQ(c.messages, 6u);  // five, and the final statistics
  // Every datagram went nowhere. A send that returns ECONNREFUSED reports the ICMP refusal of
  // the one before; the flush after the last finds its refusal pending: each is counted.
  EXPECT_EQ(c.send_errors, c.messages);
  EXPECT_EQ(c.records_unsent, 15u);
}

std::string read_stream(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) text.append(buffer, n);
  return text;
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(Collector, PrintsRecordsReceivedOverUdp) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::atomic<int> port{0};
  std::atomic<bool> stop{false};
  probe::CollectorOptions options;
  options.listen = "udp://127.0.0.1:0";
  options.max_records = 50;
  options.idle_timeout_ms = 5000;
  options.stop = &stop;
  options.handle_signals = false;
  options.out = out;
  options.err = err;
  options.on_listening = [&](std::uint16_t p) { port = p; };
  int status = -1;
  std::thread collector([&] { status = probe::run_collector(options); });
  for (int i = 0; i < 500 && port == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_NE(port, 0);
  auto exporter = make_exporter("udp://127.0.0.1:" + std::to_string(port.load()), {});
  exporter->export_records(make_records(50));
  exporter->flush();
  collector.join();
  EXPECT_EQ(status, 0);
  const std::string records = read_stream(out);
  const std::string messages = read_stream(err);
  EXPECT_EQ(count_lines(records), 50u);
  EXPECT_NE(records.find("10.0.0.1:1 -> 192.0.0.0:80 packets 2 bytes 80"), std::string::npos) << records;
  EXPECT_NE(messages.find("50 records"), std::string::npos) << messages;
  std::fclose(out);
  std::fclose(err);
}

TEST(Collector, StopsOnTheCallersFlagAndReportsBadInput) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  std::atomic<int> port{0};
  std::atomic<bool> stop{false};
  probe::CollectorOptions options;
  options.listen = "127.0.0.1:0";
  options.stop = &stop;
  options.handle_signals = false;
  options.out = out;
  options.err = err;
  options.on_listening = [&](std::uint16_t p) { port = p; };
  int status = -1;
  std::thread collector([&] { status = probe::run_collector(options); });
  for (int i = 0; i < 500 && port == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_NE(port, 0);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port.load()));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::uint8_t garbage[] = {0, 10, 0, 99, 1, 2, 3};
  sendto(fd, garbage, sizeof garbage, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  collector.join();
  EXPECT_EQ(status, 0);
  const std::string messages = read_stream(err);
  EXPECT_NE(messages.find("malformed message from 127.0.0.1:"), std::string::npos) << messages;
  EXPECT_NE(messages.find("1 malformed"), std::string::npos) << messages;
  std::fclose(out);
  std::fclose(err);
}

TEST(Collector, ReadsAFile) {
  const std::string path = temp_path("tapflow_collect_file");
  {
    auto exporter = make_exporter("file:" + path, {});
    exporter->export_records(make_records(10));
    exporter->flush();
  }
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  probe::CollectorOptions options;
  options.listen = "file:" + path;
  options.out = out;
  options.err = err;
  options.handle_signals = false;
  EXPECT_EQ(probe::run_collector(options), 0);
  EXPECT_EQ(count_lines(read_stream(out)), 10u);
  // --json: the same records as JSON lines with the fields of -n json:.
  std::FILE* json = std::tmpfile();
  options.out = json;
  options.json = true;
  EXPECT_EQ(probe::run_collector(options), 0);
  const std::string lines = read_stream(json);
  EXPECT_EQ(count_lines(lines), 10u);
  EXPECT_EQ(lines.front(), '{');
  EXPECT_NE(lines.find("\"source_port\":"), std::string::npos);
  std::fclose(json);
  options.out = out;
  options.json = false;
  options.listen = "file:" + path + ".missing";
  EXPECT_EQ(probe::run_collector(options), 2);
  options.listen = "tcp://x:1";
  EXPECT_EQ(probe::run_collector(options), 2);
  std::filesystem::remove(path);
  std::fclose(out);
  std::fclose(err);
}

}  // namespace
}  // namespace tapflow::exporter
