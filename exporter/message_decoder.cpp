#include "exporter/message_decoder.h"

#include <algorithm>

#include <fmt/format.h>

#include "exporter/ie/byte_order.h"
#include "exporter/ie/information_elements.h"

namespace tapflow::exporter {

namespace {
constexpr std::size_t kIpfixHeaderSize = 16;  // RFC 7011 §3.1
constexpr std::size_t kSetHeaderSize = 4;     // RFC 7011 §3.3.2
constexpr std::uint16_t kTemplateSetId = 2;
constexpr std::uint16_t kOptionsTemplateSetId = 3;
constexpr std::uint16_t kFirstDataSetId = 256;
constexpr std::uint16_t kVariableLength = 65535;  // RFC 7011 §7
constexpr std::uint16_t kEnterpriseBit = 0x8000;  // RFC 7011 §3.2
constexpr std::size_t kV9HeaderSize = 20;         // RFC 3954 §5.1
constexpr std::uint16_t kV9TemplateFlowSetId = 0;
constexpr std::uint16_t kV9OptionsTemplateFlowSetId = 1;
constexpr std::size_t kV5HeaderSize = 24;
constexpr std::size_t kV5RecordSize = 48;
constexpr std::uint16_t kV5MaxCount = 30;
constexpr std::uint64_t kNsPerMs = 1'000'000;
// A std::map node's links and colour ahead of the key and value (libstdc++: 32 octets), plus the
// key and padding.
constexpr std::size_t kMapNodeOverhead = 40;
}  // namespace

bool DecodedRecord::has(std::uint16_t ie_id, std::uint32_t enterprise) const {
  const int index = find_information_element(ie_id, enterprise);
  return index >= 0 && fields.test(static_cast<std::size_t>(index));
}

namespace {
// What a stored template holds on the heap, as DecoderLimits counts it.
template <typename T>
std::size_t template_cost(const T& t) {
  return sizeof(T) + kMapNodeOverhead + t.fields.capacity() * sizeof(t.fields[0]);
}
}  // namespace

MessageDecoder::MessageDecoder(DecoderLimits limits) : limits_(limits) {}

MessageDecoder::MessageDecoder(std::size_t max_templates_per_source, std::size_t max_sources)
    : MessageDecoder([&] {
        DecoderLimits limits;
        limits.max_templates_per_source = max_templates_per_source;
        limits.max_sources = max_sources;
        return limits;
      }()) {}

std::size_t MessageDecoder::template_count(std::string_view source) const {
  const auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.templates;
}

std::size_t MessageDecoder::template_bytes(std::string_view source) const {
  const auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.template_bytes;
}

void MessageDecoder::erase_template(Session& session, std::map<std::uint16_t, Template>::iterator it) {
  const std::size_t cost = template_cost(it->second);
  session.owner->templates -= 1;
  session.owner->template_bytes -= cost;
  template_bytes_ -= cost;
  session.templates.erase(it);
}

void MessageDecoder::erase_session(std::map<SessionKey, Session>::iterator it) {
  Session& session = it->second;
  while (!session.templates.empty()) erase_template(session, session.templates.begin());
  session.owner->sessions -= 1;
  sessions_.erase(it);
}

void MessageDecoder::erase_source(std::map<std::string, SourceState, std::less<>>::iterator it) {
  // SessionKey orders by source first, so the source's sessions are one range.
  auto s = sessions_.lower_bound(SessionKey{it->first, 0, 0});
  while (s != sessions_.end() && s->first.source == it->first) erase_session(s++);
  sources_.erase(it);
  ++counters_.sources_forgotten;
}

bool MessageDecoder::forget_source(std::string_view source) {
  const auto it = sources_.find(source);
  if (it == sources_.end()) return false;
  erase_source(it);
  return true;
}

std::size_t MessageDecoder::forget_idle_sources(std::uint64_t idle_ms) {
  std::size_t forgotten = 0;
  for (auto it = sources_.begin(); it != sources_.end();) {
    const std::uint64_t seen = it->second.last_seen_ms;
    if (now_ms_ >= seen && now_ms_ - seen >= idle_ms) {
      erase_source(it++);
      ++forgotten;
    } else {
      ++it;
    }
  }
  return forgotten;
}

void MessageDecoder::note_proven(Session& session, const MessageSummary& summary) {
  if (summary.templates + summary.records + summary.options_records == 0) return;
  session.proven = true;
  session.owner->proven = true;
}

MessageSummary MessageDecoder::decode(std::span<const std::uint8_t> message,
                                      std::string_view source, std::vector<DecodedRecord>& out) {
  MessageSummary summary;
  ++counters_.messages;
  if (message.size() < 2) {
    summary.malformed = true;
    summary.reason = fmt::format("message of {} octets is too short for a version", message.size());
  } else {
    summary.version = get_u16(message.data());
    switch (summary.version) {
      case 5:
        summary = decode_v5(message, source, out);
        break;
      case 9:
        summary = decode_v9(message, source, out);
        break;
      case 10:
        summary = decode_ipfix(message, source, out);
        break;
      default:
        summary.malformed = true;
        summary.reason = fmt::format("unsupported version {} (expected 5, 9 or 10)", summary.version);
        break;
    }
  }
  counters_.records += summary.records;
  counters_.templates += summary.templates;
  counters_.options_records += summary.options_records;
  counters_.sets_without_template += summary.sets_without_template;
  if (summary.malformed) ++counters_.malformed;
  if (summary.gap) {
    ++counters_.sequence_gaps;
    counters_.missing_records += summary.gap->missing();
  }
  return summary;
}

MessageDecoder::Session* MessageDecoder::find_or_create_session(
    std::string_view source, std::uint16_t version, std::uint32_t observation_domain_id,
    std::string& reason) {
  SessionKey key{std::string(source), version, observation_domain_id};
  if (auto it = sessions_.find(key); it != sessions_.end()) {
    it->second.last_seen_ms = now_ms_;
    it->second.owner->last_seen_ms = now_ms_;
    return &it->second;
  }
  auto owner = sources_.find(source);
  if (owner == sources_.end()) {
    if (sources_.size() >= limits_.max_sources) {
      // Make room by forgetting the longest silent source that never sent a template or a
      // record (bare headers from many ports must not shut real exporters out); if every source
      // is a real exporter, the newcomer is refused.
      auto victim = sources_.end();
      for (auto it = sources_.begin(); it != sources_.end(); ++it) {
        if (!it->second.proven && (victim == sources_.end() || it->second.last_seen_ms < victim->second.last_seen_ms)) {
          victim = it;
        }
      }
      if (victim == sources_.end()) {
        ++counters_.messages_refused;
        reason = fmt::format("too many exporters (limit {}); ignoring {}", limits_.max_sources, source);
        return nullptr;
      }
      erase_source(victim);
    }
    owner = sources_.emplace(std::string(source), SourceState{}).first;
  }
  SourceState& state = owner->second;
  state.last_seen_ms = now_ms_;
  if (state.sessions >= limits_.max_sessions_per_source) {
    // The same for observation domains within one source.
    auto victim = sessions_.end();
    for (auto it = sessions_.lower_bound(SessionKey{key.source, 0, 0});
         it != sessions_.end() && it->first.source == key.source; ++it) {
      if (!it->second.proven && (victim == sessions_.end() || it->second.last_seen_ms < victim->second.last_seen_ms)) {
        victim = it;
      }
    }
    if (victim == sessions_.end()) {
      ++counters_.messages_refused;
      reason = fmt::format("too many observation domains from {} (limit {}); ignoring domain {}", source,
                           limits_.max_sessions_per_source, observation_domain_id);
      return nullptr;
    }
    erase_session(victim);
  }
  Session& session = sessions_[std::move(key)];
  session.owner = &state;
  session.last_seen_ms = now_ms_;
  ++state.sessions;
  return &session;
}

MessageSummary MessageDecoder::decode_ipfix(std::span<const std::uint8_t> message,
                                            std::string_view source,
                                            std::vector<DecodedRecord>& out) {
  MessageSummary summary;
  summary.version = 10;
  auto malformed = [&summary](std::string reason) {
    summary.malformed = true;
    summary.reason = std::move(reason);
    return summary;
  };
  if (message.size() < kIpfixHeaderSize) {
    return malformed(fmt::format("message of {} octets is shorter than the 16-octet IPFIX header",
                                 message.size()));
  }
  const std::uint8_t* h = message.data();
  summary.length = get_u16(h + 2);
  summary.export_time_s = get_u32(h + 4);
  summary.sequence_number = get_u32(h + 8);
  summary.observation_domain_id = get_u32(h + 12);
  if (summary.length != message.size()) {
    return malformed(fmt::format("header length {} but the message has {} octets", summary.length,
                                 message.size()));
  }
  std::string reason;
  Session* session = find_or_create_session(source, 10, summary.observation_domain_id, reason);
  if (session == nullptr) return malformed(std::move(reason));

  // RFC 7011 §3.1: the sequence number counts data records sent before this message.
  if (session->expected_sequence && *session->expected_sequence != summary.sequence_number) {
    summary.gap = SequenceGap{*session->expected_sequence, summary.sequence_number};
  }
  const std::size_t first_record = out.size();
  bool sequence_known = true;

  std::size_t offset = kIpfixHeaderSize;
  while (offset < message.size() && reason.empty()) {
    if (message.size() - offset < kSetHeaderSize) {
      reason = fmt::format("{} octets after the last set at offset {}, too few for a set header",
                           message.size() - offset, offset);
      break;
    }
    const std::uint16_t set_id = get_u16(h + offset);
    const std::uint16_t set_length = get_u16(h + offset + 2);
    if (set_length < kSetHeaderSize || set_length > message.size() - offset) {
      reason = fmt::format("set {} at offset {} has length {}, but {} octets remain", set_id,
                           offset, set_length, message.size() - offset);
      break;
    }
    const auto body = message.subspan(offset + kSetHeaderSize, set_length - kSetHeaderSize);
    if (set_id == kTemplateSetId || set_id == kOptionsTemplateSetId) {
      reason = decode_template_set(body, set_id == kOptionsTemplateSetId, source, *session, summary);
    } else if (set_id >= kFirstDataSetId) {
      const auto t = session->templates.find(set_id);
      if (t == session->templates.end()) {
        // RFC 7011 §8: data may precede its template (e.g. a collector started late); the set is
        // skipped and, as its records cannot be counted, sequence tracking restarts.
        ++summary.sets_without_template;
        sequence_known = false;
      } else {
        // IPFIX times are absolute; a sysUpTime-relative element from another exporter is read
        // against the export time.
        const ReadContext context{std::uint64_t{summary.export_time_s} * 1000, 0};
        reason = decode_data_set(body, t->second, set_id, context, summary, out);
      }
    } else {
      reason = fmt::format("reserved set id {} at offset {}", set_id, offset);
    }
    if (!reason.empty()) reason = fmt::format("set {} at offset {}: {}", set_id, offset, reason);
    offset += set_length;
  }
  for (std::size_t i = first_record; i < out.size(); ++i) {
    out[i].export_time_s = summary.export_time_s;
    out[i].observation_domain_id = summary.observation_domain_id;
  }
  for (auto& o : summary.options) o.observation_domain_id = summary.observation_domain_id;
  note_proven(*session, summary);
  if (!reason.empty() || !sequence_known) {
    session->expected_sequence.reset();
  } else {
    session->expected_sequence = summary.sequence_number + summary.records + summary.options_records;
  }
  if (!reason.empty()) return malformed(std::move(reason));
  return summary;
}

std::string MessageDecoder::decode_template_set(std::span<const std::uint8_t> set, bool options,
                                                std::string_view source, Session& session,
                                                MessageSummary& summary) {
  // Template record: id, field count [, scope field count], then field specifiers
  // (RFC 7011 §3.4.1, §3.4.2). Anything shorter than a record header at the end is padding.
  const std::size_t record_header = options ? 6 : 4;
  std::size_t offset = 0;
  while (set.size() - offset >= 4) {
    const std::uint8_t* p = set.data() + offset;
    const std::uint16_t template_id = get_u16(p);
    const std::uint16_t field_count = get_u16(p + 2);
    if (field_count == 0) {
      // Withdrawal (RFC 7011 §8.1): id 2 or 3 withdraws all templates of that kind.
      if (template_id == kTemplateSetId || template_id == kOptionsTemplateSetId) {
        for (auto it = session.templates.begin(); it != session.templates.end();) {
          if (it->second.options == (template_id == kOptionsTemplateSetId)) {
            erase_template(session, it++);
            ++summary.withdrawals;
          } else {
            ++it;
          }
        }
      } else if (template_id < kFirstDataSetId) {
        if (template_id == 0 && offset > 0) break;  // zero padding after the last record
        return fmt::format("template withdrawal for invalid id {}", template_id);
      } else if (const auto it = session.templates.find(template_id); it != session.templates.end()) {
        erase_template(session, it);
        ++summary.withdrawals;
      }
      offset += 4;  // a withdrawal has no scope field count, even in an options template set
      continue;
    }
    if (template_id < kFirstDataSetId) {
      return fmt::format("template id {} is below 256", template_id);
    }
    if (options) {
      if (set.size() - offset < record_header) {
        return fmt::format("options template {} header runs past the end of the set", template_id);
      }
      const std::uint16_t scope_count = get_u16(p + 4);
      if (scope_count == 0 || scope_count > field_count) {
        return fmt::format("options template {} has scope field count {} of {} fields",
                           template_id, scope_count, field_count);
      }
    }
    offset += record_header;
    Template t;
    t.options = options;
    t.fields.reserve(std::min<std::size_t>(field_count, (set.size() - offset) / 4));
    for (std::uint16_t i = 0; i < field_count; ++i) {
      if (set.size() - offset < 4) {
        return fmt::format("template {} field {} of {} runs past the end of the set", template_id,
                           i + 1, field_count);
      }
      FieldSpecifier field;
      field.id = get_u16(set.data() + offset);
      field.length = get_u16(set.data() + offset + 2);
      offset += 4;
      if (field.id & kEnterpriseBit) {
        if (set.size() - offset < 4) {
          return fmt::format("template {} field {} enterprise number runs past the end of the set",
                             template_id, i + 1);
        }
        field.id &= static_cast<std::uint16_t>(~kEnterpriseBit);
        field.enterprise_number = get_u32(set.data() + offset);
        offset += 4;
      }
      field.known_index = find_information_element(field.id, field.enterprise_number);
      t.min_record_length += field.length == kVariableLength ? 1 : field.length;
      t.fields.push_back(field);
    }
    if (options) t.scope_count = get_u16(p + 4);
    if (auto error = learn_template(template_id, std::move(t), source, session, summary);
        !error.empty()) {
      return error;
    }
  }
  return {};
}

std::string MessageDecoder::learn_template(std::uint16_t template_id, Template t,
                                           std::string_view source, Session& session,
                                           MessageSummary& summary) {
  if (t.min_record_length == 0) {
    return fmt::format("template {} describes records of zero octets", template_id);
  }
  t.fields.shrink_to_fit();
  SourceState& owner = *session.owner;
  const auto old = session.templates.find(template_id);
  const std::size_t old_cost = old == session.templates.end() ? 0 : template_cost(old->second);
  const std::size_t cost = template_cost(t);
  if (old == session.templates.end() && owner.templates >= limits_.max_templates_per_source) {
    ++counters_.templates_refused;
    return fmt::format("more than {} templates from {}", limits_.max_templates_per_source, source);
  }
  if (owner.template_bytes - old_cost + cost > limits_.max_template_bytes_per_source) {
    ++counters_.templates_refused;
    return fmt::format("template {} ({} fields) would take {}'s templates past {} octets", template_id,
                       t.fields.size(), source, limits_.max_template_bytes_per_source);
  }
  if (template_bytes_ - old_cost + cost > limits_.max_template_bytes) {
    ++counters_.templates_refused;
    return fmt::format("template {} ({} fields) from {} would take all templates past {} octets",
                       template_id, t.fields.size(), source, limits_.max_template_bytes);
  }
  // RFC 7011 §8.1, RFC 3954 §5.2: a template redefined under the same id replaces the old one.
  if (old != session.templates.end()) erase_template(session, old);
  session.templates.emplace(template_id, std::move(t));
  owner.templates += 1;
  owner.template_bytes += cost;
  template_bytes_ += cost;
  ++summary.templates;
  return {};
}

std::string MessageDecoder::decode_data_set(std::span<const std::uint8_t> set, const Template& t,
                                            std::uint16_t template_id, const ReadContext& context,
                                            MessageSummary& summary,
                                            std::vector<DecodedRecord>& out) {
  const auto known = information_elements();
  std::size_t offset = 0;
  // RFC 7011 §3.3.1: padding after the last record is shorter than any record.
  // A record whose fields are all variable-length and empty carries nothing: the rest of the set
  // is padding if it is all zero, else malformed. Taking it for a record would let one template
  // of a single variable-length field make every octet of a set of zeros a record.
  auto empty_record = [&](std::size_t record_start) -> std::string {
    for (std::size_t i = record_start; i < set.size(); ++i) {
      if (set[i] != 0) {
        ++counters_.empty_records;
        return fmt::format("record at offset {} carries no value octet (every field empty)", record_start);
      }
    }
    return {};
  };
  while (set.size() - offset >= t.min_record_length) {
    const std::size_t record_start = offset;
    std::size_t value_octets = 0;
    if (t.options) {
      DecodedOptionsRecord options;
      options.version = summary.version;
      options.template_id = template_id;
      options.values.reserve(t.fields.size());
      for (std::size_t i = 0; i < t.fields.size(); ++i) {
        const auto& field = t.fields[i];
        std::size_t length = field.length;
        if (length == kVariableLength) {
          if (offset >= set.size()) return "options record runs past the end of the set";
          length = set[offset++];
          if (length == 255) {
            if (set.size() - offset < 2) return "options record runs past the end of the set";
            length = get_u16(set.data() + offset);
            offset += 2;
          }
        }
        if (set.size() - offset < length) return "options record runs past the end of the set";
        value_octets += length;
        OptionsValue v;
        v.enterprise_number = field.enterprise_number;
        v.id = field.id;
        v.length = static_cast<std::uint16_t>(length);
        v.scope = i < t.scope_count;
        if (length <= 8) v.value = get_unsigned(set.data() + offset, length);
        options.values.push_back(v);
        offset += length;
      }
      if (value_octets == 0) return empty_record(record_start);
      summary.options.push_back(std::move(options));
      ++summary.options_records;
      continue;
    }
    DecodedRecord record;
    record.version = summary.version;
    record.template_id = template_id;
    for (const auto& field : t.fields) {
      std::size_t length = field.length;
      if (length == kVariableLength) {
        // RFC 7011 §7: one length octet, or 255 then a 2-octet length.
        if (offset >= set.size()) {
          return fmt::format("record at offset {} ends inside a variable-length field", record_start);
        }
        length = set[offset++];
        if (length == 255) {
          if (set.size() - offset < 2) {
            return fmt::format("record at offset {} ends inside a variable-length field",
                               record_start);
          }
          length = get_u16(set.data() + offset);
          offset += 2;
        }
      }
      if (set.size() - offset < length) {
        return fmt::format("record at offset {} runs past the end of the set", record_start);
      }
      const auto value = set.subspan(offset, length);
      offset += length;
      value_octets += length;
      if (field.known_index >= 0 && field.length != kVariableLength &&
          known[static_cast<std::size_t>(field.known_index)].read(value, context, record.flow)) {
        record.fields.set(static_cast<std::size_t>(field.known_index));
      } else {
        record.unknown_fields.push_back(
            {field.enterprise_number, field.id, std::vector<std::uint8_t>(value.begin(), value.end())});
      }
    }
    if (value_octets == 0) return empty_record(record_start);
    out.push_back(std::move(record));
    ++summary.records;
  }
  return {};
}

MessageSummary MessageDecoder::decode_v9(std::span<const std::uint8_t> message,
                                         std::string_view source,
                                         std::vector<DecodedRecord>& out) {
  MessageSummary summary;
  summary.version = 9;
  auto malformed = [&summary](std::string reason) {
    summary.malformed = true;
    summary.reason = std::move(reason);
    return summary;
  };
  if (message.size() < kV9HeaderSize) {
    return malformed(fmt::format(
        "message of {} octets is shorter than the 20-octet NetFlow v9 header", message.size()));
  }
  const std::uint8_t* h = message.data();
  summary.length = static_cast<std::uint16_t>(std::min<std::size_t>(message.size(), 65535));
  summary.count = get_u16(h + 2);
  summary.system_uptime_ms = get_u32(h + 4);
  summary.export_time_s = get_u32(h + 8);
  summary.sequence_number = get_u32(h + 12);
  summary.observation_domain_id = get_u32(h + 16);  // Source ID: scopes templates (RFC 3954 §5.1)
  std::string reason;
  Session* session = find_or_create_session(source, 9, summary.observation_domain_id, reason);
  if (session == nullptr) return malformed(std::move(reason));

  // RFC 3954 §5.1: the sequence number counts export packets.
  if (session->expected_sequence && *session->expected_sequence != summary.sequence_number) {
    summary.gap = SequenceGap{*session->expected_sequence, summary.sequence_number};
  }
  session->expected_sequence = summary.sequence_number + 1;

  const ReadContext context{std::uint64_t{summary.export_time_s} * 1000, summary.system_uptime_ms};
  const std::size_t first_record = out.size();
  std::uint32_t template_records = 0;
  std::size_t offset = kV9HeaderSize;
  while (offset < message.size() && reason.empty()) {
    if (message.size() - offset < kSetHeaderSize) {
      reason = fmt::format("{} octets after the last FlowSet at offset {}, too few for a header",
                           message.size() - offset, offset);
      break;
    }
    const std::uint16_t set_id = get_u16(h + offset);
    const std::uint16_t set_length = get_u16(h + offset + 2);
    if (set_length < kSetHeaderSize || set_length > message.size() - offset) {
      reason = fmt::format("FlowSet {} at offset {} has length {}, but {} octets remain", set_id,
                           offset, set_length, message.size() - offset);
      break;
    }
    const auto body = message.subspan(offset + kSetHeaderSize, set_length - kSetHeaderSize);
    if (set_id == kV9TemplateFlowSetId || set_id == kV9OptionsTemplateFlowSetId) {
      const std::uint32_t before = summary.templates;
      reason = decode_v9_template_flowset(body, set_id == kV9OptionsTemplateFlowSetId, source,
                                          *session, summary);
      template_records += summary.templates - before;
    } else if (set_id >= kFirstDataSetId) {
      const auto t = session->templates.find(set_id);
      if (t == session->templates.end()) {
        ++summary.sets_without_template;
      } else {
        reason = decode_data_set(body, t->second, set_id, context, summary, out);
      }
    } else {
      reason = fmt::format("reserved FlowSet id {}", set_id);
    }
    if (!reason.empty()) reason = fmt::format("FlowSet {} at offset {}: {}", set_id, offset, reason);
    offset += set_length;
  }
  for (std::size_t i = first_record; i < out.size(); ++i) {
    out[i].export_time_s = summary.export_time_s;
    out[i].observation_domain_id = summary.observation_domain_id;
  }
  for (auto& o : summary.options) o.observation_domain_id = summary.observation_domain_id;
  note_proven(*session, summary);
  if (!reason.empty()) return malformed(std::move(reason));
  // RFC 3954 §5.1: Count is every record of the packet, templates included. It can only be
  // checked when every FlowSet could be decoded.
  const std::uint32_t found = template_records + summary.records + summary.options_records;
  if (summary.sets_without_template == 0 && found != summary.count) {
    return malformed(fmt::format("header count {} but the packet holds {} records", summary.count,
                                 found));
  }
  return summary;
}

std::string MessageDecoder::decode_v9_template_flowset(std::span<const std::uint8_t> set,
                                                       bool options, std::string_view source,
                                                       Session& session,
                                                       MessageSummary& summary) {
  // Template: id, field count, (type, length) pairs. Options template: id, scope length and
  // option length in octets, then the scope and option (type, length) pairs (RFC 3954 §5.2, §6.1).
  // Fewer octets than a record header at the end are padding.
  const std::size_t record_header = options ? 6 : 4;
  std::size_t offset = 0;
  while (set.size() - offset >= record_header) {
    const std::uint8_t* p = set.data() + offset;
    const std::uint16_t template_id = get_u16(p);
    if (template_id == 0 && offset > 0) break;  // zero padding after the last record
    if (template_id < kFirstDataSetId) return fmt::format("template id {} is below 256", template_id);
    std::size_t field_count = 0;
    std::uint16_t scope_count = 0;
    if (options) {
      const std::uint16_t scope_length = get_u16(p + 2);
      const std::uint16_t option_length = get_u16(p + 4);
      if (scope_length % 4 != 0 || option_length % 4 != 0) {
        return fmt::format("options template {} has scope length {} and option length {}, not "
                           "multiples of 4",
                           template_id, scope_length, option_length);
      }
      scope_count = static_cast<std::uint16_t>(scope_length / 4);
      field_count = (std::size_t{scope_length} + option_length) / 4;
    } else {
      field_count = get_u16(p + 2);
    }
    if (field_count == 0) return fmt::format("template {} has no fields", template_id);
    offset += record_header;
    if ((set.size() - offset) / 4 < field_count) {
      return fmt::format("template {} with {} fields runs past the end of the FlowSet", template_id,
                         field_count);
    }
    Template t;
    t.options = options;
    t.scope_count = scope_count;
    t.fields.reserve(field_count);
    for (std::size_t i = 0; i < field_count; ++i) {
      FieldSpecifier field;
      field.id = get_u16(set.data() + offset);
      field.length = get_u16(set.data() + offset + 2);
      offset += 4;
      // v9 has no variable-length fields: 65535 is just a (too) long field.
      if (field.length == kVariableLength) {
        return fmt::format("template {} field {} has length 65535", template_id, i + 1);
      }
      // Scope field types (1 System, 2 Interface, ...) are not information elements.
      if (!options || i >= scope_count) field.known_index = find_information_element(field.id);
      t.min_record_length += field.length;
      t.fields.push_back(field);
    }
    if (auto error = learn_template(template_id, std::move(t), source, session, summary);
        !error.empty()) {
      return error;
    }
  }
  return {};
}

MessageSummary MessageDecoder::decode_v5(std::span<const std::uint8_t> message,
                                         std::string_view source,
                                         std::vector<DecodedRecord>& out) {
  MessageSummary summary;
  summary.version = 5;
  auto malformed = [&summary](std::string reason) {
    summary.malformed = true;
    summary.reason = std::move(reason);
    return summary;
  };
  if (message.size() < kV5HeaderSize) {
    return malformed(fmt::format(
        "message of {} octets is shorter than the 24-octet NetFlow v5 header", message.size()));
  }
  const std::uint8_t* h = message.data();
  summary.length = static_cast<std::uint16_t>(std::min<std::size_t>(message.size(), 65535));
  summary.count = get_u16(h + 2);
  summary.system_uptime_ms = get_u32(h + 4);
  summary.export_time_s = get_u32(h + 8);
  const std::uint32_t unix_nsecs = get_u32(h + 12);
  summary.sequence_number = get_u32(h + 16);
  summary.observation_domain_id = std::uint32_t{h[20]} << 8 | h[21];  // engine type and id
  const std::uint16_t sampling = get_u16(h + 22);
  if (summary.count == 0 || summary.count > kV5MaxCount) {
    return malformed(fmt::format("header count {} (NetFlow v5 carries 1 to 30 records)",
                                 summary.count));
  }
  if (message.size() != kV5HeaderSize + kV5RecordSize * summary.count) {
    return malformed(fmt::format("header count {} needs {} octets but the datagram has {}",
                                 summary.count, kV5HeaderSize + kV5RecordSize * summary.count,
                                 message.size()));
  }
  std::string reason;
  Session* session = find_or_create_session(source, 5, summary.observation_domain_id, reason);
  if (session == nullptr) return malformed(std::move(reason));
  // flow_sequence counts the flows exported before this datagram.
  if (session->expected_sequence && *session->expected_sequence != summary.sequence_number) {
    summary.gap = SequenceGap{*session->expected_sequence, summary.sequence_number};
  }
  session->expected_sequence = summary.sequence_number + summary.count;

  if (sampling != 0) {
    // 2-bit mode, 14-bit interval: shown as v9's SAMPLING_INTERVAL and SAMPLING_ALGORITHM.
    DecodedOptionsRecord options;
    options.version = 5;
    options.observation_domain_id = summary.observation_domain_id;
    options.values.push_back({0, ie::kSamplingInterval, 4, false, static_cast<std::uint64_t>(sampling & 0x3fffu)});
    options.values.push_back({0, ie::kSamplingAlgorithm, 1, false, static_cast<std::uint64_t>(sampling >> 14u)});
    summary.options.push_back(std::move(options));
  }

  const ReadContext context{std::uint64_t{summary.export_time_s} * 1000 + unix_nsecs / kNsPerMs,
                            summary.system_uptime_ms};
  const auto& elements = information_elements();
  const auto read = [&](std::uint16_t id, std::span<const std::uint8_t> value, DecodedRecord& r) {
    // FIRST/LAST_SWITCHED are read against the header clock, as in v9.
    const int index = find_information_element(id);
    if (index >= 0 && elements[static_cast<std::size_t>(index)].read(value, context, r.flow)) {
      r.fields.set(static_cast<std::size_t>(index));
    }
  };
  for (std::uint16_t i = 0; i < summary.count; ++i) {
    const auto rec = message.subspan(kV5HeaderSize + kV5RecordSize * i, kV5RecordSize);
    DecodedRecord r;
    r.version = 5;
    r.export_time_s = summary.export_time_s;
    r.observation_domain_id = summary.observation_domain_id;
    read(ie::kSourceIpv4Address, rec.subspan(0, 4), r);
    read(ie::kDestinationIpv4Address, rec.subspan(4, 4), r);
    read(ie::kIngressInterface, rec.subspan(12, 2), r);
    read(ie::kPacketDeltaCount, rec.subspan(16, 4), r);
    read(ie::kOctetDeltaCount, rec.subspan(20, 4), r);
    read(ie::kFirstSwitched, rec.subspan(24, 4), r);
    read(ie::kLastSwitched, rec.subspan(28, 4), r);
    read(ie::kSourceTransportPort, rec.subspan(32, 2), r);
    read(ie::kDestinationTransportPort, rec.subspan(34, 2), r);
    read(ie::kTcpControlBits, rec.subspan(37, 1), r);
    read(ie::kProtocolIdentifier, rec.subspan(38, 1), r);
    read(ie::kIpClassOfService, rec.subspan(39, 1), r);
    // v5 always has room for AS numbers and masks; they count as carried when a probe filled any.
    if (std::any_of(rec.begin() + 40, rec.begin() + 46, [](std::uint8_t b) { return b != 0; })) {
      read(ie::kBgpSourceAsNumber, rec.subspan(40, 2), r);
      read(ie::kBgpDestinationAsNumber, rec.subspan(42, 2), r);
      read(ie::kSourceIpv4PrefixLength, rec.subspan(44, 1), r);
      read(ie::kDestinationIpv4PrefixLength, rec.subspan(45, 1), r);
    }
    out.push_back(std::move(r));
    ++summary.records;
  }
  note_proven(*session, summary);
  return summary;
}

}  // namespace tapflow::exporter
