// What the collector's decoder makes of one data record: the flow record fields tapflow knows
// (see information_elements.h), which of them the record carried, and the raw bytes of the fields
// it does not know (other IEs, enterprise-specific ones, variable-length ones).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache/flow_record.h"

namespace tapflow::exporter {

struct UnknownField {
  std::uint32_t enterprise_number = 0;  // 0 = IANA
  std::uint16_t id = 0;
  std::vector<std::uint8_t> value;
};

struct DecodedRecord {
  cache::FlowRecord flow;
  // Bit i set = information_elements()[i] was present and read into `flow`.
  std::uint64_t fields = 0;
  std::uint16_t version = 0;
  std::uint32_t observation_domain_id = 0;
  std::uint16_t template_id = 0;
  std::uint32_t export_time_s = 0;
  std::vector<UnknownField> unknown_fields;

  // True when the record carried the enterprise-0 element `ie_id` and tapflow read it.
  bool has(std::uint16_t ie_id) const;
};

// One line of text: times (UTC, ms), protocol, addresses and ports, packets, bytes, then the
// optional fields the record carried (TCP flags, ToS, TTLs, interface, end reason).
std::string format_record(const DecodedRecord& record);

}  // namespace tapflow::exporter
