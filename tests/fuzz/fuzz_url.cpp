// libFuzzer target for the exporter's destination / listen URL parser (exporter/endpoint_url.h).
// Any text: no crash, and an accepted URL is one of the documented forms.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "exporter/transport/endpoint_url.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto url = tapflow::exporter::parse_endpoint_url(text);
  if (!url) return 0;
  using Scheme = tapflow::exporter::EndpointUrl::Scheme;
  if (url->scheme == Scheme::kFile) {
    if (url->path.empty()) __builtin_trap();
    return 0;
  }
  unsigned port = 0;
  const auto* end = url->port.data() + url->port.size();
  const auto [ptr, ec] = std::from_chars(url->port.data(), end, port);
  if (ec != std::errc{} || ptr != end || port > 65535) __builtin_trap();
  if (url->host.find('/') != std::string::npos) __builtin_trap();
  return 0;
}
