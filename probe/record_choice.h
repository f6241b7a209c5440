// --key, --fields and --biflow: what a flow is keyed on and what its record carries beyond the
// defaults (Cisco Flexible NetFlow's "match" and "collect"), parsed once from the options and
// turned into the decode stage's options, the flow table's configuration and the templates'
// contents (runtime_config.cpp), so a run's three stages always agree.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/packet_summary.h"
#include "exporter/ie/information_elements.h"

namespace tapflow::probe {

struct RecordChoice {
  // --key: the default 7-tuple fields left out (KeyDrops bits), and the PacketExtras key bytes
  // added (cache::FlowTableConfig::extra_key_mask).
  std::uint8_t key_drops = 0;
  std::array<std::uint8_t, cache::kExtraKeyBytes> extra_key_mask{};
  // Optional elements the templates carry: --fields, plus the added key fields.
  exporter::ElementSet chosen;
  // Default elements left out of the templates: the dropped key fields.
  exporter::ElementSet dropped;
  bool biflow = false;

  // Whether the decoder must fill a PacketExtras per packet (and the table keep one per flow).
  bool needs_extras() const;
  // The --key list back as text, for the start-up line ("" for the default key).
  std::string key_text;
};

// --key LIST: the flow key's fields, a comma list of IANA names or aliases: the default ones
// (sourceIPv4Address/sourceIPv6Address or src, destination... or dst, sourceTransportPort or
// sport, destinationTransportPort or dport, protocolIdentifier or proto, ipClassOfService or
// tos, ingressInterface or in-if; "default" for all seven) and the extra ones (vlanId,
// dot1qCustomerVlanId, sourceMacAddress, destinationMacAddress, mplsTopLabelStackSection,
// flowLabelIPv6). The protocol is always part of the key. Sets key_drops, extra_key_mask,
// dropped, and chosen for the extra fields; `error` says what is wrong.
bool parse_key(std::string_view list, RecordChoice& choice, std::string& error);

// The names --key accepts, for --help and errors.
std::string key_field_names();

}  // namespace tapflow::probe
