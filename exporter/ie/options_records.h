// Options records tapflow sends beside its flow records: the packet sampling it applies (v9
// SAMPLING_INTERVAL/ALGORITHM; IPFIX RFC 5476 selector IEs) and the reliability statistics of
// RFC 7011 §4.2/§4.3. Fixed layouts described as (IE id, length) lists so the v9 and IPFIX
// encoders write templates and records from the same description. No allocation, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "exporter/ie/byte_order.h"
#include "exporter/exporter.h"
#include "exporter/ie/information_elements.h"

namespace tapflow::exporter {

struct OptionsField {
  std::uint16_t id;
  std::uint16_t length;
};

struct OptionsLayout {
  std::uint16_t template_id;
  std::uint16_t scope_count;  // the first scope_count fields are scope fields
  std::span<const OptionsField> fields;

  std::size_t record_length() const {
    std::size_t n = 0;
    for (const auto& f : fields) n += f.length;
    return n;
  }
};

// Writes one options record: each value in the low `length` octets of its field, network order.
inline void write_options_record(std::span<const OptionsField> fields,
                                 std::span<const std::uint64_t> values, std::uint8_t* out) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::uint64_t value = values[i];
    for (int b = fields[i].length - 1; b >= 0; --b) {
      out[b] = static_cast<std::uint8_t>(value);
      value >>= 8;
    }
    out += fields[i].length;
  }
}

// What the exporter knows about its own reliability when it (re)sends templates or closes
// (RFC 7011 §4.2 Metering Process and §4.3 Exporting Process Reliability Statistics).
struct ReliabilityStatistics {
  std::uint64_t exported_messages = 0;  // messages sent before this one
  std::uint64_t exported_records = 0;   // flow records sent before this one
  std::uint64_t exported_octets = 0;    // octets of those messages
  std::uint64_t not_sent_flows = 0;     // flows accounted but not delivered (failed sends,
  std::uint64_t not_sent_packets = 0;   // unexportable), with their packets and octets
  std::uint64_t not_sent_octets = 0;
  ProbeTotals ignored;                  // packets seen but in no flow
  // tapflow does not time each drop: the observation times bound the interval the totals cover,
  // from the system start to this message.
  std::uint64_t since_ms = 0;
  std::uint64_t until_ms = 0;
};

// RFC 3954 §6.1 option scope type 1 = System (the source id); RFC 3954 SAMPLING_ALGORITHM values.
inline constexpr std::uint16_t kV9ScopeSystem = 1;
inline constexpr std::uint8_t kV9AlgorithmDeterministic = 1;
inline constexpr std::uint8_t kV9AlgorithmRandom = 2;
// RFC 5475 / IANA selectorAlgorithm values.
inline constexpr std::uint16_t kSelectorSystematicCountBased = 1;
inline constexpr std::uint16_t kSelectorRandomNOutOfN = 3;

}  // namespace tapflow::exporter
