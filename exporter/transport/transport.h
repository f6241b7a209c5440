// A transport carries finished export messages to one destination. One virtual call per message
// (never per record). Implementations never throw after construction: a failed send is reported
// as a result the exporter counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fmt/format.h>

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "exporter/transport/pacer.h"

namespace tapflow::exporter {

enum class SendResult : std::uint8_t {
  kSent,
  kFailed,
  // Not sent, and the kernel revealed that the message before it was lost too (UDP: an ICMP port
  // unreachable for the previous datagram, reported as ECONNREFUSED on this send).
  kFailedWithPrevious,
};

// Something an operator should hear of once (the first failure of a kind, an outage, its end);
// the program logs it, the transport only reports it (exporters never log).
struct TransportEvent {
  enum class Severity : std::uint8_t { kError, kWarning, kNotice };
  Severity severity = Severity::kNotice;
  std::string message;
};

// A transport's pending events. Events are rare: formatting one costs nothing on the data path.
class TransportEvents {
 public:
  template <typename... Args>
  void error(fmt::format_string<Args...> format, Args&&... args) {
    add(TransportEvent::Severity::kError, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void warning(fmt::format_string<Args...> format, Args&&... args) {
    add(TransportEvent::Severity::kWarning, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void notice(fmt::format_string<Args...> format, Args&&... args) {
    add(TransportEvent::Severity::kNotice, fmt::format(format, std::forward<Args>(args)...));
  }
  bool any() const { return !events_.empty(); }
  // Moves the pending events to the end of `out`.
  void take(std::vector<TransportEvent>& out) {
    for (auto& e : events_) out.push_back(std::move(e));
    events_.clear();
  }

 private:
  void add(TransportEvent::Severity severity, std::string message) { events_.push_back({severity, std::move(message)}); }
  std::vector<TransportEvent> events_;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual SendResult send(std::span<const std::uint8_t> message) = 0;
  virtual void flush() = 0;
  // After flush(): true once if the kernel has revealed since the last send that the message
  // sent last was lost (UDP: a pending ICMP refusal), so the exporter counts it.
  virtual bool take_last_lost() { return false; }
  // At the end of the run, before the last flush: waits briefly for the kernel to reveal a late
  // loss (UDP: up to 50 ms for an ICMP refusal of the last datagram).
  virtual void settle() {}
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
  // Pacing (UDP only; streams have flow control and files the disk's pace): the rate messages
  // leave at, waited for on the calling thread.
  virtual void set_rate(const ExportRate&) {}
  virtual ExportRate rate() const { return {}; }
  // The destination, resolved (for messages).
  virtual const std::string& description() const = 0;
  // Events since the last call, for the program to log (cheap when there is none).
  virtual bool has_events() const { return events_.any(); }
  virtual void take_events(std::vector<TransportEvent>& out) { events_.take(out); }

 protected:
  TransportEvents events_;
};

}  // namespace tapflow::exporter
