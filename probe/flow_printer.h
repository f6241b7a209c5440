// Prints flow records as a text table on stdout: tapflow's output when no collector is given.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

#include "cache/flow_record.h"

namespace tapflow::probe {

// "192.0.2.1" or "2001:db8::1" for the address bytes of a key.
std::string format_address(const std::array<std::uint8_t, 16>& address, bool ipv6);
// TCP flags as nfdump shows them: "CEUAPRSF" with '.' for clear bits.
std::string format_tcp_flags(std::uint8_t flags);

class FlowPrinter {
 public:
  explicit FlowPrinter(std::FILE* out) : out_(out) {}
  void print(std::span<const cache::FlowRecord> records);
  std::uint64_t records_printed() const { return printed_; }
  // Records that could not be written (the output failed; see the log line).
  std::uint64_t records_not_printed() const { return not_printed_; }

 private:
  void print_rows(std::span<const cache::FlowRecord> records);

  std::FILE* out_;
  bool header_printed_ = false;
  std::uint64_t printed_ = 0;
  std::uint64_t not_printed_ = 0;
  bool failed_ = false;
};

}  // namespace tapflow::probe
