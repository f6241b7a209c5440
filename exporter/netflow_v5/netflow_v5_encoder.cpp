#include "exporter/netflow_v5/netflow_v5_encoder.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "exporter/ie/byte_order.h"
#include "exporter/ie/information_elements.h"

namespace tapflow::exporter {

namespace {
constexpr std::uint64_t kNsPerMs = 1'000'000;
// RFC 6793 §9: AS_TRANS stands for a 4-octet AS in a 2-octet field.
constexpr std::uint16_t as16(std::uint32_t as) { return as > 0xffff ? 23456 : static_cast<std::uint16_t>(as); }
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
// Header sampling_interval: 2-bit mode (1 deterministic, 2 random), 14-bit interval.
constexpr std::uint16_t kModeDeterministic = 1;
constexpr std::uint16_t kModeRandom = 2;

std::uint64_t pieces_for(std::uint64_t counter) {
  return counter == 0 ? 1 : (counter - 1) / NetflowV5Encoder::kMaxCounter + 1;
}
}  // namespace

NetflowV5Encoder::NetflowV5Encoder(std::uint8_t engine_type, std::uint8_t engine_id,
                                   std::size_t max_message_size, cache::SamplingConfig sampling)
    : engine_type_(engine_type), engine_id_(engine_id), sampling_field_(0) {
  if (sampling.mode != cache::SamplingMode::kNone) {
    if (sampling.interval == 0 || sampling.interval > kMaxSamplingInterval) {
      throw std::invalid_argument(
          "NetFlow v5 carries a sampling interval of 1 to 16383 (14 bits); got " +
          std::to_string(sampling.interval) + ": use NetFlow v9 or IPFIX for larger intervals");
    }
    const std::uint16_t mode =
        sampling.mode == cache::SamplingMode::kRandom ? kModeRandom : kModeDeterministic;
    sampling_field_ = static_cast<std::uint16_t>(mode << 14 | sampling.interval);
  }
  max_records_ = max_message_size < kHeaderSize ? 0 : (max_message_size - kHeaderSize) / kRecordSize;
  max_records_ = std::min(max_records_, kMaxRecords);
  if (max_records_ == 0) {
    throw std::invalid_argument("NetFlow v5 datagrams of " + std::to_string(max_message_size) +
                                " octets cannot hold a record; need at least " +
                                std::to_string(kHeaderSize + kRecordSize) + " (raise the MTU)");
  }
  buffer_.resize(kHeaderSize + max_records_ * kRecordSize);
}

void NetflowV5Encoder::begin_message(std::uint64_t export_ns, std::uint64_t system_start_ns) {
  in_message_ = true;
  records_in_message_ = 0;
  export_ns_ = export_ns;
  latest_ns_ = 0;
  system_start_ms_ = system_start_ns / kNsPerMs;
}

NetflowV5Encoder::AddResult NetflowV5Encoder::add_record(const cache::FlowRecord& record) {
  if (record.key.ip_version != 4) return AddResult::kUnexportable;
  std::uint64_t pieces = std::max(pieces_for(record.packets), pieces_for(record.octets));
  bool clamped = false;
  if (pieces > max_records_) {
    // Beyond 30 * (2^32 - 1): no datagram can carry it whole; the rest is clamped away.
    pieces = max_records_;
    clamped = true;
  }
  if (records_in_message_ + pieces > max_records_) return AddResult::kMessageFull;
  if (pieces > 1) ++split_flows_;

  const std::uint32_t first = sys_uptime_ms(record.first_ns, system_start_ms_);
  const std::uint32_t last = sys_uptime_ms(record.last_ns, system_start_ms_);
  std::uint16_t input = static_cast<std::uint16_t>(record.key.ingress_interface);
  if (record.key.ingress_interface > 0xffff) {
    input = 0xffff;
    clamped = true;
  }
  if (clamped) ++clamped_records_;
  for (std::uint64_t i = 0; i < pieces; ++i) {
    // Even shares, the remainder spread over the first pieces: each fits 32 bits and they add
    // up to the flow's counters.
    auto share = [&](std::uint64_t total) {
      const std::uint64_t value = total / pieces + (i < total % pieces ? 1 : 0);
      return static_cast<std::uint32_t>(std::min<std::uint64_t>(value, kMaxCounter));
    };
    std::uint8_t* r = buffer_.data() + kHeaderSize + records_in_message_ * kRecordSize;
    std::memset(r, 0, kRecordSize);
    std::memcpy(r, record.key.source_address.data(), 4);        // srcaddr
    std::memcpy(r + 4, record.key.destination_address.data(), 4);  // dstaddr
    // nexthop (r + 8) and output are unknown to a probe: 0. AS numbers and masks come from a
    // --prefixes stage (0 without); a 4-octet AS is AS_TRANS 23456 in v5's two (RFC 6793 §9).
    put_u16(r + 12, input);
    put_u32(r + 16, share(record.packets));  // dPkts
    put_u32(r + 20, share(record.octets));   // dOctets
    put_u32(r + 24, first);                  // First
    put_u32(r + 28, last);                   // Last
    put_u16(r + 32, record.key.source_port);
    put_u16(r + 34, record.key.destination_port);  // ICMP: type * 256 + code
    put_u8(r + 37, record.tcp_flags);
    put_u8(r + 38, record.key.protocol);
    put_u8(r + 39, record.key.tos);
    put_u16(r + 40, as16(record.source_as));
    put_u16(r + 42, as16(record.destination_as));
    put_u8(r + 44, record.source_prefix_length);
    put_u8(r + 45, record.destination_prefix_length);
    ++records_in_message_;
  }
  latest_ns_ = std::max(latest_ns_, record.last_ns);
  return AddResult::kAdded;
}

std::span<const std::uint8_t> NetflowV5Encoder::finish_message() {
  std::uint8_t* h = buffer_.data();
  put_u16(h, kVersion);
  put_u16(h + 2, static_cast<std::uint16_t>(records_in_message_));
  // Never before the last packet of a record in it: a Last after sysUpTime would read as 49.7
  // days earlier at the collector.
  const std::uint64_t header_ns = std::max(export_ns_, latest_ns_);
  put_u32(h + 4, sys_uptime_ms(header_ns, system_start_ms_));
  put_u32(h + 8, static_cast<std::uint32_t>(header_ns / kNsPerSecond));
  put_u32(h + 12, static_cast<std::uint32_t>(header_ns % kNsPerSecond));
  put_u32(h + 16, flow_sequence_);
  put_u8(h + 20, engine_type_);
  put_u8(h + 21, engine_id_);
  put_u16(h + 22, sampling_field_);
  flow_sequence_ += records_in_message_;
  in_message_ = false;
  return {buffer_.data(), kHeaderSize + records_in_message_ * kRecordSize};
}

}  // namespace tapflow::exporter
