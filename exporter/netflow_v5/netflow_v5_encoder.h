// NetFlow v5 datagram builder (Cisco's fixed format, as flow-tools' ftpdu_v5/ftrec_v5 lay it
// out): a 24-octet header and up to 30 records of 48 octets. IPv4 only: other records are
// reported unexportable. Counters are 32 bits: a flow above 2^32 - 1 packets or octets is split
// into several records whose counters add up to the flow's (nothing is lost; Cisco clamps).
// flow_sequence counts the records sent before this datagram; First/Last are sysUpTime ms of the
// flow's first and last packet. Never allocates after construction, never throws on the data path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "cache/flow_record.h"
#include "exporter/exporter.h"

namespace tapflow::exporter {

class NetflowV5Encoder {
 public:
  static constexpr std::uint16_t kVersion = 5;
  static constexpr std::size_t kHeaderSize = 24;
  static constexpr std::size_t kRecordSize = 48;
  static constexpr std::size_t kMaxRecords = 30;  // Cisco's limit; collectors reject more
  static constexpr std::uint32_t kMaxSamplingInterval = 0x3fff;  // 14 bits
  static constexpr std::uint32_t kMaxCounter = 0xffffffff;

  enum class AddResult : std::uint8_t { kAdded, kMessageFull, kUnexportable };

  // Throws std::invalid_argument when `max_message_size` cannot hold one record or when the
  // sampling interval does not fit the header's 14 bits (or is 0).
  NetflowV5Encoder(std::uint8_t engine_type, std::uint8_t engine_id, std::size_t max_message_size,
                   cache::SamplingConfig sampling = {});

  // Starts a datagram at `export_ns`: unix_secs/unix_nsecs are the export clock, sysUpTime the ms
  // from the system start to it.
  void begin_message(std::uint64_t export_ns, std::uint64_t system_start_ns);
  bool in_message() const { return in_message_; }
  std::uint32_t records_in_message() const { return records_in_message_; }

  // Adds the flow as one record, or several when a counter exceeds 32 bits (all in this
  // datagram, or kMessageFull and nothing added).
  AddResult add_record(const cache::FlowRecord& record);

  std::span<const std::uint8_t> finish_message();
  // Abandons the open message: nothing numbered, nothing to send.
  void discard_message() { in_message_ = false; }

  // flow_sequence of the next datagram.
  std::uint32_t flow_sequence() const { return flow_sequence_; }
  std::size_t max_records() const { return max_records_; }
  std::uint64_t split_flows() const { return split_flows_; }
  std::uint64_t clamped_records() const { return clamped_records_; }

 private:
  std::uint8_t engine_type_;
  std::uint8_t engine_id_;
  std::uint16_t sampling_field_;
  std::size_t max_records_;
  std::vector<std::uint8_t> buffer_;
  bool in_message_ = false;
  std::uint32_t records_in_message_ = 0;
  std::uint64_t system_start_ms_ = 0;
  std::uint64_t export_ns_ = 0;
  std::uint64_t latest_ns_ = 0;  // the latest Last of the records in the datagram
  std::uint32_t flow_sequence_ = 0;
  std::uint64_t split_flows_ = 0;
  std::uint64_t clamped_records_ = 0;
};

}  // namespace tapflow::exporter
