// IPFIX (RFC 7011) message builder: lays flow records out as data records into one reusable
// buffer, with the template set first when asked, and the options templates and records that go
// with it: the reliability statistics (RFC 7011 §4.2, §4.3) and, when sampling is announced, the
// Selection Process (RFC 5476) that the data records reference by selectorId. Knows nothing of
// transports or clocks: the caller decides when templates are due and what the export time is.
// Never allocates after construction and never throws on the data path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "cache/flow_record.h"
#include "exporter/exporter.h"
#include "exporter/ie/information_elements.h"
#include "exporter/ie/options_records.h"

namespace tapflow::exporter {

class IpfixEncoder {
 public:
  static constexpr std::uint16_t kVersion = 10;
  static constexpr std::size_t kHeaderSize = 16;     // RFC 7011 §3.1
  static constexpr std::size_t kSetHeaderSize = 4;   // RFC 7011 §3.3.2
  static constexpr std::uint16_t kTemplateSetId = 2;
  static constexpr std::uint16_t kOptionsTemplateSetId = 3;
  static constexpr std::uint16_t kIpv4TemplateId = 256;
  static constexpr std::uint16_t kIpv6TemplateId = 257;
  static constexpr std::uint16_t kExportingStatisticsTemplateId = 258;  // RFC 7011 §4.3
  static constexpr std::uint16_t kMeteringStatisticsTemplateId = 259;   // RFC 7011 §4.2
  static constexpr std::uint16_t kSamplingTemplateId = 260;             // RFC 5476 §6.5
  // The Length field is 16 bits (RFC 7011 §3.1).
  static constexpr std::size_t kMaxMessageSize = 65535;

  enum class AddResult : std::uint8_t {
    kAdded,
    kMessageFull,    // finish this message and begin another, then add the record again
    kUnexportable,   // neither IPv4 nor IPv6: no template can carry it
  };

  // `max_message_size` is capped at kMaxMessageSize; throws std::invalid_argument when it cannot
  // hold a message with every template, the options records and one record of each family, or
  // when the sampling interval is 0.
  // `fields`: what the templates carry beyond the defaults (AS numbers and prefix lengths for a
  // --prefixes stage, layer2SegmentId for --decap, reverse elements for --biflow, --fields);
  // kSampledFeature is added here when sampling is announced.
  IpfixEncoder(std::uint32_t observation_domain_id, std::size_t max_message_size,
               cache::SamplingConfig sampling = {}, const TemplateSpec& fields = {});

  // Starts a message; with_templates puts the template set (all templates) first, as the data
  // sets that follow may use them (RFC 7011 §8), then the options templates and records: the
  // sampling record when sampling is announced, the reliability statistics when given.
  void begin_message(bool with_templates, const ReliabilityStatistics* statistics = nullptr);
  bool in_message() const { return in_message_; }
  bool has_templates() const { return has_templates_; }
  std::uint32_t records_in_message() const { return records_in_message_; }
  std::uint32_t options_records_in_message() const { return options_records_in_message_; }

  AddResult add_record(const cache::FlowRecord& record);

  // Closes the open set and fills in the header. Export Time is the caller's clock in seconds;
  // the sequence number counts the data records, options data records included, finished before
  // this message (RFC 7011 §3.1, templates not included). The view is valid until the next
  // begin_message().
  std::span<const std::uint8_t> finish_message(std::uint32_t export_time_s);
  // Abandons the open message: nothing numbered, nothing to send.
  void discard_message() { in_message_ = false; }

  // The sequence number the next message will carry.
  std::uint32_t sequence_number() const { return sequence_number_; }
  std::size_t max_message_size() const { return max_message_size_; }

 private:
  struct Template {
    std::uint16_t id;
    std::vector<const InformationElement*> fields;
    std::size_t record_length;
  };

  void close_set();
  void write_template_set();
  void write_options_template_set(bool statistics);  // one set per options template
  void write_options_set(const OptionsLayout& layout, std::span<const std::uint64_t> values);

  std::uint32_t observation_domain_id_;
  std::size_t max_message_size_;
  cache::SamplingConfig sampling_;
  Template templates_[2];
  std::vector<std::uint8_t> buffer_;
  std::size_t used_ = 0;
  std::size_t open_set_offset_ = 0;  // 0 = no data set open (offset 0 is the header)
  std::uint16_t open_set_id_ = 0;
  bool in_message_ = false;
  bool has_templates_ = false;
  std::uint32_t records_in_message_ = 0;
  std::uint32_t options_records_in_message_ = 0;
  std::uint32_t sequence_number_ = 0;
};

}  // namespace tapflow::exporter
