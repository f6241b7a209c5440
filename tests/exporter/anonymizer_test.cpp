// --anonymize mask:N[,v6:M]: the low bits of every unicast address zeroed before one destination's
// encoder, multicast and broadcast kept; a URL's ?anonymize= for that destination alone.
// (cryptopan: is tested in crypto_pan_test.cpp.)
#include "exporter/anonymize/anonymizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace tapflow::exporter {
namespace {

cache::FlowRecord v4(std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst) {
  cache::FlowRecord r;
  r.key.ip_version = 4;
  std::copy(src.begin(), src.end(), r.key.source_address.begin());
  std::copy(dst.begin(), dst.end(), r.key.destination_address.begin());
  return r;
}

AnonymizeSpec spec(const char* text) {
  std::string error;
  auto s = parse_anonymize(text, error);
  EXPECT_TRUE(s) << error;
  return s.value_or(AnonymizeSpec{});
}

TEST(Anonymize, TheInternet2MaskZeroesTheLow11BitsOfUnicastAddresses) {
  auto r = v4({128, 11, 68, 132}, {239, 1, 2, 3});
  Anonymizer(spec("mask:11")).apply(r);
  EXPECT_EQ(r.key.source_address[0], 128);
  EXPECT_EQ(r.key.source_address[1], 11);
  EXPECT_EQ(r.key.source_address[2], 64);  // 68 = 0100 0100: its low 3 bits go
  EXPECT_EQ(r.key.source_address[3], 0);
  EXPECT_EQ(r.key.destination_address[3], 3);  // multicast kept
  auto b = v4({10, 0, 0, 1}, {255, 255, 255, 255});
  Anonymizer(spec("mask:32")).apply(b);
  EXPECT_EQ(b.key.source_address[0], 0);
  EXPECT_EQ(b.key.destination_address[3], 255);  // broadcast kept
}

// --decap --fields tunnelSourceAddress: the tunnel's outer addresses are hosts' too.
TEST(Anonymize, TunnelEndpointsToo) {
  auto r = v4({10, 0, 0, 1}, {10, 0, 0, 2});
  r.extras.first.tunnel_ip_version = 4;
  r.extras.first.tunnel_source = {192, 0, 2, 131};
  r.extras.first.tunnel_destination = {224, 0, 0, 9};
  Anonymizer(spec("mask:8")).apply(r);
  EXPECT_EQ(r.extras.first.tunnel_source, (std::array<std::uint8_t, 16>{192, 0, 2, 0}));
  EXPECT_EQ(r.extras.first.tunnel_destination, (std::array<std::uint8_t, 16>{224, 0, 0, 9}));  // multicast kept
  // Through no tunnel: nothing to touch.
  auto plain = v4({10, 0, 0, 1}, {10, 0, 0, 2});
  Anonymizer(spec("mask:8")).apply(plain);
  EXPECT_EQ(plain.extras.first.tunnel_source, (std::array<std::uint8_t, 16>{}));
}

TEST(Anonymize, Ipv6ByItsOwnCount) {
  cache::FlowRecord r;
  r.key.ip_version = 6;
  r.key.source_address.fill(0xff);
  r.key.source_address[0] = 0x20;
  r.key.destination_address.fill(0x11);
  r.key.destination_address[0] = 0xff;  // multicast
  Anonymizer(spec("mask:8,v6:64")).apply(r);
  for (int i = 8; i < 16; ++i) EXPECT_EQ(r.key.source_address[static_cast<std::size_t>(i)], 0) << i;
  EXPECT_EQ(r.key.source_address[7], 0xff);
  EXPECT_EQ(r.key.destination_address[15], 0x11);
}

TEST(Anonymize, SpellingsAndRefusals) {
  EXPECT_EQ(spec("mask:11").to_string(), "mask:11");
  EXPECT_EQ(spec("mask:11+v6:64").to_string(), "mask:11,v6:64");
  EXPECT_EQ(spec("v6:48").to_string(), "v6:48");
  EXPECT_FALSE(spec("none").active());
  std::string error;
  for (const char* bad : {"mask:33", "v6:129", "mask:", "cryptopan", "mask:x"}) {
    EXPECT_FALSE(parse_anonymize(bad, error)) << bad;
    EXPECT_NE(error.find("expected mask:N"), std::string::npos) << error;
  }
}

// Per destination: --anonymize for one, the real addresses for another (?anonymize=none).
TEST(Anonymize, EachDestinationItsOwn) {
  char a[] = "/tmp/tapflow-anon-a-XXXXXX", b[] = "/tmp/tapflow-anon-b-XXXXXX";
  close(mkstemp(a));
  close(mkstemp(b));
  ExportOptions options;
  options.anonymize = spec("mask:16");
  auto masked = make_exporter(std::string("json:") + a, options);
  auto real = make_exporter(std::string("json:") + b + "?anonymize=none", options);
  const std::vector<cache::FlowRecord> records{v4({10, 1, 2, 3}, {192, 0, 2, 9})};
  masked->export_records(records);
  real->export_records(records);
  masked->close();
  real->close();
  auto first = [](const char* path) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);
    return nlohmann::json::parse(line);
  };
  EXPECT_EQ(first(a)["source"], "10.1.0.0");
  EXPECT_EQ(first(a)["destination"], "192.0.0.0");
  EXPECT_EQ(first(b)["source"], "10.1.2.3");
  EXPECT_EQ(records[0].key.source_address[3], 3);  // the caller's records are untouched
  unlink(a);
  unlink(b);
}

}  // namespace
}  // namespace tapflow::exporter
