// NetFlow v9 (RFC 3954) message builder: the same flow records as IPFIX, laid out by the v9
// templates of information_elements.h (FIRST/LAST_SWITCHED relative to the system start), with
// the template FlowSet first when asked and, when sampling is announced, an options template and
// record carrying SAMPLING_INTERVAL (34) and SAMPLING_ALGORITHM (35) scoped to the System (the
// source id), which nfdump and pmacct apply to every record of the source.
// Rules of RFC 3954 §5.1: the header Count is every record of the packet (templates, options
// templates, options and data records); the sequence number counts export packets sent before
// this one; every FlowSet is padded to a 4-octet boundary.
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

class NetflowV9Encoder {
 public:
  static constexpr std::uint16_t kVersion = 9;
  static constexpr std::size_t kHeaderSize = 20;  // RFC 3954 §5.1
  static constexpr std::size_t kFlowSetHeaderSize = 4;
  static constexpr std::uint16_t kTemplateFlowSetId = 0;
  static constexpr std::uint16_t kOptionsTemplateFlowSetId = 1;
  static constexpr std::uint16_t kIpv4TemplateId = 256;
  static constexpr std::uint16_t kIpv6TemplateId = 257;
  static constexpr std::uint16_t kSamplingTemplateId = 258;
  static constexpr std::size_t kMaxMessageSize = 65535;

  enum class AddResult : std::uint8_t { kAdded, kMessageFull, kUnexportable };

  // Throws std::invalid_argument when `max_message_size` cannot hold a packet with the templates,
  // the options record and one record of each family, or when the sampling interval is 0.
  // `fields`: what the templates carry beyond the defaults (AS numbers and prefix lengths for a
  // --prefixes stage, layer2SegmentId for --decap, --fields); v9 has no reverse elements, so a
  // --biflow run sends v9 destinations uniflows (exporter.h).
  NetflowV9Encoder(std::uint32_t source_id, std::size_t max_message_size, cache::SamplingConfig sampling = {},
                   const TemplateSpec& fields = {});

  // Starts a packet at `export_ns` (the export clock, ns since the epoch). The header's unix_secs
  // is that time, or the latest LAST_SWITCHED in the packet if later, rounded up to a whole
  // second, and sysUpTime the ms from the system start to that second: so a collector computing
  // unix_secs * 1000 - sysUpTime finds the system start exactly, and no record ends after the
  // header's sysUpTime (which a collector would read as 49.7 days earlier).
  void begin_message(bool with_templates, std::uint64_t export_ns, std::uint64_t system_start_ns);
  bool in_message() const { return in_message_; }
  bool has_templates() const { return has_templates_; }
  std::uint32_t records_in_message() const { return records_in_message_; }
  std::uint32_t options_records_in_message() const { return options_records_in_message_; }

  AddResult add_record(const cache::FlowRecord& record);

  // Pads the open FlowSet and fills in the header; the view is valid until the next
  // begin_message().
  std::span<const std::uint8_t> finish_message();
  // Abandons the open message: nothing numbered, nothing to send.
  void discard_message() { in_message_ = false; }

  // The sequence number the next packet will carry.
  std::uint32_t sequence_number() const { return sequence_number_; }

 private:
  struct Template {
    std::uint16_t id;
    std::vector<const InformationElement*> fields;
    std::size_t record_length;
  };

  void close_flowset();
  void pad();

  std::uint32_t source_id_;
  std::size_t max_message_size_;
  cache::SamplingConfig sampling_;
  Template templates_[2];
  std::vector<std::uint8_t> buffer_;
  std::size_t used_ = 0;
  std::size_t open_flowset_offset_ = 0;  // 0 = none open
  std::uint16_t open_flowset_id_ = 0;
  bool in_message_ = false;
  bool has_templates_ = false;
  std::uint32_t records_in_message_ = 0;
  std::uint32_t options_records_in_message_ = 0;
  std::uint32_t template_records_in_message_ = 0;
  std::uint64_t export_ns_ = 0;
  std::uint64_t latest_ns_ = 0;  // the latest last-packet time of the records in the message
  WriteContext context_;
  std::uint32_t sequence_number_ = 0;
};

}  // namespace tapflow::exporter
