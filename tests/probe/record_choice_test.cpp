// --key parsing: which default fields are dropped, which extra bytes join the key, and the
// errors a user sees.
#include "probe/record_choice.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "probe/decode/decoder.h"

namespace tapflow::probe {
namespace {

namespace ie = exporter::ie;

RecordChoice key(std::string_view list) {
  RecordChoice choice;
  std::string error;
  EXPECT_TRUE(parse_key(list, choice, error)) << error;
  return choice;
}

TEST(RecordChoice, TheDefaultKeyDropsNothing) {
  const auto c = key("default");
  EXPECT_EQ(c.key_drops, 0);
  EXPECT_TRUE(c.dropped.none());
  EXPECT_TRUE(c.chosen.none());
  EXPECT_FALSE(c.needs_extras());
  for (const auto b : c.extra_key_mask) EXPECT_EQ(b, 0);
}

TEST(RecordChoice, LeavingFieldsOutDropsThem) {
  const auto c = key("src,dst,proto");
  EXPECT_EQ(c.key_drops, kDropSourcePort | kDropDestinationPort | kDropTos | kDropIngressInterface);
  EXPECT_TRUE(c.dropped.test(static_cast<std::size_t>(exporter::find_information_element(ie::kSourceTransportPort))));
  EXPECT_FALSE(c.dropped.test(static_cast<std::size_t>(exporter::find_information_element(ie::kSourceIpv4Address))));
  // IANA names work too, case-insensitively.
  EXPECT_EQ(key("sourceIPv6Address,DestinationIPv4Address,protocolIdentifier").key_drops, c.key_drops);
}

TEST(RecordChoice, ExtraFieldsJoinTheKeyAndTheTemplates) {
  const auto c = key("default,vlanId,smac");
  EXPECT_EQ(c.key_drops, 0);
  EXPECT_TRUE(c.needs_extras());
  EXPECT_EQ(c.chosen.count(), 2u);
  for (std::size_t i = 0; i < cache::kExtraKeyBytes; ++i) {
    const bool vlan = i >= offsetof(cache::PacketExtras, vlan_id) && i < offsetof(cache::PacketExtras, vlan_id) + 2;
    const bool smac = i < 6;
    EXPECT_EQ(c.extra_key_mask[i], vlan || smac ? 0xff : 0) << i;
  }
}

TEST(RecordChoice, ErrorsNameTheProblem) {
  RecordChoice c;
  std::string error;
  EXPECT_FALSE(parse_key("src,dst", c, error));
  EXPECT_NE(error.find("protocolIdentifier"), std::string::npos) << error;
  EXPECT_FALSE(parse_key("default,colour", c, error));
  EXPECT_NE(error.find("unknown key field 'colour'"), std::string::npos) << error;
  EXPECT_NE(error.find("vlanId (vlan)"), std::string::npos) << error;
}

}  // namespace
}  // namespace tapflow::probe
