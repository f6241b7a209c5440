// Prints flow records as a text table on stdout: tapflow's output when no collector is given.
#pragma once

#include "exporter/ie/information_elements.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

#include "cache/flow_record.h"
#include "cache/flow_text.h"

namespace tapflow::probe {

// The shared rendering (cache/flow_text.h), as the control socket and the table use it.
using cache::format_address;
using cache::format_tcp_flags;

class FlowPrinter {
 public:
  explicit FlowPrinter(std::FILE* out) : out_(out) {}
  // What rows carry beyond the default columns: the reverse direction (--biflow), then each
  // chosen element (--fields, --key) as name=value, after the end reason.
  void set_fields(const exporter::TemplateSpec& fields) { fields_ = fields; }
  void print(std::span<const cache::FlowRecord> records);
  std::uint64_t records_printed() const { return printed_; }
  // Records that could not be written (the output failed; see the log line).
  std::uint64_t records_not_printed() const { return not_printed_; }

 private:
  void print_rows(std::span<const cache::FlowRecord> records);

  std::FILE* out_;
  exporter::TemplateSpec fields_;
  bool header_printed_ = false;
  std::uint64_t printed_ = 0;
  std::uint64_t not_printed_ = 0;
  bool failed_ = false;
};

}  // namespace tapflow::probe
