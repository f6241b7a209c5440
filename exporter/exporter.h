// Exporter: turns finished flow records into NetFlow/IPFIX messages and sends them to one
// destination. Sees only cache::FlowRecord; knows nothing of packets or the cache.
// Data path rule: no exceptions once constructed; transport failures are counted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "cache/flow_record.h"

namespace tapflow::exporter {

// Wall clock in nanoseconds since the Unix epoch; injected so tests are deterministic.
using Clock = std::function<std::uint64_t()>;
std::uint64_t system_clock_ns();

struct ExportOptions {
  int version = 10;                               // 10 = IPFIX (v5/v9 come later)
  std::uint32_t observation_domain_id = 0;
  std::size_t mtu = 1500;                          // messages (incl. IP/UDP headers) stay under it
  std::uint32_t template_refresh_interval_s = 600; // RFC 7011 §8.4, UDP only
};

struct ExportCounters {
  // records, messages, octets and template_sets count what was handed to the transport, whether
  // or not it delivered it (the IPFIX sequence numbers count the same way, so a collector sees
  // the loss as a gap); send_errors and records_unsent say how much of that failed.
  std::uint64_t records = 0;        // data records sent
  std::uint64_t messages = 0;       // messages sent
  std::uint64_t octets = 0;         // message bytes sent
  std::uint64_t template_sets = 0;  // template sets sent
  std::uint64_t send_errors = 0;    // messages the transport failed to deliver
  std::uint64_t records_unsent = 0; // data records in those messages (included in `records`)
  std::uint64_t unexportable = 0;   // records the format cannot carry
};

class FlowExporter {
 public:
  virtual ~FlowExporter() = default;
  // Encodes the records, sending each message as it fills.
  virtual void export_records(std::span<const cache::FlowRecord> records) = 0;
  // Sends the partly filled message, if any, and flushes the transport.
  virtual void flush() = 0;
  virtual const ExportCounters& counters() const = 0;
  // The destination as the user gave it, for messages and statistics.
  virtual const std::string& destination() const = 0;
};

// Parses `url` (udp://HOST:PORT, udp://[V6]:PORT, HOST:PORT, tcp://HOST:PORT, sctp://HOST:PORT,
// file:PATH) and opens the transport.
// Throws std::runtime_error with a message a user can act on when the URL or destination is bad.
std::unique_ptr<FlowExporter> make_exporter(std::string_view url, const ExportOptions& options,
                                            Clock clock = system_clock_ns);

}  // namespace tapflow::exporter
