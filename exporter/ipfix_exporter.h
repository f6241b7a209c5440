// The IPFIX FlowExporter: an IpfixEncoder feeding one Transport. Decides when templates are due
// (first message; then every template_refresh_interval_s of the export clock when the transport
// is unreliable, RFC 7011 §8.4) and counts what it hands over and what failed.
// Reads the clock once per message, never per record; never throws once constructed.
#pragma once

#include <memory>
#include <optional>

#include "exporter/exporter.h"
#include "exporter/ipfix_encoder.h"
#include "exporter/transport.h"

namespace tapflow::exporter {

class IpfixExporter final : public FlowExporter {
 public:
  // Throws std::invalid_argument when the MTU leaves no room for a message.
  IpfixExporter(std::unique_ptr<Transport> transport, const ExportOptions& options, Clock clock,
                std::string destination);
  ~IpfixExporter() override;

  void export_records(std::span<const cache::FlowRecord> records) override;
  void flush() override;
  const ExportCounters& counters() const override { return counters_; }
  const std::string& destination() const override { return destination_; }

 private:
  void begin_message();
  void send_message();
  std::uint32_t now_s() const;

  std::unique_ptr<Transport> transport_;
  Clock clock_;
  std::string destination_;
  std::uint32_t template_refresh_interval_s_;
  IpfixEncoder encoder_;
  std::optional<std::uint32_t> last_template_s_;  // export time of the last template set sent
  ExportCounters counters_;
};

}  // namespace tapflow::exporter
