// libFuzzer target for the collector's export message decoder (exporter/message_decoder.h), the
// code behind `tapflow collect`. The input is cut into messages by their version so templates
// learned from one message are used by the next: IPFIX the way an RFC 5655 file is (the 2-octet
// length at offset 2), NetFlow v5 by its count (24 + 48 * count), NetFlow v9 (no length field)
// FlowSet by FlowSet up to the next v9 header (FlowSet id 9 is reserved, so it marks one); every
// decoded record and options record is also formatted as text, as the collector prints it.
// The decoder's bounds (DecoderLimits) are small so they are reached within one input, and are
// checked after every message; the clock advances with the input and sources are forgotten as the
// collector forgets them (a connection ends, a UDP source falls silent).
#include <algorithm>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "exporter/decoded_record.h"
#include "exporter/message_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Small bounds so every limit is reachable within one input.
  tapflow::exporter::DecoderLimits limits;
  limits.max_sources = 2;
  limits.max_sessions_per_source = 3;
  limits.max_templates_per_source = 16;
  limits.max_template_bytes_per_source = 2048;
  limits.max_template_bytes = 3072;
  tapflow::exporter::MessageDecoder decoder(limits);
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
    decoder.set_time(offset);
    const auto summary = decoder.decode(std::span(data + offset, length), source, records);
    // Every record carries at least one value octet: a set of zeros under a template of
    // variable-length fields is padding, not a record per octet.
    for (const auto& record : records) {
      if (record.version != 5 && record.fields.none() &&
          std::none_of(record.unknown_fields.begin(), record.unknown_fields.end(),
                       [](const auto& f) { return !f.value.empty(); })) {
        std::abort();
      }
    }
    for (const auto& options : summary.options) {
      if (options.version != 5 &&
          std::none_of(options.values.begin(), options.values.end(), [](const auto& v) { return v.length != 0; })) {
        std::abort();
      }
    }
    if (decoder.source_count() > limits.max_sources ||
        decoder.session_count() > limits.max_sources * limits.max_sessions_per_source ||
        decoder.template_bytes() > limits.max_template_bytes ||
        decoder.template_bytes(source) > limits.max_template_bytes_per_source ||
        decoder.template_count(source) > limits.max_templates_per_source) {
      std::abort();
    }
    // Now and then a connection ends or a source falls silent.
    if (length % 13 == 0) decoder.forget_source(source);
    if (length % 17 == 0) decoder.forget_idle_sources(64);
    for (const auto& record : records) (void)tapflow::exporter::format_record(record);
    for (const auto& options : summary.options) {
      (void)tapflow::exporter::format_options_record(options);
    }
    offset += length;
  }
  return 0;
}
