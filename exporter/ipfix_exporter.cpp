#include "exporter/ipfix_exporter.h"

namespace tapflow::exporter {

IpfixExporter::IpfixExporter(std::unique_ptr<Transport> transport, const ExportOptions& options,
                             Clock clock, std::string destination)
    : transport_(std::move(transport)),
      clock_(std::move(clock)),
      destination_(std::move(destination)),
      template_refresh_interval_s_(options.template_refresh_interval_s),
      encoder_(options.observation_domain_id, transport_->max_message_size(options.mtu)) {}

IpfixExporter::~IpfixExporter() = default;

std::uint32_t IpfixExporter::now_s() const {
  // RFC 7011 §3.1 Export Time: seconds since the Unix epoch, 32 bits (wraps in 2106).
  return static_cast<std::uint32_t>(clock_() / 1'000'000'000);
}

void IpfixExporter::begin_message() {
  bool templates_due = !last_template_s_.has_value() || transport_->needs_templates();
  if (!templates_due && transport_->periodic_templates()) {
    // Unsigned difference: a clock that steps back does not hold templates back for long.
    templates_due = now_s() - *last_template_s_ >= template_refresh_interval_s_;
  }
  encoder_.begin_message(templates_due);
}

void IpfixExporter::export_records(std::span<const cache::FlowRecord> records) {
  for (const auto& record : records) {
    if (!encoder_.in_message()) begin_message();
    auto result = encoder_.add_record(record);
    if (result == IpfixEncoder::AddResult::kMessageFull) {
      send_message();
      begin_message();
      result = encoder_.add_record(record);  // always fits an empty message (checked at start)
    }
    if (result == IpfixEncoder::AddResult::kUnexportable) ++counters_.unexportable;
  }
}

void IpfixExporter::send_message() {
  const std::uint32_t records = encoder_.records_in_message();
  if (records == 0) {
    // Nothing to carry (only unexportable records came): do not send a message of templates
    // alone, and keep them due for the next message.
    encoder_.finish_message(now_s());
    return;
  }
  const bool with_templates = encoder_.has_templates();
  const std::uint32_t export_time_s = now_s();
  const auto message = encoder_.finish_message(export_time_s);
  ++counters_.messages;
  counters_.records += records;
  counters_.octets += message.size();
  if (with_templates) {
    ++counters_.template_sets;
    last_template_s_ = export_time_s;
  }
  if (transport_->send(message) != SendResult::kSent) {
    ++counters_.send_errors;
    counters_.records_unsent += records;
  }
}

void IpfixExporter::flush() {
  if (encoder_.in_message()) send_message();
  transport_->flush();
}

}  // namespace tapflow::exporter
