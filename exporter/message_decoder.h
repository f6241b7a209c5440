// Collector side: decodes export messages into DecodedRecords: NetFlow v5, NetFlow v9 (RFC 3954)
// and IPFIX (RFC 7011), dispatched on the version field. Learns templates per (source, version,
// observation domain / v9 source id), decodes options records, tracks sequence numbers by each
// version's rule (v5 counts flows, v9 packets, IPFIX data records) and reports gaps.
// Input is untrusted: every length is bounds-checked, template memory is bounded, a malformed
// message is reported with a reason and never crashes or throws.
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
};

class MessageDecoder {
 public:
  static constexpr std::size_t kDefaultMaxTemplatesPerSource = 4096;
  static constexpr std::size_t kDefaultMaxSources = 1024;

  explicit MessageDecoder(std::size_t max_templates_per_source = kDefaultMaxTemplatesPerSource,
                          std::size_t max_sources = kDefaultMaxSources);

  // Decodes exactly one message (one UDP datagram, or one message cut from a file). `source`
  // names the exporter (address:port, or the file) and scopes its templates and sequence numbers.
  MessageSummary decode(std::span<const std::uint8_t> message, std::string_view source,
                        std::vector<DecodedRecord>& out);

  const DecoderCounters& counters() const { return counters_; }
  // Templates currently known for `source`, all observation domains together.
  std::size_t template_count(std::string_view source) const;

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
  struct Session {
    std::map<std::uint16_t, Template> templates;
    std::optional<std::uint32_t> expected_sequence;
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

  std::size_t max_templates_per_source_;
  std::size_t max_sources_;
  std::map<SessionKey, Session> sessions_;
  std::map<std::string, std::size_t, std::less<>> templates_per_source_;
  DecoderCounters counters_;
};

}  // namespace tapflow::exporter
