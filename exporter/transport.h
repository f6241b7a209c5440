// A transport carries finished export messages to one destination. One virtual call per message
// (never per record). Implementations never throw after construction: a failed send is reported
// as a result the exporter counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace tapflow::exporter {

enum class SendResult : std::uint8_t { kSent, kFailed };

class Transport {
 public:
  virtual ~Transport() = default;
  virtual SendResult send(std::span<const std::uint8_t> message) = 0;
  virtual void flush() = 0;
  // Largest export message given the configured MTU (headers the transport adds taken off).
  virtual std::size_t max_message_size(std::size_t mtu) const = 0;
  // True for unreliable transports where templates must be re-sent periodically
  // (RFC 7011 §8.4, UDP); false where the templates at the start suffice (files).
  virtual bool periodic_templates() const = 0;
  // True when the next message must carry the templates because the transport starts a new
  // session with it (TCP: not connected yet, or reconnected).
  virtual bool needs_templates() const { return false; }
  // SIGHUP: a file closes and reopens its path in append mode (log rotation) and returns true,
  // so the exporter sends the templates again; network transports do nothing and return false.
  virtual bool reopen() { return false; }
  // The destination, resolved (for messages).
  virtual const std::string& description() const = 0;
};

}  // namespace tapflow::exporter
