#include "exporter/anonymize/anonymizer.h"

#include <charconv>

#include <fmt/format.h>

namespace tapflow::exporter {

namespace {

bool parse_bits(std::string_view text, int max, int& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= 0 && out <= max;
}

// Zeroes the low `bits` of a `width`-bit address stored big-endian from a[0].
void zero_low_bits(std::array<std::uint8_t, 16>& a, int width, int bits) {
  for (int bit = width - bits; bit < width; ++bit) {
    a[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
}

void anonymize_address(const AnonymizeSpec& spec, bool ipv6, std::array<std::uint8_t, 16>& a) {
  if (ipv6) {
    if (spec.ipv6_bits == 0 || a[0] == 0xff) return;  // ff00::/8 multicast
    zero_low_bits(a, 128, spec.ipv6_bits);
    return;
  }
  if (spec.ipv4_bits == 0) return;
  if ((a[0] & 0xf0) == 0xe0) return;  // 224.0.0.0/4 multicast
  if (a[0] == 0xff && a[1] == 0xff && a[2] == 0xff && a[3] == 0xff) return;  // limited broadcast
  zero_low_bits(a, 32, spec.ipv4_bits);
}

}  // namespace

std::string AnonymizeSpec::to_string() const {
  if (!active()) return "none";
  if (ipv6_bits == 0) return fmt::format("mask:{}", ipv4_bits);
  if (ipv4_bits == 0) return fmt::format("v6:{}", ipv6_bits);
  return fmt::format("mask:{},v6:{}", ipv4_bits, ipv6_bits);
}

std::optional<AnonymizeSpec> parse_anonymize(std::string_view text, std::string& error) {
  AnonymizeSpec spec;
  if (text == "none") return spec;
  const auto bad = [&error, text](const std::string& why) {
    error = "'" + std::string(text) + "': " + why + " (expected mask:N[,v6:M] or v6:M: the low N bits of IPv4 "
            "addresses, M of IPv6, zeroed; none to turn it off)";
    return std::nullopt;
  };
  while (!text.empty()) {
    const auto comma = text.find_first_of(",+");  // '+' inside URLs, where ',' separates group members
    const std::string_view part = text.substr(0, comma);
    if (part.starts_with("mask:")) {
      if (!parse_bits(part.substr(5), 32, spec.ipv4_bits)) return bad("IPv4 bits must be 0 to 32");
    } else if (part.starts_with("v6:")) {
      if (!parse_bits(part.substr(3), 128, spec.ipv6_bits)) return bad("IPv6 bits must be 0 to 128");
    } else {
      return bad("unknown method '" + std::string(part) + "'");
    }
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return spec;
}

void anonymize(const AnonymizeSpec& spec, cache::FlowRecord& r) {
  const bool ipv6 = r.key.is_ipv6();
  anonymize_address(spec, ipv6, r.key.source_address);
  anonymize_address(spec, ipv6, r.key.destination_address);
}

AnonymizingExporter::AnonymizingExporter(AnonymizeSpec spec, std::unique_ptr<FlowExporter> inner)
    : spec_(spec), inner_(std::move(inner)) {}

void AnonymizingExporter::export_records(std::span<const cache::FlowRecord> records) {
  scratch_.assign(records.begin(), records.end());
  for (auto& r : scratch_) anonymize(spec_, r);
  inner_->export_records(scratch_);
}

}  // namespace tapflow::exporter
