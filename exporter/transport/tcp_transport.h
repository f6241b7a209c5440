// Export over TCP (RFC 7011 §10.4): IPFIX messages written whole on one connection to the
// collector, IPv4 or IPv6. The data path never blocks for long and never throws:
//   - a collector that is down or refuses is not fatal: the transport connects when the first
//     message comes and again at most once per second after a failure; meanwhile messages fail
//     (the exporter counts them and the IPFIX sequence numbers show the loss to the collector);
//   - a write that cannot complete within the send timeout (a stalled collector) or a reset
//     closes the connection, since a partly written message breaks the stream;
//   - every new connection needs the templates again (RFC 7011 §8: templates are per session),
//     which needs_templates() tells the exporter before it starts a message.
// The first failure of an outage is logged once; recovery is logged too.
#pragma once

#include <chrono>
#include <string>

#include "exporter/transport/stream_socket.h"
#include "exporter/transport/transport.h"

namespace tapflow::exporter {

class TcpTransport final : public Transport {
 public:
  // Resolves host and port now (throws std::runtime_error naming the destination when that
  // fails) and tries to connect; an unreachable collector is only logged.
  TcpTransport(const std::string& host, const std::string& port,
               std::chrono::milliseconds io_timeout = std::chrono::milliseconds(2000),
               std::chrono::milliseconds retry_interval = std::chrono::milliseconds(1000));
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  SendResult send(std::span<const std::uint8_t> message) override;
  void flush() override {}
  std::size_t max_message_size(std::size_t mtu) const override;
  bool periodic_templates() const override { return false; }
  bool needs_templates() const override { return !session_.connected() || session_.fresh(); }
  const std::string& description() const override { return description_; }

  bool connected() const { return session_.connected(); }
  std::uint64_t connections() const { return session_.sessions(); }  // successful connects so far

 private:
  std::string description_;
  StreamSession session_;
};

}  // namespace tapflow::exporter
