// Flow records as JSON lines (-n json:PATH, '-' for standard output): one object per record, for
// jq, Vector, Logstash or a Kafka producer. The field names are those of `tapflow ctl flows
// --json` (record_json below is the one definition both use). Lines are gathered into writes of
// up to 64 KiB on a FileTransport (so the same symlink policy, SIGHUP reopen and error counting
// as file:), flushed at least once a second when live, and at the end.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cache/flow_record.h"
#include "exporter/exporter.h"
#include "exporter/transport/transport.h"

namespace tapflow::exporter {

// One record as a JSON object: source, destination (addresses as text), source_port,
// destination_port, protocol (number), protocol_name, tos, ingress_interface, packets, octets,
// tcp_flags (as the table shows them), first_ms, last_ms (ms since the Unix epoch), end_reason;
// with kRoutingFeature (a --prefixes stage filled them) also source_as, destination_as,
// source_prefix_length and destination_prefix_length; with kBiflowFeature reverse_packets,
// reverse_octets, reverse_tcp_flags, reverse_first_ms, reverse_last_ms and biflow_direction
// (initiator or arbitrary); and each chosen (--fields, --key) element under its IANA name.
nlohmann::json record_json(const cache::FlowRecord& r, const TemplateSpec& fields = {});

class JsonLinesExporter final : public FlowExporter {
 public:
  JsonLinesExporter(std::unique_ptr<Transport> sink, std::string destination, TemplateSpec fields = {});

  void export_records(std::span<const cache::FlowRecord> records) override;
  void flush() override;
  const ExportCounters& counters() const override { return counters_; }
  const std::string& destination() const override { return destination_; }
  void set_system_start(std::uint64_t) override {}
  void close() override { flush(); }
  void reopen() override;
  void set_rate(const ExportRate&) override {}
  ExportRate rate() const override { return {}; }
  bool has_events() const override { return sink_->has_events(); }
  void take_events(std::vector<TransportEvent>& out) override { sink_->take_events(out); }

 private:
  TemplateSpec fields_;
  static constexpr std::size_t kWriteBytes = 64 * 1024;
  std::unique_ptr<Transport> sink_;
  std::string destination_;
  std::string buffer_;
  std::uint64_t buffered_records_ = 0;
  ExportCounters counters_;
};

}  // namespace tapflow::exporter
