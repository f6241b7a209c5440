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

// Multicast and broadcast name no host: every method keeps them.
bool names_a_host(bool ipv6, const std::array<std::uint8_t, 16>& a) {
  if (ipv6) return a[0] != 0xff;  // ff00::/8 multicast
  if ((a[0] & 0xf0) == 0xe0) return false;  // 224.0.0.0/4 multicast
  return !(a[0] == 0xff && a[1] == 0xff && a[2] == 0xff && a[3] == 0xff);  // limited broadcast
}

}  // namespace

Anonymizer::Anonymizer(const AnonymizeSpec& spec)
    : spec_(spec), crypto_pan_(spec.cryptopan ? std::make_unique<CryptoPan>(spec.crypto_pan_key) : nullptr) {}

void Anonymizer::apply(bool ipv6, std::array<std::uint8_t, 16>& a) {
  if (!names_a_host(ipv6, a)) return;
  if (crypto_pan_) {
    if (ipv6) {
      crypto_pan_->anonymize_ipv6(a.data());
    } else {
      crypto_pan_->anonymize_ipv4(a.data());
    }
    return;
  }
  if (ipv6) {
    if (spec_.ipv6_bits != 0) zero_low_bits(a, 128, spec_.ipv6_bits);
  } else if (spec_.ipv4_bits != 0) {
    zero_low_bits(a, 32, spec_.ipv4_bits);
  }
}

void Anonymizer::apply(cache::FlowRecord& r) {
  const bool ipv6 = r.key.is_ipv6();
  apply(ipv6, r.key.source_address);
  apply(ipv6, r.key.destination_address);
  // --decap --fields tunnelSourceAddress: the outer addresses name hosts too.
  if (const std::uint8_t version = r.extras.first.tunnel_ip_version; version != 0) {
    apply(version == 6, r.extras.first.tunnel_source);
    apply(version == 6, r.extras.first.tunnel_destination);
  }
}

std::string AnonymizeSpec::to_string() const {
  if (!active()) return "none";
  if (cryptopan) return "cryptopan:" + key_path;
  if (ipv6_bits == 0) return fmt::format("mask:{}", ipv4_bits);
  if (ipv4_bits == 0) return fmt::format("v6:{}", ipv6_bits);
  return fmt::format("mask:{},v6:{}", ipv4_bits, ipv6_bits);
}

std::optional<AnonymizeSpec> parse_anonymize(std::string_view text, std::string& error) {
  AnonymizeSpec spec;
  if (text == "none") return spec;
  const auto bad = [&error, text](const std::string& why) {
    error = "'" + std::string(text) + "': " + why + " (expected mask:N[,v6:M] or v6:M: the low N bits of IPv4 "
            "addresses, M of IPv6, zeroed; cryptopan:KEYFILE: prefix-preserving under a 32-byte key; none to "
            "turn it off)";
    return std::nullopt;
  };
  if (text.starts_with("cryptopan:")) {  // the rest is the path, commas and all
    spec.key_path = std::string(text.substr(10));
    if (spec.key_path.empty()) return bad("cryptopan: needs a key file");
    std::string why;
    const auto key = load_crypto_pan_key(spec.key_path, why);
    if (!key) {
      error = why;
      return std::nullopt;
    }
    spec.cryptopan = true;
    spec.crypto_pan_key = *key;
    return spec;
  }
  while (!text.empty()) {
    const auto comma = text.find_first_of(",+");  // '+' inside URLs, where ',' separates group members
    const std::string_view part = text.substr(0, comma);
    if (part.starts_with("mask:")) {
      if (!parse_bits(part.substr(5), 32, spec.ipv4_bits)) return bad("IPv4 bits must be 0 to 32");
    } else if (part.starts_with("v6:")) {
      if (!parse_bits(part.substr(3), 128, spec.ipv6_bits)) return bad("IPv6 bits must be 0 to 128");
    } else if (part.starts_with("cryptopan:")) {
      return bad("cryptopan: goes alone (it maps every bit of the address)");
    } else {
      return bad("unknown method '" + std::string(part) + "'");
    }
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return spec;
}

AnonymizingExporter::AnonymizingExporter(const AnonymizeSpec& spec, std::unique_ptr<FlowExporter> inner)
    : ForwardingExporter(std::move(inner)), anonymizer_(spec) {}

void AnonymizingExporter::export_records(std::span<const cache::FlowRecord> records) {
  scratch_.assign(records.begin(), records.end());
  for (auto& r : scratch_) anonymizer_.apply(r);
  inner().export_records(scratch_);
}

}  // namespace tapflow::exporter
