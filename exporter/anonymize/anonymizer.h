// The record stage of --anonymize in front of one destination (anonymize_spec.h says what it does).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/flow_record.h"
#include "exporter/anonymize/anonymize_spec.h"
#include "exporter/forwarding_exporter.h"

namespace tapflow::exporter {

// Applies a spec to both addresses of records; keeps the Crypto-PAn cipher and cache, so one per
// thread.
class Anonymizer {
 public:
  explicit Anonymizer(const AnonymizeSpec& spec);
  void apply(cache::FlowRecord& r);
  const CryptoPan* crypto_pan() const { return crypto_pan_.get(); }

 private:
  void apply(bool ipv6, std::array<std::uint8_t, 16>& address);
  AnonymizeSpec spec_;
  std::unique_ptr<CryptoPan> crypto_pan_;
};

// Wraps a destination: its records go through an Anonymizer first (copied; the caller's stay).
class AnonymizingExporter final : public ForwardingExporter {
 public:
  AnonymizingExporter(const AnonymizeSpec& spec, std::unique_ptr<FlowExporter> inner);
  void export_records(std::span<const cache::FlowRecord> records) override;

 private:
  Anonymizer anonymizer_;
  std::vector<cache::FlowRecord> scratch_;  // grows to the largest batch once, then reused
};

}  // namespace tapflow::exporter
