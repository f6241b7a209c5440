#include "exporter/ipfix_encoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "exporter/byte_order.h"

namespace tapflow::exporter {

namespace {
// Template record header (id, field count) and one field specifier (id, length), RFC 7011 §3.4.1
// and §3.2; all our elements are enterprise 0, so no enterprise number follows.
constexpr std::size_t kTemplateHeaderSize = 4;
constexpr std::size_t kFieldSpecifierSize = 4;
}  // namespace

IpfixEncoder::IpfixEncoder(std::uint32_t observation_domain_id, std::size_t max_message_size)
    : observation_domain_id_(observation_domain_id),
      max_message_size_(std::min(max_message_size, kMaxMessageSize)),
      templates_{{kIpv4TemplateId, ipv4_record_fields(), record_length(ipv4_record_fields())},
                 {kIpv6TemplateId, ipv6_record_fields(), record_length(ipv6_record_fields())}} {
  std::size_t template_set = kSetHeaderSize;
  std::size_t data_sets = 0;
  for (const auto& t : templates_) {
    template_set += kTemplateHeaderSize + kFieldSpecifierSize * t.fields.size();
    data_sets += kSetHeaderSize + t.record_length;
  }
  const std::size_t needed = kHeaderSize + template_set + data_sets;
  if (max_message_size_ < needed) {
    throw std::invalid_argument("IPFIX messages of " + std::to_string(max_message_size_) +
                                " octets cannot hold the templates and a record; need at least " +
                                std::to_string(needed) + " (raise the MTU)");
  }
  buffer_.resize(max_message_size_);
}

void IpfixEncoder::begin_message(bool with_templates) {
  used_ = kHeaderSize;
  open_set_offset_ = 0;
  open_set_id_ = 0;
  records_in_message_ = 0;
  in_message_ = true;
  has_templates_ = with_templates;
  if (with_templates) write_template_set();
}

void IpfixEncoder::write_template_set() {
  std::uint8_t* set = buffer_.data() + used_;
  std::uint8_t* out = set + kSetHeaderSize;
  for (const auto& t : templates_) {
    put_u16(out, t.id);
    put_u16(out + 2, static_cast<std::uint16_t>(t.fields.size()));
    out += kTemplateHeaderSize;
    for (const auto* e : t.fields) {
      put_u16(out, e->id);
      put_u16(out + 2, e->length);
      out += kFieldSpecifierSize;
    }
  }
  const auto set_length = static_cast<std::uint16_t>(out - set);
  put_u16(set, kTemplateSetId);
  put_u16(set + 2, set_length);
  used_ += set_length;
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
  // RFC 7011 §3.1: the next message counts this one's data records; wraps mod 2^32.
  sequence_number_ += records_in_message_;
  in_message_ = false;
  return {buffer_.data(), used_};
}

}  // namespace tapflow::exporter
