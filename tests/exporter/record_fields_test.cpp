// The information-element registry's run-time templates: --fields elements, dropped key fields
// and RFC 5103 reverse elements (enterprise 29305) through the v9 and IPFIX encoders and back
// through the collector's decoder; field-list parsing; the generic renderings (text, JSON); and
// the split of a biflow into uniflows for v5/v9 destinations.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "exporter/biflow/uniflow_exporter.h"
#include "exporter/decoded_record.h"
#include "exporter/ie/information_elements.h"
#include "exporter/ipfix/ipfix_encoder.h"
#include "exporter/json/json_lines_exporter.h"
#include "exporter/message_decoder.h"
#include "exporter/netflow_v9/netflow_v9_encoder.h"

namespace tapflow::exporter {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kStart = 1'700'000'000'000 * kMs;

cache::FlowRecord make_record(std::uint8_t ip_version) {
  cache::FlowRecord r;
  r.key.ip_version = ip_version;
  r.key.source_address[0] = ip_version == 4 ? 10 : 0x20;
  r.key.source_address[3] = 1;
  r.key.destination_address[0] = ip_version == 4 ? 192 : 0x20;
  r.key.destination_address[3] = 2;
  r.key.source_port = 40000;
  r.key.destination_port = 443;
  r.key.protocol = 6;
  r.packets = 10;
  r.octets = 4000;
  r.first_ns = kStart + 5 * kMs;
  r.last_ns = kStart + 900 * kMs;
  r.tcp_flags = 0x1b;
  r.min_ttl = 60;
  r.max_ttl = 64;
  r.end_reason = cache::FlowEndReason::kEndOfFlow;
  auto& x = r.extras.first;
  x.source_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  x.destination_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  x.vlan_id = 100;
  x.inner_vlan_id = 200;
  x.mpls_top_label = (16001u << 4) | (5u << 1);
  x.mpls_labels = {(16002u << 4), (16003u << 4) | 1u};
  x.flow_label = ip_version == 6 ? 0xabcde : 0;
  x.fragment_flags = 0x40;
  x.direction = 1;
  r.extras.min_length = 40;
  r.extras.max_length = 1500;
  r.reverse = {.packets = 8, .octets = 12000, .first_ns = kStart + 20 * kMs, .last_ns = kStart + 880 * kMs,
               .tcp_flags = 0x1a, .min_ttl = 50, .max_ttl = 52, .tos = 0xb8, .ingress_interface = 2};
  r.biflow_direction = cache::BiflowDirection::kInitiator;
  return r;
}

ElementSet parse(std::string_view list) {
  std::string error;
  const auto set = parse_field_list(list, error);
  EXPECT_TRUE(set) << error;
  return set.value_or(ElementSet{});
}

const ElementSet kAllFields = parse(
    "smac,dmac,vlan,inner-vlan,mpls,mpls2,mpls3,flow-label,frag,min-length,max-length,direction,icmp");

std::vector<DecodedRecord> ipfix_round_trip(const TemplateSpec& spec, const std::vector<cache::FlowRecord>& records) {
  IpfixEncoder encoder(7, 65535, {}, spec);
  encoder.begin_message(true);
  for (const auto& r : records) EXPECT_EQ(encoder.add_record(r), IpfixEncoder::AddResult::kAdded);
  const auto m = encoder.finish_message(1'700'000'100);
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto summary = decoder.decode({m.begin(), m.end()}, "test", out);
  EXPECT_FALSE(summary.malformed) << summary.reason;
  return out;
}

void expect_extras(const cache::FlowRecord& got, const cache::FlowRecord& want) {
  const auto &g = got.extras.first, &w = want.extras.first;
  EXPECT_EQ(g.source_mac, w.source_mac);
  EXPECT_EQ(g.destination_mac, w.destination_mac);
  EXPECT_EQ(g.vlan_id, w.vlan_id);
  EXPECT_EQ(g.inner_vlan_id, w.inner_vlan_id);
  EXPECT_EQ(g.mpls_top_label, w.mpls_top_label);
  EXPECT_EQ(g.mpls_labels, w.mpls_labels);
  EXPECT_EQ(g.flow_label, w.flow_label);
  EXPECT_EQ(g.fragment_flags, w.fragment_flags);
  EXPECT_EQ(g.direction, w.direction);
  EXPECT_EQ(got.extras.min_length, want.extras.min_length);
  EXPECT_EQ(got.extras.max_length, want.extras.max_length);
}

TEST(RecordFields, DefaultTemplatesCarryNoOptionalOrReverseElement) {
  for (const auto format : {ExportFormat::kIpfix, ExportFormat::kV9}) {
    for (const int v : {4, 6}) {
      for (const auto* e : record_fields(format, v)) {
        EXPECT_EQ(e->needs & kChosenFeature, 0) << e->name;
        EXPECT_EQ(e->enterprise, 0u) << e->name;
      }
    }
  }
}

TEST(RecordFields, ChosenFieldsRoundTripThroughIpfix) {
  TemplateSpec spec;
  spec.chosen = kAllFields;
  const std::vector<cache::FlowRecord> records = {make_record(4), make_record(6)};
  const auto out = ipfix_round_trip(spec, records);
  ASSERT_EQ(out.size(), 2u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    expect_extras(out[i].flow, records[i]);
    EXPECT_TRUE(out[i].has(ie::kVlanId));
    EXPECT_TRUE(out[i].unknown_fields.empty());
    EXPECT_EQ(out[i].has(ie::kFlowLabelIpv6), i == 1);  // an IPv6 element
  }
  const std::string line = format_record(out[1]);
  EXPECT_NE(line.find("vlanId=100"), std::string::npos) << line;
  EXPECT_NE(line.find("sourceMacAddress=02:00:00:00:00:01"), std::string::npos) << line;
  EXPECT_NE(line.find("mplsTopLabelStackSection=16001-5-0"), std::string::npos) << line;
  EXPECT_NE(line.find("flowLabelIPv6=703710"), std::string::npos) << line;
}

TEST(RecordFields, ChosenFieldsRoundTripThroughV9) {
  TemplateSpec spec;
  spec.chosen = kAllFields;
  NetflowV9Encoder encoder(7, 65535, {}, spec);
  const std::vector<cache::FlowRecord> records = {make_record(4), make_record(6)};
  encoder.begin_message(true, kStart + 2000 * kMs, kStart - 1000 * kMs);
  for (const auto& r : records) EXPECT_EQ(encoder.add_record(r), NetflowV9Encoder::AddResult::kAdded);
  const auto m = encoder.finish_message();
  MessageDecoder decoder;
  std::vector<DecodedRecord> out;
  const auto summary = decoder.decode({m.begin(), m.end()}, "test", out);
  ASSERT_FALSE(summary.malformed) << summary.reason;
  ASSERT_EQ(out.size(), 2u);
  for (std::size_t i = 0; i < out.size(); ++i) expect_extras(out[i].flow, records[i]);
}

TEST(RecordFields, ReverseElementsCarryTheEnterpriseNumber) {
  TemplateSpec spec;
  spec.features = kBiflowFeature;
  const auto fields = record_fields(ExportFormat::kIpfix, 4, spec);
  const auto reverse = std::count_if(fields.begin(), fields.end(),
                                     [](const auto* e) { return e->enterprise == kReverseEnterprise; });
  EXPECT_EQ(reverse, 9);
  // v9 has no enterprise numbers.
  for (const auto* e : record_fields(ExportFormat::kV9, 4, spec)) EXPECT_EQ(e->enterprise, 0u) << e->name;

  IpfixEncoder encoder(7, 65535, {}, spec);
  encoder.begin_message(true);
  ASSERT_EQ(encoder.add_record(make_record(4)), IpfixEncoder::AddResult::kAdded);
  const auto m = encoder.finish_message(1'700'000'100);
  // The reversePacketDeltaCount specifier: 0x8002, length 8, PEN 29305.
  const std::vector<std::uint8_t> specifier = {0x80, 0x02, 0x00, 0x08, 0x00, 0x00, 0x72, 0x79};
  EXPECT_NE(std::search(m.begin(), m.end(), specifier.begin(), specifier.end()), m.end());
}

TEST(RecordFields, BiflowRoundTripsThroughIpfix) {
  TemplateSpec spec;
  spec.features = kBiflowFeature;
  const auto want = make_record(6);
  const auto out = ipfix_round_trip(spec, {want});
  ASSERT_EQ(out.size(), 1u);
  const auto& got = out[0].flow;
  EXPECT_EQ(got.packets, want.packets);
  EXPECT_EQ(got.reverse.packets, want.reverse.packets);
  EXPECT_EQ(got.reverse.octets, want.reverse.octets);
  EXPECT_EQ(got.reverse.first_ns, want.reverse.first_ns);
  EXPECT_EQ(got.reverse.last_ns, want.reverse.last_ns);
  EXPECT_EQ(got.reverse.tcp_flags, want.reverse.tcp_flags);
  EXPECT_EQ(got.reverse.min_ttl, want.reverse.min_ttl);
  EXPECT_EQ(got.reverse.max_ttl, want.reverse.max_ttl);
  EXPECT_EQ(got.reverse.tos, want.reverse.tos);
  EXPECT_EQ(got.reverse.ingress_interface, want.reverse.ingress_interface);
  EXPECT_EQ(got.biflow_direction, cache::BiflowDirection::kInitiator);
  EXPECT_TRUE(out[0].has(ie::kPacketDeltaCount, kReverseEnterprise));
  EXPECT_TRUE(out[0].unknown_fields.empty());
  const std::string line = format_record(out[0]);
  EXPECT_NE(line.find("reverse packets 8 bytes 12000"), std::string::npos) << line;
  const auto j = record_json(got, record_spec(out[0]));
  EXPECT_EQ(j["reverse_packets"], 8);
  EXPECT_EQ(j["reverse_tos"], want.reverse.tos);
  EXPECT_EQ(j["reverse_ingress_interface"], want.reverse.ingress_interface);
  EXPECT_NE(line.find(fmt::format(" tos {} in-if {}", want.reverse.tos, want.reverse.ingress_interface)),
            std::string::npos) << line;
  EXPECT_EQ(j["biflow_direction"], "initiator");
}

TEST(RecordFields, DroppedKeyFieldsLeaveTheTemplate) {
  TemplateSpec spec;
  spec.dropped.set(static_cast<std::size_t>(find_information_element(ie::kSourceTransportPort)));
  for (const auto format : {ExportFormat::kIpfix, ExportFormat::kV9}) {
    const auto fields = record_fields(format, 4, spec);
    EXPECT_TRUE(std::none_of(fields.begin(), fields.end(),
                             [](const auto* e) { return e->id == ie::kSourceTransportPort; }));
    EXPECT_TRUE(std::any_of(fields.begin(), fields.end(),
                            [](const auto* e) { return e->id == ie::kDestinationTransportPort; }));
  }
}

TEST(RecordFields, FieldListsNameElementsByIanaNameOrAlias) {
  std::string error;
  const auto by_name = parse_field_list("vlanId,SourceMacAddress", error);
  ASSERT_TRUE(by_name) << error;
  EXPECT_EQ(by_name->count(), 2u);
  EXPECT_EQ(*by_name, parse("vlan,smac"));
  EXPECT_EQ(parse("icmp").count(), 2u);  // the IPv4 and the IPv6 element
  EXPECT_FALSE(parse_field_list("vlan,nonsense", error));
  EXPECT_NE(error.find("unknown field 'nonsense'"), std::string::npos) << error;
  EXPECT_NE(error.find("sourceMacAddress (smac)"), std::string::npos) << error;
  EXPECT_FALSE(parse_field_list("packetDeltaCount", error));
  EXPECT_NE(error.find("always exported"), std::string::npos) << error;
}

TEST(RecordFields, JsonNamesChosenElementsByTheirIanaNames) {
  TemplateSpec spec;
  spec.chosen = parse("vlan,smac,mpls,flow-label");
  const auto j = record_json(make_record(4), spec);
  EXPECT_EQ(j["vlanId"], 100);
  EXPECT_EQ(j["sourceMacAddress"], "02:00:00:00:00:01");
  EXPECT_EQ(j["mplsTopLabelStackSection"], "16001-5-0");
  EXPECT_FALSE(j.contains("flowLabelIPv6"));  // IPv6 only
  EXPECT_FALSE(j.contains("reverse_packets"));
}

// The tunnel endpoints: no export format carries them, json: and the text rendering do.
TEST(RecordFields, TunnelEndpointsAreShownButNeverExported) {
  const ElementSet tunnel = parse("tunnel-src,tunnelDestinationAddress");
  EXPECT_EQ(tunnel.count(), 2u);
  TemplateSpec spec;
  spec.chosen = tunnel;
  for (const auto format : {ExportFormat::kIpfix, ExportFormat::kV9}) {
    for (const int v : {4, 6}) {
      EXPECT_EQ(record_fields(format, v, spec).size(), record_fields(format, v).size());
    }
  }
  EXPECT_EQ(find_information_element(std::uint16_t{0}), -1);  // never read off the wire

  cache::FlowRecord r = make_record(6);  // an IPv6 inner flow in an IPv4 tunnel
  r.extras.first.tunnel_ip_version = 4;
  r.extras.first.tunnel_source = {192, 0, 2, 1};
  r.extras.first.tunnel_destination = {198, 51, 100, 7};
  auto j = record_json(r, spec);
  EXPECT_EQ(j["tunnelSourceAddress"], "192.0.2.1");
  EXPECT_EQ(j["tunnelDestinationAddress"], "198.51.100.7");
  const auto& e = information_elements()[static_cast<std::size_t>(find_information_element("tunnel-src"))];
  EXPECT_EQ(render_value(e, r), "192.0.2.1");

  r.extras.first.tunnel_ip_version = 6;
  r.extras.first.tunnel_source = {0x20, 0x01, 0x0d, 0xb8};
  r.extras.first.tunnel_source[15] = 1;
  EXPECT_EQ(render_value(e, r), "2001:db8::1");

  // A flow that came through no tunnel: json: leaves the fields out.
  cache::FlowRecord plain = make_record(4);
  j = record_json(plain, spec);
  EXPECT_FALSE(j.contains("tunnelSourceAddress"));
  EXPECT_EQ(render_value(e, plain), "");

  // The record's other chosen fields still reach the collector.
  spec.chosen |= parse("vlan");
  const auto out = ipfix_round_trip(spec, {r});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has(ie::kVlanId));
  EXPECT_TRUE(out[0].unknown_fields.empty());
}

TEST(RecordFields, ABiflowSplitsIntoItsTwoUniflows) {
  const auto biflow = make_record(4);
  cache::FlowRecord forward, reverse;
  ASSERT_TRUE(split_biflow(biflow, forward, reverse));
  EXPECT_EQ(forward.packets, 10u);
  EXPECT_EQ(forward.reverse.packets, 0u);
  EXPECT_EQ(reverse.packets, 8u);
  EXPECT_EQ(reverse.octets, 12000u);
  EXPECT_EQ(reverse.key.source_address, biflow.key.destination_address);
  EXPECT_EQ(reverse.key.source_port, 443);
  EXPECT_EQ(reverse.key.destination_port, 40000);
  EXPECT_EQ(reverse.extras.first.source_mac, biflow.extras.first.destination_mac);
  EXPECT_EQ(reverse.first_ns, biflow.reverse.first_ns);
  EXPECT_EQ(reverse.tcp_flags, 0x1a);
  EXPECT_EQ(reverse.key.tos, 0xb8);  // the reverse direction's own, not the key's
  EXPECT_EQ(reverse.key.ingress_interface, 2u);
  EXPECT_EQ(forward.key.tos, biflow.key.tos);
  auto one_way = biflow;
  one_way.reverse = {};
  EXPECT_FALSE(split_biflow(one_way, forward, reverse));
}

}  // namespace
}  // namespace tapflow::exporter
