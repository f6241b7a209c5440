#include "exporter/message_exporter.h"

#include <algorithm>
#include <type_traits>

namespace tapflow::exporter {

namespace {
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
constexpr std::uint64_t kNsPerMs = 1'000'000;

template <typename Encoder>
constexpr bool kIsIpfix = std::is_same_v<Encoder, IpfixEncoder>;
template <typename Encoder>
constexpr bool kHasTemplates = !std::is_same_v<Encoder, NetflowV5Encoder>;
// sysUpTime and the records' First/Last are 32-bit milliseconds (v5, v9).
constexpr std::uint64_t kUptimeWindowNs = (std::uint64_t{1} << 32) * kNsPerMs;
constexpr std::uint64_t kHalfWindowNs = kUptimeWindowNs / 2;

template <typename Encoder>
Encoder make_encoder(const ExportOptions& o, std::size_t max_message_size) {
  if constexpr (std::is_same_v<Encoder, NetflowV5Encoder>) {
    return Encoder(o.engine_type, o.engine_id, max_message_size, o.sampling);
  } else {
    return Encoder(o.observation_domain_id, max_message_size, o.sampling, o.template_spec());
  }
}
}  // namespace

template <typename Encoder>
MessageExporter<Encoder>::MessageExporter(std::unique_ptr<Transport> transport,
                                          const ExportOptions& options, Clock clock,
                                          std::string destination)
    : transport_(std::move(transport)),
      clock_(std::move(clock)),
      destination_(std::move(destination)),
      options_(options),
      encoder_(make_encoder<Encoder>(options, transport_->max_message_size(options.mtu))),
      system_start_ns_(clock_()) {}

template <typename Encoder>
MessageExporter<Encoder>::~MessageExporter() = default;

template <typename Encoder>
bool MessageExporter<Encoder>::templates_due(std::uint64_t now_ns) const {
  // A new TCP connection or SCTP association is a new session: it needs the templates.
  if (templates_forced_ || !last_template_ns_ || transport_->needs_templates()) return true;
  if (!transport_->periodic_templates()) return false;
  if (options_.template_refresh_packets != 0 &&
      messages_since_templates_ >= options_.template_refresh_packets) {
    return true;
  }
  // Unsigned difference: a clock that steps back does not hold templates back for long.
  return now_ns - *last_template_ns_ >= options_.template_refresh_interval_s * kNsPerSecond;
}

template <typename Encoder>
bool MessageExporter<Encoder>::fits_uptime(const cache::FlowRecord& r) const {
  return r.first_ns >= system_start_ns_ && message_export_ns_ >= system_start_ns_ &&
         message_export_ns_ - system_start_ns_ < kUptimeWindowNs && r.last_ns - system_start_ns_ < kUptimeWindowNs;
}

// Collectors compute each message's boot time from its own header (export time - sysUpTime), so
// the system start may move from one message to the next: when a record does not fit, its message
// starts a window of its own. A long run moves the start forward before sysUpTime wraps; records
// of a capture file far behind the next one (they expire when its packets come) are dated when
// they ended, since no export time of now can reach that far back.
template <typename Encoder>
void MessageExporter<Encoder>::place_uptime(const cache::FlowRecord& r) {
  if (fits_uptime(r)) return;
  if (message_export_ns_ > r.first_ns + kHalfWindowNs) message_export_ns_ = std::max(r.last_ns, r.first_ns);
  if (fits_uptime(r)) return;
  system_start_ns_ = message_export_ns_ > kHalfWindowNs ? message_export_ns_ - kHalfWindowNs : 0;
  system_start_ns_ = std::min(system_start_ns_, r.first_ns);
}

template <typename Encoder>
void MessageExporter<Encoder>::begin_message(bool with_statistics, const cache::FlowRecord* first) {
  message_export_ns_ = clock_();
  if constexpr (!kIsIpfix<Encoder>) {
    if (first != nullptr) place_uptime(*first);
  }
  message_packets_ = 0;
  message_octets_ = 0;
  if constexpr (std::is_same_v<Encoder, NetflowV5Encoder>) {
    encoder_.begin_message(message_export_ns_, system_start_ns_);
  } else if constexpr (std::is_same_v<Encoder, NetflowV9Encoder>) {
    encoder_.begin_message(templates_due(message_export_ns_), message_export_ns_,
                           system_start_ns_);
  } else {
    const bool with_templates = with_statistics || templates_due(message_export_ns_);
    if (!with_templates) {
      encoder_.begin_message(false);
      return;
    }
    ReliabilityStatistics s;
    s.exported_messages = counters_.messages;
    s.exported_records = counters_.records;
    s.exported_octets = counters_.octets;
    s.not_sent_flows = counters_.records_unsent + counters_.unexportable;
    s.not_sent_packets = not_sent_packets_;
    s.not_sent_octets = not_sent_octets_;
    if (options_.totals) s.ignored = options_.totals();
    s.since_ms = system_start_ns_ / kNsPerMs;
    s.until_ms = message_export_ns_ / kNsPerMs;
    encoder_.begin_message(true, &s);
  }
}

template <typename Encoder>
void MessageExporter<Encoder>::export_records(std::span<const cache::FlowRecord> records) {
  for (const auto& record : records) {
    if constexpr (!kIsIpfix<Encoder>) {
      // Out of the open message's uptime window: the message ends before it.
      if (encoder_.in_message() && !fits_uptime(record)) send_message();
    }
    if (!encoder_.in_message()) begin_message(false, &record);
    auto result = encoder_.add_record(record);
    if (result == Encoder::AddResult::kMessageFull) {
      send_message();
      begin_message(false, &record);
      result = encoder_.add_record(record);  // always fits an empty message (checked at start)
    }
    if (result == Encoder::AddResult::kAdded) {
      message_packets_ += record.packets;
      message_octets_ += record.octets;
    } else {
      ++counters_.unexportable;
      not_sent_packets_ += record.packets;
      not_sent_octets_ += record.octets;
    }
  }
  if constexpr (std::is_same_v<Encoder, NetflowV5Encoder>) {
    counters_.split_flows = encoder_.split_flows();
    counters_.clamped_records = encoder_.clamped_records();
  }
}

template <typename Encoder>
void MessageExporter<Encoder>::send_message(bool even_without_records) {
  const std::uint32_t records = encoder_.records_in_message();
  std::uint32_t options_records = 0;
  bool with_templates = false;
  if constexpr (kHasTemplates<Encoder>) {
    options_records = encoder_.options_records_in_message();
    with_templates = encoder_.has_templates();
  }
  if (records == 0 && !even_without_records) {
    // Nothing to carry (only unexportable records came): nothing is sent or numbered, and the
    // templates stay due for the next message.
    encoder_.discard_message();
    return;
  }
  std::span<const std::uint8_t> message;
  if constexpr (kIsIpfix<Encoder>) {
    // RFC 7011 §3.1 Export Time: seconds since the Unix epoch, 32 bits (wraps in 2106).
    message = encoder_.finish_message(static_cast<std::uint32_t>(message_export_ns_ / kNsPerSecond));
  } else {
    message = encoder_.finish_message();
  }
  ++counters_.messages;
  counters_.records += records;
  counters_.options_records += options_records;
  counters_.octets += message.size();
  if (with_templates) {
    ++counters_.template_sets;
    last_template_ns_ = message_export_ns_;
    messages_since_templates_ = 0;
    templates_forced_ = false;
  }
  ++messages_since_templates_;
  const SendResult result = transport_->send(message);
  if (result == SendResult::kFailedWithPrevious) count_last_lost();
  if (result != SendResult::kSent) {
    ++counters_.send_errors;
    counters_.records_unsent += records;
    not_sent_packets_ += message_packets_;
    not_sent_octets_ += message_octets_;
    last_sent_ = {};
  } else {
    last_sent_ = {true, records, message_packets_, message_octets_};
  }
}

template <typename Encoder>
void MessageExporter<Encoder>::count_last_lost() {
  if (!last_sent_.counted) return;
  ++counters_.send_errors;
  counters_.records_unsent += last_sent_.records;
  not_sent_packets_ += last_sent_.packets;
  not_sent_octets_ += last_sent_.octets;
  last_sent_ = {};
}

template <typename Encoder>
void MessageExporter<Encoder>::flush() {
  if (encoder_.in_message()) send_message();
  transport_->flush();
  if (transport_->take_last_lost()) count_last_lost();
}

template <typename Encoder>
void MessageExporter<Encoder>::close() {
  if (closed_) return;
  closed_ = true;
  if (encoder_.in_message()) send_message();
  if constexpr (kIsIpfix<Encoder>) {
    // RFC 7011 §4.3: the final reliability statistics, with the templates so the message is
    // understood even by a collector that missed the earlier ones.
    begin_message(true);
    send_message(true);
  }
  transport_->settle();
  transport_->flush();
  if (transport_->take_last_lost()) count_last_lost();
}

template <typename Encoder>
void MessageExporter<Encoder>::reopen() {
  if (encoder_.in_message()) send_message();
  transport_->flush();
  // RFC 5655: a new file must be self-describing, so the next message carries the templates.
  if (transport_->reopen()) templates_forced_ = true;
}

template class MessageExporter<NetflowV5Encoder>;
template class MessageExporter<NetflowV9Encoder>;
template class MessageExporter<IpfixEncoder>;

}  // namespace tapflow::exporter
