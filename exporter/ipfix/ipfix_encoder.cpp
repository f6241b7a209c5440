#include "exporter/ipfix/ipfix_encoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "exporter/ie/byte_order.h"

namespace tapflow::exporter {

namespace {
// Template record header (id, field count) and one field specifier (id, length), RFC 7011 §3.4.1
// and §3.2; an enterprise element's specifier adds its enterprise number (field_specifier_size).
// An options template record header adds the scope field count (§3.4.2.2); options fields are
// all enterprise 0.
constexpr std::size_t kTemplateHeaderSize = 4;
constexpr std::size_t kOptionsTemplateHeaderSize = 6;
constexpr std::size_t kFieldSpecifierSize = 4;

// RFC 7011 §4.3 Exporting Process Reliability Statistics, scoped by exportingProcessId (tapflow
// runs one Exporting Process per observation domain and uses the domain id), with the §4.1
// totals beside them. Time first/last flow dropped: two observationTimeMilliseconds.
constexpr OptionsField kExportingStatisticsFields[] = {
    {ie::kExportingProcessId, 4},           {ie::kExportedMessageTotalCount, 8},
    {ie::kExportedFlowRecordTotalCount, 8}, {ie::kExportedOctetTotalCount, 8},
    {ie::kNotSentFlowTotalCount, 8},        {ie::kNotSentPacketTotalCount, 8},
    {ie::kNotSentOctetTotalCount, 8},       {ie::kObservationTimeMilliseconds, 8},
    {ie::kObservationTimeMilliseconds, 8},
};
// RFC 7011 §4.2 Metering Process Reliability Statistics, scoped by observationDomainId.
constexpr OptionsField kMeteringStatisticsFields[] = {
    {ie::kObservationDomainId, 4},         {ie::kIgnoredPacketTotalCount, 8},
    {ie::kIgnoredOctetTotalCount, 8},      {ie::kObservationTimeMilliseconds, 8},
    {ie::kObservationTimeMilliseconds, 8},
};
// RFC 5476 §6.5.2: systematic count-based sampling is 1 packet selected (samplingPacketInterval)
// then N-1 skipped (samplingPacketSpace); random n-out-of-N is samplingSize out of
// samplingPopulation. The deprecated samplingInterval (34) and samplingAlgorithm (35) follow
// with the same rate, as collectors still read them: pmacct 1.7 knows no samplingSize/Population
// (its print plugin dies on a random selector without 34) and nfdump's generic sampler uses them.
constexpr OptionsField kSystematicSamplingFields[] = {
    {ie::kSelectorId, 8},
    {ie::kSelectorAlgorithm, 2},
    {ie::kSamplingPacketInterval, 4},
    {ie::kSamplingPacketSpace, 4},
    {ie::kSamplingInterval, 4},
    {ie::kSamplingAlgorithm, 1},
};
constexpr OptionsField kRandomSamplingFields[] = {
    {ie::kSelectorId, 8},
    {ie::kSelectorAlgorithm, 2},
    {ie::kSamplingSize, 4},
    {ie::kSamplingPopulation, 4},
    {ie::kSamplingInterval, 4},
    {ie::kSamplingAlgorithm, 1},
};

constexpr OptionsLayout kExportingStatistics{IpfixEncoder::kExportingStatisticsTemplateId, 1,
                                             kExportingStatisticsFields};
constexpr OptionsLayout kMeteringStatistics{IpfixEncoder::kMeteringStatisticsTemplateId, 1,
                                            kMeteringStatisticsFields};

OptionsLayout sampling_layout(cache::SamplingMode mode) {
  return {IpfixEncoder::kSamplingTemplateId, 1,
          mode == cache::SamplingMode::kRandom ? std::span<const OptionsField>(kRandomSamplingFields)
                                          : std::span<const OptionsField>(kSystematicSamplingFields)};
}

std::size_t options_template_length(const OptionsLayout& layout) {
  return kOptionsTemplateHeaderSize + kFieldSpecifierSize * layout.fields.size();
}

}  // namespace

IpfixEncoder::IpfixEncoder(std::uint32_t observation_domain_id, std::size_t max_message_size,
                           cache::SamplingConfig sampling, const TemplateSpec& fields)
    : observation_domain_id_(observation_domain_id),
      max_message_size_(std::min(max_message_size, kMaxMessageSize)),
      sampling_(sampling) {
  const bool sampled = sampling_.mode != cache::SamplingMode::kNone;
  if (sampled && sampling_.interval == 0) {
    throw std::invalid_argument("sampling interval 0: expected 1 out of N packets, N >= 1");
  }
  for (int i = 0; i < 2; ++i) {
    TemplateSpec spec = fields;
    if (sampled) spec.features |= kSampledFeature;
    auto layout = record_fields(ExportFormat::kIpfix, i == 0 ? 4 : 6, spec);
    const std::size_t length = record_length(layout);
    templates_[i] = {i == 0 ? kIpv4TemplateId : kIpv6TemplateId, std::move(layout), length};
  }
  std::size_t template_set = kSetHeaderSize;
  std::size_t data_sets = 0;
  for (const auto& t : templates_) {
    template_set += kTemplateHeaderSize;
    for (const auto* e : t.fields) template_set += field_specifier_size(*e);
    data_sets += kSetHeaderSize + t.record_length;
  }
  // Options templates and one record of each (RFC 7011 §4), worst case: statistics and sampling.
  std::size_t options = 0;
  for (const auto& layout : {kExportingStatistics, kMeteringStatistics, sampling_layout(sampling_.mode)}) {
    if (layout.template_id == kSamplingTemplateId && !sampled) continue;
    options += kSetHeaderSize + options_template_length(layout) + kSetHeaderSize +
               layout.record_length();
  }
  const std::size_t needed = kHeaderSize + template_set + options + data_sets;
  if (max_message_size_ < needed) {
    throw std::invalid_argument("IPFIX messages of " + std::to_string(max_message_size_) +
                                " octets cannot hold the templates and a record; need at least " +
                                std::to_string(needed) + " (raise the MTU)");
  }
  buffer_.resize(max_message_size_);
}

void IpfixEncoder::begin_message(bool with_templates, const ReliabilityStatistics* statistics) {
  used_ = kHeaderSize;
  open_set_offset_ = 0;
  open_set_id_ = 0;
  records_in_message_ = 0;
  options_records_in_message_ = 0;
  in_message_ = true;
  has_templates_ = with_templates;
  if (!with_templates) return;
  write_template_set();
  const bool sampled = sampling_.mode != cache::SamplingMode::kNone;
  if (!sampled && statistics == nullptr) return;
  write_options_template_set(statistics != nullptr);
  if (sampled) {
    const std::uint64_t n = sampling_.interval;
    const bool random = sampling_.mode == cache::SamplingMode::kRandom;
    const std::uint64_t values[] = {
        kSelectorIdValue,
        random ? kSelectorRandomNOutOfN : kSelectorSystematicCountBased,
        1,
        random ? n : n - 1,
        n,
        random ? kV9AlgorithmRandom : kV9AlgorithmDeterministic};
    write_options_set(sampling_layout(sampling_.mode), values);
  }
  if (statistics != nullptr) {
    const auto& s = *statistics;
    const std::uint64_t exporting[] = {observation_domain_id_, s.exported_messages,
                                       s.exported_records,     s.exported_octets,
                                       s.not_sent_flows,       s.not_sent_packets,
                                       s.not_sent_octets,      s.since_ms,
                                       s.until_ms};
    write_options_set(kExportingStatistics, exporting);
    const std::uint64_t metering[] = {observation_domain_id_, s.ignored.ignored_packets,
                                      s.ignored.ignored_octets, s.since_ms, s.until_ms};
    write_options_set(kMeteringStatistics, metering);
  }
}

void IpfixEncoder::write_template_set() {
  std::uint8_t* set = buffer_.data() + used_;
  std::uint8_t* out = set + kSetHeaderSize;
  for (const auto& t : templates_) {
    put_u16(out, t.id);
    put_u16(out + 2, static_cast<std::uint16_t>(t.fields.size()));
    out += kTemplateHeaderSize;
    for (const auto* e : t.fields) {
      // RFC 7011 §3.2: the enterprise bit, then the enterprise number after the length.
      put_u16(out, e->enterprise != 0 ? static_cast<std::uint16_t>(e->id | 0x8000u) : e->id);
      put_u16(out + 2, e->length);
      if (e->enterprise != 0) put_u32(out + 4, e->enterprise);
      out += field_specifier_size(*e);
    }
  }
  const auto set_length = static_cast<std::uint16_t>(out - set);
  put_u16(set, kTemplateSetId);
  put_u16(set + 2, set_length);
  used_ += set_length;
}

void IpfixEncoder::write_options_template_set(bool statistics) {
  // One Options Template Set per options template: RFC 7011 §3.3 allows several in a set, but
  // pmacct 1.7 reads only the first of a set and reports the rest malformed.
  auto write = [this](const OptionsLayout& layout) {
    std::uint8_t* set = buffer_.data() + used_;
    std::uint8_t* out = set + kSetHeaderSize;
    put_u16(out, layout.template_id);
    put_u16(out + 2, static_cast<std::uint16_t>(layout.fields.size()));
    put_u16(out + 4, layout.scope_count);
    out += kOptionsTemplateHeaderSize;
    for (const auto& f : layout.fields) {
      put_u16(out, f.id);
      put_u16(out + 2, f.length);
      out += kFieldSpecifierSize;
    }
    const auto set_length = static_cast<std::uint16_t>(out - set);
    put_u16(set, kOptionsTemplateSetId);
    put_u16(set + 2, set_length);
    used_ += set_length;
  };
  if (sampling_.mode != cache::SamplingMode::kNone) write(sampling_layout(sampling_.mode));
  if (statistics) {
    write(kExportingStatistics);
    write(kMeteringStatistics);
  }
}

void IpfixEncoder::write_options_set(const OptionsLayout& layout,
                                     std::span<const std::uint64_t> values) {
  std::uint8_t* set = buffer_.data() + used_;
  write_options_record(layout.fields, values, set + kSetHeaderSize);
  const auto set_length = static_cast<std::uint16_t>(kSetHeaderSize + layout.record_length());
  put_u16(set, layout.template_id);
  put_u16(set + 2, set_length);
  used_ += set_length;
  ++options_records_in_message_;
}

IpfixEncoder::AddResult IpfixEncoder::add_record(const cache::FlowRecord& record) {
  const Template* t;
  if (record.key.ip_version == 4) {
    t = &templates_[0];
  } else if (record.key.ip_version == 6) {
    t = &templates_[1];
  } else {
    return AddResult::kUnexportable;
  }
  const bool new_set = open_set_id_ != t->id;
  const std::size_t needed = t->record_length + (new_set ? kSetHeaderSize : 0);
  if (used_ + needed > max_message_size_) return AddResult::kMessageFull;
  if (new_set) {
    close_set();
    open_set_offset_ = used_;
    open_set_id_ = t->id;
    used_ += kSetHeaderSize;
  }
  write_record(t->fields, record, buffer_.data() + used_);
  used_ += t->record_length;
  ++records_in_message_;
  return AddResult::kAdded;
}

void IpfixEncoder::close_set() {
  if (open_set_offset_ == 0) return;
  std::uint8_t* set = buffer_.data() + open_set_offset_;
  put_u16(set, open_set_id_);
  put_u16(set + 2, static_cast<std::uint16_t>(used_ - open_set_offset_));
  open_set_offset_ = 0;
  open_set_id_ = 0;
}

std::span<const std::uint8_t> IpfixEncoder::finish_message(std::uint32_t export_time_s) {
  close_set();
  std::uint8_t* header = buffer_.data();
  put_u16(header, kVersion);
  put_u16(header + 2, static_cast<std::uint16_t>(used_));
  put_u32(header + 4, export_time_s);
  put_u32(header + 8, sequence_number_);
  put_u32(header + 12, observation_domain_id_);
  // RFC 7011 §3.1: the next message counts this one's data records, options data records
  // included; wraps mod 2^32.
  sequence_number_ += records_in_message_ + options_records_in_message_;
  in_message_ = false;
  return {buffer_.data(), used_};
}

}  // namespace tapflow::exporter
