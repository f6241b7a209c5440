// libFuzzer target for the collector's export message decoder (exporter/message_decoder.h), the
// code behind `tapflow collect`. The input is cut into messages the way an IPFIX file is (RFC
// 5655: the 2-octet length at offset 2), so templates learned from one message are used by the
// next; every decoded record is also formatted as text, as the collector prints it.
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
    if (length >= 4) {
      const std::size_t declared = (std::size_t{data[offset + 2]} << 8) | data[offset + 3];
      // A declared length of 0..3 would not advance; take the rest then (a malformed message).
      if (declared >= 4) length = std::min(length, declared);
    }
    // Alternate sources so per-source state and the source limit are exercised.
    const char* source = (offset / 7) % 3 == 0 ? "a" : ((offset / 7) % 3 == 1 ? "b" : "c");
    records.clear();
    decoder.decode(std::span(data + offset, length), source, records);
    for (const auto& record : records) (void)tapflow::exporter::format_record(record);
    offset += length;
  }
  return 0;
}
