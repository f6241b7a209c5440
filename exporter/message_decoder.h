// Collector side: decodes export messages into DecodedRecords: NetFlow v5, NetFlow v9 (RFC 3954)
// and IPFIX (RFC 7011), dispatched on the version field. Learns templates per (source, version,
// observation domain / v9 source id), decodes options records, tracks sequence numbers by each
// version's rule (v5 counts flows, v9 packets, IPFIX data records) and reports gaps.
// Input is untrusted: every length is bounds-checked, sources, sessions and template memory are
// bounded (DecoderLimits; what is refused is counted), a malformed message is reported with a
// reason and never crashes or throws. Sources are forgotten when their connection ends
// (forget_source) or when they fall silent (forget_idle_sources), so the bounds never fill for good.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "exporter/decoded_record.h"
#include "exporter/ie/information_elements.h"

namespace tapflow::exporter {

struct SequenceGap {
  std::uint32_t expected = 0;
  std::uint32_t got = 0;
  // Records (v5, IPFIX) or packets (v9) missing between the two (mod 2^32); a huge value
  // usually means reordering or a restarted exporter.
  std::uint32_t missing() const { return got - expected; }
};

// What one message held. Records themselves are appended to the caller's vector.
struct MessageSummary {
  bool malformed = false;
  std::string reason;  // set when malformed: what was wrong and at which offset
  std::uint16_t version = 0;
  std::uint16_t length = 0;  // octets: the IPFIX header's, the datagram's for v5 and v9
  std::uint16_t count = 0;   // v5 and v9 header Count
  std::uint32_t export_time_s = 0;
  std::uint32_t system_uptime_ms = 0;  // v5 and v9
  std::uint32_t sequence_number = 0;
  // IPFIX observation domain, v9 source id, v5 engine_type * 256 + engine_id.
  std::uint32_t observation_domain_id = 0;
  std::uint32_t records = 0;         // flow data records decoded
  std::uint32_t options_records = 0; // data records of options templates (decoded into `options`)
  std::uint32_t templates = 0;       // template and options template records learned
  std::uint32_t withdrawals = 0;     // template withdrawals applied
  std::uint32_t sets_without_template = 0;  // data sets skipped: template not (yet) known
  std::optional<SequenceGap> gap;
  // Options records; for v5, the header's sampling as SAMPLING_INTERVAL/ALGORITHM when set.
  std::vector<DecodedOptionsRecord> options;
};

struct DecoderCounters {
  std::uint64_t messages = 0;
  std::uint64_t records = 0;
  std::uint64_t templates = 0;
  std::uint64_t sequence_gaps = 0;
  std::uint64_t missing_records = 0;  // sum of gap sizes (v9: packets)
  std::uint64_t options_records = 0;
  std::uint64_t malformed = 0;
  std::uint64_t sets_without_template = 0;
  // Bounds (DecoderLimits): messages refused because the source or observation domain table was
  // full of exporters that had sent templates or records; templates refused by count or memory;
  // data sets cut at a record that carries no value octet (every field variable-length and empty).
  std::uint64_t messages_refused = 0;
  std::uint64_t templates_refused = 0;
  std::uint64_t empty_records = 0;
  // Sources forgotten: ended (forget_source), silent (forget_idle_sources), or evicted to make room
  // for a new one while they had sent neither template nor record.
  std::uint64_t sources_forgotten = 0;
};

// What one decoder may hold. Template memory is counted as the decoder stores it (the template,
// its field specifiers and the map node), so a template of 16,000 fields costs about 192 KiB.
struct DecoderLimits {
  std::size_t max_sources = 1024;
  // Sessions (observation domains, v9 source ids, v5 engines) per source.
  std::size_t max_sessions_per_source = 64;
  std::size_t max_templates_per_source = 4096;
  std::size_t max_template_bytes_per_source = std::size_t{4} << 20;
  std::size_t max_template_bytes = std::size_t{64} << 20;  // all sources together
};

class MessageDecoder {
 public:
  explicit MessageDecoder(DecoderLimits limits = {});
  // The other limits at their defaults.
  MessageDecoder(std::size_t max_templates_per_source, std::size_t max_sources);
  // Sessions point into the source table.
  MessageDecoder(const MessageDecoder&) = delete;
  MessageDecoder& operator=(const MessageDecoder&) = delete;

  // Decodes exactly one message (one UDP datagram, or one message cut from a file). `source`
  // names the exporter (address:port, or the file) and scopes its templates and sequence numbers.
  MessageSummary decode(std::span<const std::uint8_t> message, std::string_view source,
                        std::vector<DecodedRecord>& out);

