#include "probe/record_choice.h"

#include <fmt/format.h>

#include <cstddef>

#include "probe/decode/decoder.h"

namespace tapflow::probe {

namespace {

using exporter::find_information_element;
namespace ie = exporter::ie;

// A default key field: its names and what leaving it out drops.
struct DefaultKeyField {
  std::string_view names[3];  // IANA names (one per family where they differ), then an alias
  std::uint8_t drop;          // KeyDrops bit; 0: cannot be left out
  std::uint16_t ids[2];       // the template rows it drops (enterprise 0)
};
constexpr DefaultKeyField kDefaultKey[] = {
    {{"sourceIPv4Address", "sourceIPv6Address", "src"}, kDropSourceAddress,
     {ie::kSourceIpv4Address, ie::kSourceIpv6Address}},
    {{"destinationIPv4Address", "destinationIPv6Address", "dst"}, kDropDestinationAddress,
     {ie::kDestinationIpv4Address, ie::kDestinationIpv6Address}},
    {{"sourceTransportPort", "sourceTransportPort", "sport"}, kDropSourcePort, {ie::kSourceTransportPort, 0}},
    {{"destinationTransportPort", "destinationTransportPort", "dport"}, kDropDestinationPort,
     {ie::kDestinationTransportPort, 0}},
    {{"protocolIdentifier", "protocolIdentifier", "proto"}, 0, {ie::kProtocolIdentifier, 0}},
    {{"ipClassOfService", "ipClassOfService", "tos"}, kDropTos, {ie::kIpClassOfService, 0}},
    {{"ingressInterface", "ingressInterface", "in-if"}, kDropIngressInterface, {ie::kIngressInterface, 0}},
};

// An extra key field: the PacketExtras bytes it covers.
struct ExtraKeyField {
  std::uint16_t id;
  std::size_t offset, size;
};
constexpr ExtraKeyField kExtraKey[] = {
    {ie::kSourceMacAddress, offsetof(cache::PacketExtras, source_mac), 6},
    {ie::kDestinationMacAddress, offsetof(cache::PacketExtras, destination_mac), 6},
    {ie::kVlanId, offsetof(cache::PacketExtras, vlan_id), 2},
    {ie::kDot1qCustomerVlanId, offsetof(cache::PacketExtras, inner_vlan_id), 2},
    {ie::kMplsTopLabelStackSection, offsetof(cache::PacketExtras, mpls_top_label), 4},
    {ie::kFlowLabelIpv6, offsetof(cache::PacketExtras, flow_label), 4},
};

}  // namespace

bool RecordChoice::needs_extras() const {
  // ICMP type/code come from the key: no extras needed for them alone.
  const auto elements = exporter::information_elements();
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (!chosen.test(i)) continue;
    if (elements[i].id == ie::kIcmpType || elements[i].id == ie::kIcmpTypeCodeIpv6) continue;
    return true;
  }
  return false;
}

std::string key_field_names() {
  std::string names = "default";
  for (const auto& f : kDefaultKey) {
    names += fmt::format(", {}", f.names[0]);
    if (f.names[1] != f.names[0]) names += fmt::format("/{}", f.names[1]);
    names += fmt::format(" ({})", f.names[2]);
  }
  const auto elements = exporter::information_elements();
  for (const auto& f : kExtraKey) {
    const auto& e = elements[static_cast<std::size_t>(find_information_element(f.id))];
    names += fmt::format(", {} ({})", e.name, e.alias);
  }
  return names;
}

bool parse_key(std::string_view list, RecordChoice& choice, std::string& error) {
  std::uint8_t kept = 0;  // KeyDrops bits of the default fields named
  bool protocol = false;
  std::array<std::uint8_t, cache::kExtraKeyBytes> mask{};
  exporter::ElementSet chosen;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (name.empty()) continue;
    if (name == "default") {
      kept = 0xff;
      protocol = true;
      continue;
    }
    bool found = false;
    for (const auto& f : kDefaultKey) {
      for (const auto n : f.names) {
        if (!exporter::equals_ignoring_case(n, name)) continue;
        found = true;
        if (f.drop == 0) protocol = true;
        kept |= f.drop;
      }
    }
    for (const auto& f : kExtraKey) {
      const int index = find_information_element(f.id);
      const auto& e = exporter::information_elements()[static_cast<std::size_t>(index)];
      if (!exporter::names_element(e, name)) continue;
      found = true;
      for (std::size_t i = 0; i < f.size; ++i) mask[f.offset + i] = 0xff;
      chosen.set(static_cast<std::size_t>(index));
    }
    if (!found) {
      error = fmt::format("unknown key field '{}'; --key takes: {}", name, key_field_names());
      return false;
    }
  }
  if (!protocol) {
    error = "--key must include protocolIdentifier (proto): flows of different protocols never merge";
    return false;
  }
  choice.key_drops = 0;
  choice.dropped.reset();
  for (const auto& f : kDefaultKey) {
    if (f.drop == 0 || (kept & f.drop) != 0) continue;
    choice.key_drops |= f.drop;
    for (const auto id : f.ids) {
      if (id == 0) continue;
      choice.dropped.set(static_cast<std::size_t>(find_information_element(id)));
      // tcpControlBits and friends have a second row per format; the key rows have one.
    }
  }
  choice.extra_key_mask = mask;
  choice.chosen |= chosen;
  return true;
}

}  // namespace tapflow::probe
