#include "exporter/netflow_v9/netflow_v9_encoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "exporter/ie/byte_order.h"

namespace tapflow::exporter {

namespace {
constexpr std::uint64_t kNsPerMs = 1'000'000;
constexpr std::uint64_t kMsPerSecond = 1000;
constexpr std::size_t kTemplateHeaderSize = 4;         // template id, field count
constexpr std::size_t kOptionsTemplateHeaderSize = 6;  // template id, scope length, option length
constexpr std::size_t kFieldSize = 4;                  // type, length

// RFC 3954 §6.1: scope System (the source id), then SAMPLING_INTERVAL and SAMPLING_ALGORITHM.
constexpr OptionsField kSamplingFields[] = {
    {kV9ScopeSystem, 4},
    {ie::kSamplingInterval, 4},
    {ie::kSamplingAlgorithm, 1},
};
constexpr OptionsLayout kSamplingLayout{NetflowV9Encoder::kSamplingTemplateId, 1, kSamplingFields};

constexpr std::size_t padded(std::size_t n) { return (n + 3) & ~std::size_t{3}; }
}  // namespace

NetflowV9Encoder::NetflowV9Encoder(std::uint32_t source_id, std::size_t max_message_size,
                                   cache::SamplingConfig sampling, const TemplateSpec& fields)
    : source_id_(source_id),
      max_message_size_(std::min(max_message_size, kMaxMessageSize)),
      sampling_(sampling) {
  if (sampling_.mode != cache::SamplingMode::kNone && sampling_.interval == 0) {
    throw std::invalid_argument("sampling interval 0: expected 1 out of N packets, N >= 1");
  }
  for (int i = 0; i < 2; ++i) {
    auto layout = record_fields(ExportFormat::kV9, i == 0 ? 4 : 6, fields);
    const std::size_t length = record_length(layout);
    templates_[i] = {i == 0 ? kIpv4TemplateId : kIpv6TemplateId, std::move(layout), length};
  }
  std::size_t needed = kHeaderSize + kFlowSetHeaderSize;
  for (const auto& t : templates_) {
    needed += kTemplateHeaderSize + kFieldSize * t.fields.size();
  }
  needed = padded(needed);
  if (sampling_.mode != cache::SamplingMode::kNone) {
    needed += padded(kFlowSetHeaderSize + kOptionsTemplateHeaderSize +
                     kFieldSize * kSamplingLayout.fields.size());
    needed += padded(kFlowSetHeaderSize + kSamplingLayout.record_length());
  }
  for (const auto& t : templates_) needed += padded(kFlowSetHeaderSize + t.record_length);
  if (max_message_size_ < needed) {
    throw std::invalid_argument("NetFlow v9 packets of " + std::to_string(max_message_size_) +
                                " octets cannot hold the templates and a record; need at least " +
                                std::to_string(needed) + " (raise the MTU)");
  }
  buffer_.resize(max_message_size_);
}

void NetflowV9Encoder::pad() {
  while (used_ % 4 != 0) buffer_[used_++] = 0;
}

void NetflowV9Encoder::begin_message(bool with_templates, std::uint64_t export_ns,
                                     std::uint64_t system_start_ns) {
  used_ = kHeaderSize;
  open_flowset_offset_ = 0;
  open_flowset_id_ = 0;
  records_in_message_ = 0;
  options_records_in_message_ = 0;
  template_records_in_message_ = 0;
  in_message_ = true;
  has_templates_ = with_templates;
  context_.system_start_ms = system_start_ns / kNsPerMs;
  export_ns_ = export_ns;
  latest_ns_ = 0;
  if (!with_templates) return;

  std::uint8_t* set = buffer_.data() + used_;
  std::uint8_t* out = set + kFlowSetHeaderSize;
  for (const auto& t : templates_) {
    put_u16(out, t.id);
    put_u16(out + 2, static_cast<std::uint16_t>(t.fields.size()));
    out += kTemplateHeaderSize;
    for (const auto* e : t.fields) {
      put_u16(out, e->id);
      put_u16(out + 2, e->length);
      out += kFieldSize;
    }
    ++template_records_in_message_;
  }
  used_ += static_cast<std::size_t>(out - set);
  pad();
  put_u16(set, kTemplateFlowSetId);
  put_u16(set + 2, static_cast<std::uint16_t>(buffer_.data() + used_ - set));
  if (sampling_.mode == cache::SamplingMode::kNone) return;

  // Options template FlowSet (RFC 3954 §6.1): lengths in octets, not field counts.
  set = buffer_.data() + used_;
  out = set + kFlowSetHeaderSize;
  const auto scope_fields = kSamplingLayout.fields.first(kSamplingLayout.scope_count);
  const auto option_fields = kSamplingLayout.fields.subspan(kSamplingLayout.scope_count);
  put_u16(out, kSamplingLayout.template_id);
  put_u16(out + 2, static_cast<std::uint16_t>(kFieldSize * scope_fields.size()));
  put_u16(out + 4, static_cast<std::uint16_t>(kFieldSize * option_fields.size()));
  out += kOptionsTemplateHeaderSize;
  for (const auto& f : kSamplingLayout.fields) {
    put_u16(out, f.id);
    put_u16(out + 2, f.length);
    out += kFieldSize;
  }
  ++template_records_in_message_;
  used_ += static_cast<std::size_t>(out - set);
  pad();
  put_u16(set, kOptionsTemplateFlowSetId);
  put_u16(set + 2, static_cast<std::uint16_t>(buffer_.data() + used_ - set));

  // Options data FlowSet: the sampling record.
  set = buffer_.data() + used_;
  const std::uint64_t values[] = {
      source_id_, sampling_.interval,
      sampling_.mode == cache::SamplingMode::kRandom ? kV9AlgorithmRandom : kV9AlgorithmDeterministic};
  write_options_record(kSamplingLayout.fields, values, set + kFlowSetHeaderSize);
  used_ += kFlowSetHeaderSize + kSamplingLayout.record_length();
  pad();
  put_u16(set, kSamplingLayout.template_id);
  put_u16(set + 2, static_cast<std::uint16_t>(buffer_.data() + used_ - set));
  ++options_records_in_message_;
}

NetflowV9Encoder::AddResult NetflowV9Encoder::add_record(const cache::FlowRecord& record) {
  const Template* t;
  if (record.key.ip_version == 4) {
    t = &templates_[0];
  } else if (record.key.ip_version == 6) {
    t = &templates_[1];
  } else {
    return AddResult::kUnexportable;
  }
  const bool new_set = open_flowset_id_ != t->id;
  // Room for the record, a new FlowSet header and the padding that closes the FlowSet.
  const std::size_t needed = t->record_length + (new_set ? kFlowSetHeaderSize : 0) + 3;
  if (used_ + needed > max_message_size_) return AddResult::kMessageFull;
  if (new_set) {
    close_flowset();
    open_flowset_offset_ = used_;
    open_flowset_id_ = t->id;
    used_ += kFlowSetHeaderSize;
  }
  write_record(t->fields, record, context_, buffer_.data() + used_);
  used_ += t->record_length;
  ++records_in_message_;
  latest_ns_ = std::max(latest_ns_, record.last_ns);
  return AddResult::kAdded;
}

void NetflowV9Encoder::close_flowset() {
  if (open_flowset_offset_ == 0) return;
  pad();
  std::uint8_t* set = buffer_.data() + open_flowset_offset_;
  put_u16(set, open_flowset_id_);
  put_u16(set + 2, static_cast<std::uint16_t>(used_ - open_flowset_offset_));
  open_flowset_offset_ = 0;
  open_flowset_id_ = 0;
}

std::span<const std::uint8_t> NetflowV9Encoder::finish_message() {
  close_flowset();
  std::uint8_t* header = buffer_.data();
  put_u16(header, kVersion);
  put_u16(header + 2, static_cast<std::uint16_t>(template_records_in_message_ +
                                                 options_records_in_message_ +
                                                 records_in_message_));
  const std::uint64_t header_ns = std::max(export_ns_, latest_ns_);
  const std::uint64_t export_s = (header_ns + 999'999'999) / 1'000'000'000;  // rounded up
  const std::uint64_t export_ms = export_s * kMsPerSecond;
  put_u32(header + 4, static_cast<std::uint32_t>(
                          export_ms > context_.system_start_ms ? export_ms - context_.system_start_ms : 0));
  put_u32(header + 8, static_cast<std::uint32_t>(export_s));
  put_u32(header + 12, sequence_number_);
  put_u32(header + 16, source_id_);
  // RFC 3954 §5.1: the sequence number counts export packets.
  ++sequence_number_;
  in_message_ = false;
  return {buffer_.data(), used_};
}

}  // namespace tapflow::exporter
