// libFuzzer target for the collector's export message decoder (exporter/message_decoder.h), the
// code behind `tapflow collect`. The input is cut into messages by their version so templates
// learned from one message are used by the next: IPFIX the way an RFC 5655 file is (the 2-octet
// length at offset 2), NetFlow v5 by its count (24 + 48 * count), NetFlow v9 (no length field)
// FlowSet by FlowSet up to the next v9 header (FlowSet id 9 is reserved, so it marks one); every
// decoded record and options record is also formatted as text, as the collector prints it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "exporter/decoded_record.h"
#include "exporter/message_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Small bounds so the template and source limits are reachable within one input.
  tapflow::exporter::MessageDecoder decoder(16, 2);
  std::vector<tapflow::exporter::DecodedRecord> records;
  std::size_t offset = 0;
  while (offset < size) {
    std::size_t length = size - offset;
    const std::uint8_t* m = data + offset;
    const std::size_t version = length >= 2 ? (std::size_t{m[0]} << 8) | m[1] : 0;
    if (length >= 4 && version == 5) {
      length = std::min(length, 24 + 48 * ((std::size_t{m[2]} << 8) | m[3]));
    } else if (length >= 20 && version == 9) {
      std::size_t end = 20;
      while (size - offset - end >= 4) {
        const std::size_t id = (std::size_t{m[end]} << 8) | m[end + 1];
        const std::size_t set_length = (std::size_t{m[end + 2]} << 8) | m[end + 3];
        if (id == 9 || set_length < 4) break;
        end = std::min(end + set_length, size - offset);
      }
      length = end;
    } else if (length >= 4) {
      const std::size_t declared = (std::size_t{m[2]} << 8) | m[3];
      // A declared length of 0..3 would not advance; take the rest then (a malformed message).
      if (declared >= 4) length = std::min(length, declared);
    }
    // Alternate sources so per-source state and the source limit are exercised.
    const char* source = (offset / 7) % 3 == 0 ? "a" : ((offset / 7) % 3 == 1 ? "b" : "c");
    records.clear();
    const auto summary = decoder.decode(std::span(data + offset, length), source, records);
    for (const auto& record : records) (void)tapflow::exporter::format_record(record);
    for (const auto& options : summary.options) {
      (void)tapflow::exporter::format_options_record(options);
    }
    offset += length;
  }
  return 0;
}