  const DecoderCounters& counters() const { return counters_; }
  // Templates currently known for `source`, all observation domains together.
  std::size_t template_count(std::string_view source) const;
  // Template memory held for `source`, and for every source together (see DecoderLimits).
  std::size_t template_bytes(std::string_view source) const;
  std::size_t template_bytes() const { return template_bytes_; }
  std::size_t source_count() const { return sources_.size(); }
  std::size_t session_count() const { return sessions_.size(); }

  // The caller's clock in milliseconds (any epoch, never going back); messages decoded after it
  // are seen at this time. Without calls the clock stays at 0 and nothing is ever idle.
  void set_time(std::uint64_t now_ms) { now_ms_ = now_ms; }
  // Forgets every session, template and sequence number of `source` (its TCP connection or SCTP
  // association ended: RFC 7011 §10.4.1, a new one is a new Transport Session). False if unknown.
  bool forget_source(std::string_view source);
  // Forgets the sources that sent nothing for `idle_ms` or more (UDP has no end: RFC 7011 §10.3.6
  // lets a collector discard what it did not hear about for a while). Returns how many.
  std::size_t forget_idle_sources(std::uint64_t idle_ms);

 private:
  struct FieldSpecifier {
    std::uint16_t id = 0;
    std::uint16_t length = 0;  // 65535 = variable length (RFC 7011 §7)
    std::uint32_t enterprise_number = 0;
    int known_index = -1;      // index in information_elements(), or -1
  };
  struct Template {
    std::vector<FieldSpecifier> fields;
    std::size_t min_record_length = 0;  // variable-length fields count their 1-octet length
    bool options = false;
    std::uint16_t scope_count = 0;      // options templates: the first fields are scope fields
  };
  struct SourceState {
    std::size_t sessions = 0;
    std::size_t templates = 0;
    std::size_t template_bytes = 0;
    std::uint64_t last_seen_ms = 0;
    bool proven = false;  // has sent a template or a record: never evicted for a newcomer
  };
  struct Session {
    std::map<std::uint16_t, Template> templates;
    std::optional<std::uint32_t> expected_sequence;
    SourceState* owner = nullptr;  // a node of sources_, stable while the session lives
    std::uint64_t last_seen_ms = 0;
    bool proven = false;
  };
  struct SessionKey {
    std::string source;
    std::uint16_t version;
    std::uint32_t observation_domain_id;
    auto operator<=>(const SessionKey&) const = default;
  };

  MessageSummary decode_ipfix(std::span<const std::uint8_t> message, std::string_view source,
                              std::vector<DecodedRecord>& out);
  MessageSummary decode_v9(std::span<const std::uint8_t> message, std::string_view source,
                           std::vector<DecodedRecord>& out);
  MessageSummary decode_v5(std::span<const std::uint8_t> message, std::string_view source,
                           std::vector<DecodedRecord>& out);
  std::string decode_v9_template_flowset(std::span<const std::uint8_t> set, bool options,
                                         std::string_view source, Session& session,
                                         MessageSummary& summary);
  // Stores `t` under `template_id` within the per-source bound; empty string or the reason.
  std::string learn_template(std::uint16_t template_id, Template t, std::string_view source,
                             Session& session, MessageSummary& summary);
  // Each returns an empty string on success, else the reason the set is malformed.
  std::string decode_template_set(std::span<const std::uint8_t> set, bool options,
                                  std::string_view source, Session& session,
                                  MessageSummary& summary);
  std::string decode_data_set(std::span<const std::uint8_t> set, const Template& t,
                              std::uint16_t template_id, const ReadContext& context,
                              MessageSummary& summary, std::vector<DecodedRecord>& out);
  Session* find_or_create_session(std::string_view source, std::uint16_t version,
                                  std::uint32_t observation_domain_id, std::string& reason);
  // Marks the session and its source as a real exporter once a message held a template or record.
  static void note_proven(Session& session, const MessageSummary& summary);
  void erase_template(Session& session, std::map<std::uint16_t, Template>::iterator it);
  void erase_session(std::map<SessionKey, Session>::iterator it);
  void erase_source(std::map<std::string, SourceState, std::less<>>::iterator it);

  DecoderLimits limits_;
  std::map<SessionKey, Session> sessions_;
  std::map<std::string, SourceState, std::less<>> sources_;
  std::size_t template_bytes_ = 0;
  std::uint64_t now_ms_ = 0;
  DecoderCounters counters_;
};

}  // namespace tapflow::exporter
