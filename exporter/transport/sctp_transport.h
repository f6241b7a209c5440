// Export over SCTP (RFC 7011 §10.2): one IPFIX message per SCTP user message on a one-to-one
// style association to the collector, IPv4 or IPv6. Behaves like the TCP transport on the data
// path (never throws, never blocks for longer than the send timeout):
//   - a collector that is down or refuses is not fatal: the transport associates when the first
//     message comes and again at most once per second after a failure; meanwhile messages fail
//     (the exporter counts them, the IPFIX sequence numbers show the loss to the collector);
//   - an association the collector aborts or shuts down (SCTP ABORT, ECONNRESET, EPIPE, an
//     association-change or shutdown notification) is closed, counted as a failed message and
//     logged once; the next association needs the templates again (needs_templates()).
// Streams and reliability (RFC 7011 §10.2: PR-SCTP, RFC 3758, is a MUST for exporters; templates
// go reliably): every message goes on stream 0, ordered. A message that carries a template set
// (always the first one on an association) is sent fully reliably; a message of data sets only is
// sent with PR-SCTP timed reliability, so a congested path drops old data rather than queueing it
// without bound. One ordered stream for templates and the data that uses them means data can never
// overtake its template at the collector; the encoder puts the template set in the same message as
// data, so a separate template stream would need template-only messages first. Without
// SCTP_PRINFO support in the kernel the lifetime is given the old way (sinfo_timetolive).
// Messages PR-SCTP abandons are counted and logged once (the collector sees a sequence gap).
// A kernel without SCTP is a construction error ("modprobe sctp"), not a data path failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "exporter/transport/stream_socket.h"
#include "exporter/transport/transport.h"

namespace tapflow::exporter {

// True when this kernel can open an SCTP socket of `family`; otherwise false with the errno.
bool kernel_supports_sctp(int family, int* error = nullptr);

// The construction error for a kernel without SCTP, shared with the collector.
std::string sctp_unavailable_message(int error);

class SctpTransport final : public Transport {
 public:
  // Resolves host and port and checks that the kernel has SCTP now (throws std::runtime_error
  // with a message naming the destination when either fails), then tries to associate; an
  // unreachable collector is only logged. data_lifetime is the PR-SCTP lifetime of data-only
  // messages (0: fully reliable too).
  SctpTransport(const std::string& host, const std::string& port,
                std::chrono::milliseconds io_timeout = std::chrono::milliseconds(2000),
                std::chrono::milliseconds retry_interval = std::chrono::milliseconds(1000),
                std::chrono::milliseconds data_lifetime = std::chrono::milliseconds(10000));
  ~SctpTransport() override;
  SctpTransport(const SctpTransport&) = delete;
  SctpTransport& operator=(const SctpTransport&) = delete;

  SendResult send(std::span<const std::uint8_t> message) override;
  void flush() override {}
  std::size_t max_message_size(std::size_t mtu) const override;
  bool periodic_templates() const override { return false; }
  bool needs_templates() const override { return !session_.connected() || session_.fresh(); }
  const std::string& description() const override { return description_; }

  bool connected() const { return session_.connected(); }
  std::uint64_t associations() const { return session_.sessions(); }  // successful associations so far
  std::uint64_t abandoned() const { return abandoned_; }        // messages PR-SCTP gave up on
  // True when the association negotiated PR-SCTP and the kernel takes SCTP_PRINFO, so data-only
  // messages really go with timed reliability (else they go reliably, or with sinfo_timetolive).
  bool partial_reliability() const { return connected() && peer_pr_sctp_ && prinfo_supported_; }

  // True when an IPFIX message holds a Template Set (ID 2) or an Options Template Set (ID 3),
  // or cannot be walked (sent reliably to be safe). RFC 7011 §3.3.2: set IDs after the 16-octet
  // message header, each set's Length covering its own 4-octet header.
  static bool carries_templates(std::span<const std::uint8_t> message);

 private:
  // Reads what the new association negotiated.
  void associated();
  void disconnect(const char* why, int error);
  // Reads pending notifications without blocking; false when the association is gone.
  bool association_alive();
  // One user message on stream 0; returns 0 or an errno value.
  int send_message(std::span<const std::uint8_t> message, bool reliable);

  std::chrono::milliseconds data_lifetime_;
  std::string description_;
  StreamSession session_;
  bool prinfo_supported_ = true;  // sctp_sendv with SCTP_PRINFO accepted by the kernel
  bool peer_pr_sctp_ = false;     // the association negotiated PR-SCTP (RFC 3758)
  bool abandon_reported_ = false;
  bool notification_continues_ = false;  // the last piece read did not end a notification
  std::uint64_t abandoned_ = 0;
};

}  // namespace tapflow::exporter
