// The FlowExporter of every format: one encoder (NetflowV5Encoder, NetflowV9Encoder or
// IpfixEncoder) feeding one Transport. Decides when templates are due (first message; after a
// reopen; over unreliable transports every template_refresh_interval_s of the export clock and
// every template_refresh_packets messages, RFC 7011 §8.4 / RFC 3954 §5), gathers the reliability
// statistics IPFIX sends with its templates and at close(), and counts what it hands over and
// what failed. Reads the export clock once per message (its header times), never per record;
// never throws once constructed.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "exporter/exporter.h"
#include "exporter/ipfix/ipfix_encoder.h"
#include "exporter/netflow_v5/netflow_v5_encoder.h"
#include "exporter/netflow_v9/netflow_v9_encoder.h"
#include "exporter/ie/options_records.h"
#include "exporter/transport/transport.h"

namespace tapflow::exporter {

template <typename Encoder>
class MessageExporter final : public FlowExporter {
 public:
  // Throws std::invalid_argument when the MTU leaves no room for a message or the sampling
  // cannot be announced in this format.
  MessageExporter(std::unique_ptr<Transport> transport, const ExportOptions& options, Clock clock,
                  std::string destination);
  ~MessageExporter() override;

  void export_records(std::span<const cache::FlowRecord> records) override;
  void flush() override;
  const ExportCounters& counters() const override { return counters_; }
  const std::string& destination() const override { return destination_; }
  void set_system_start(std::uint64_t ns) override { system_start_ns_ = ns; }
  void close() override;
  void reopen() override;
  void set_rate(const ExportRate& rate) override { transport_->set_rate(rate); }
  ExportRate rate() const override { return transport_->rate(); }
  void force_templates() override { templates_forced_ = true; }
  bool has_events() const override { return transport_->has_events(); }
  void take_events(std::vector<TransportEvent>& out) override { transport_->take_events(out); }

 private:
  // `first`: the record the message begins with (v5/v9 place their uptime window around it).
  void begin_message(bool with_statistics, const cache::FlowRecord* first = nullptr);
  // v5 and v9 give times as 32-bit milliseconds of sysUpTime, which wraps after 49.7 days: a
  // record fits the open message if its first and last times are within 2^32 ms after the system
  // start and the export time too.
  bool fits_uptime(const cache::FlowRecord& r) const;
  void place_uptime(const cache::FlowRecord& r);
  // Sends the open message; one with no flow record is dropped (its templates stay due) unless
  // `even_without_records` (the statistics message of close()).
  void send_message(bool even_without_records = false);
  bool templates_due(std::uint64_t now_ns) const;

  std::unique_ptr<Transport> transport_;
  Clock clock_;
  std::string destination_;
  ExportOptions options_;
  Encoder encoder_;
  std::uint64_t system_start_ns_;
  std::uint64_t message_export_ns_ = 0;             // the clock, read when the message began
  std::optional<std::uint64_t> last_template_ns_;   // export time of the last templates sent
  std::uint64_t messages_since_templates_ = 0;
  bool templates_forced_ = true;                    // first message, or after a reopen
  std::uint64_t message_packets_ = 0;               // of the flow records in the open message
  std::uint64_t message_octets_ = 0;
  // The message sent last, while it counts as delivered: the kernel may reveal later that it was
  // lost (UDP's ICMP refusals), and then it is counted as not sent.
  struct LastSent {
    bool counted = false;
    std::uint32_t records = 0;
    std::uint64_t packets = 0, octets = 0;
  } last_sent_;
  void count_last_lost();
  std::uint64_t not_sent_packets_ = 0;
  std::uint64_t not_sent_octets_ = 0;
  bool closed_ = false;
  ExportCounters counters_;
};

using NetflowV5Exporter = MessageExporter<NetflowV5Encoder>;
using NetflowV9Exporter = MessageExporter<NetflowV9Encoder>;
using IpfixExporter = MessageExporter<IpfixEncoder>;

extern template class MessageExporter<NetflowV5Encoder>;
extern template class MessageExporter<NetflowV9Encoder>;
extern template class MessageExporter<IpfixEncoder>;

}  // namespace tapflow::exporter
