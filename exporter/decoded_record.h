// What the collector's decoder makes of one data record: the flow record fields tapflow knows
// (see information_elements.h), which of them the record carried, and the raw bytes of the fields
// it does not know (other IEs, enterprise-specific ones, variable-length ones).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/flow_record.h"
#include "exporter/ie/information_elements.h"

namespace tapflow::exporter {

struct UnknownField {
  std::uint32_t enterprise_number = 0;  // 0 = IANA
  std::uint16_t id = 0;
  std::vector<std::uint8_t> value;
};

struct DecodedRecord {
  cache::FlowRecord flow;
  // Bit i set = information_elements()[i] was present and read into `flow`.
  ElementSet fields;
  std::uint16_t version = 0;
  std::uint32_t observation_domain_id = 0;
  std::uint16_t template_id = 0;
  std::uint32_t export_time_s = 0;
  std::vector<UnknownField> unknown_fields;

  // True when the record carried element `ie_id` of `enterprise` and tapflow read it.
  bool has(std::uint16_t ie_id, std::uint32_t enterprise = 0) const;
};

// One field of an options record. Values of up to 8 octets are read as unsigned integers.
struct OptionsValue {
  std::uint32_t enterprise_number = 0;
  std::uint16_t id = 0;
  std::uint16_t length = 0;
  bool scope = false;
  std::uint64_t value = 0;  // 0 when longer than 8 octets
};

// A data record of an options template (v9, IPFIX), or the sampling bits of a v5 header shown
// the same way (SAMPLING_INTERVAL 34, SAMPLING_ALGORITHM 35).
struct DecodedOptionsRecord {
  std::uint16_t version = 0;
  std::uint32_t observation_domain_id = 0;
  std::uint16_t template_id = 0;
  std::vector<OptionsValue> values;

  // The `occurrence`-th (0-based) value of the enterprise-0 element `id`, if present.
  std::optional<std::uint64_t> get(std::uint16_t id, int occurrence = 0) const;
};

// One line of text starting "options: ": the sampling a record announces ("options: sampling
// interval 100 algorithm deterministic"), the reliability statistics (RFC 7011 §4.2, §4.3), or
// the raw id=value pairs of other options.
std::string format_options_record(const DecodedOptionsRecord& record);

// One line of text: times (UTC, ms), protocol, addresses and ports, packets, bytes, then the
// optional fields the record carried (TCP flags, ToS, TTLs, interface, tunnel, AS numbers,
// masks, end reason, the reverse direction of a biflow, then each --fields element as
// name=value).
std::string format_record(const DecodedRecord& record);

// What the record carried, as the TemplateSpec an exporter would have used (for record_json):
// routing when it had AS numbers, biflow when it had reverse counters, the optional elements.
TemplateSpec record_spec(const DecodedRecord& record);

}  // namespace tapflow::exporter
