// --prefixes: longest-prefix match over nested IPv4 and IPv6 prefixes, the two line formats, the
// lines it skips, the record stage in front of a destination and its SIGHUP reload.
#include "exporter/prefixes/prefix_table.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <string>

#include <fmt/format.h>

#include "exporter/prefixes/prefix_exporter.h"

namespace tapflow::exporter {
namespace {

PrefixMatch v4(const PrefixTable& t, const char* text) {
  std::uint8_t a[4];
  EXPECT_EQ(inet_pton(AF_INET, text, a), 1) << text;
  return t.lookup_ipv4(a);
}

PrefixMatch v6(const PrefixTable& t, const char* text) {
  std::uint8_t a[16];
  EXPECT_EQ(inet_pton(AF_INET6, text, a), 1) << text;
  return t.lookup_ipv6(a);
}

TEST(PrefixTable, LongestMatchOverNestedPrefixes) {
  PrefixLoadReport report;
  const auto t = PrefixTable::parse(
      "# comment\n"
      "10.0.0.0/8 100\n"
      "10.1.0.0/16 200 7\n"
      "10.1.2.0/24 300\n"
      "10.1.2.128/25 400\n"
      "10.200.0.0/16 500\n"
      "0.0.0.0/0 1   # default route\n"
      "255.255.255.255/32 9\n",
      report);
  EXPECT_EQ(report.ipv4_prefixes, 7u);
  EXPECT_EQ(report.rejected, 0u);
  EXPECT_EQ(v4(t, "10.1.2.200").origin_as, 400u);
  EXPECT_EQ(v4(t, "10.1.2.200").length, 25);
  EXPECT_EQ(v4(t, "10.1.2.127").origin_as, 300u);
  EXPECT_EQ(v4(t, "10.1.3.0").origin_as, 200u);
  EXPECT_EQ(v4(t, "10.1.3.0").peer_as, 7u);
  EXPECT_EQ(v4(t, "10.1.255.255").origin_as, 200u);
  EXPECT_EQ(v4(t, "10.2.0.0").origin_as, 100u);
  EXPECT_EQ(v4(t, "10.200.9.9").origin_as, 500u);
  EXPECT_EQ(v4(t, "10.201.0.0").origin_as, 100u);
  EXPECT_EQ(v4(t, "11.0.0.0").origin_as, 1u);
  EXPECT_EQ(v4(t, "11.0.0.0").length, 0);
  EXPECT_TRUE(v4(t, "0.0.0.0").found);
  EXPECT_EQ(v4(t, "255.255.255.254").origin_as, 1u);
  EXPECT_EQ(v4(t, "255.255.255.255").origin_as, 9u);
  EXPECT_EQ(v4(t, "255.255.255.255").length, 32);
}

TEST(PrefixTable, NothingCoversAnAddressOutsideEveryPrefix) {
  PrefixLoadReport report;
  const auto t = PrefixTable::parse("192.0.2.0/24 64500\n", report);
  EXPECT_FALSE(v4(t, "192.0.1.255").found);
  EXPECT_EQ(v4(t, "192.0.1.255").origin_as, 0u);
  EXPECT_TRUE(v4(t, "192.0.2.0").found);
  EXPECT_FALSE(v4(t, "192.0.3.0").found);
  EXPECT_FALSE(v6(t, "2001:db8::1").found);
}

TEST(PrefixTable, CaidaPfx2asLinesMultiOriginAndAsSets) {
  PrefixLoadReport report;
  const auto t = PrefixTable::parse(
      "1.0.0.0\t24\t13335\n"
      "1.0.4.0\t22\t38803_56203\n"
      "1.0.64.0\t18\t18144,4608\n"
      "2001:200::\t32\t2500\n",
      report);
  EXPECT_EQ(report.rejected, 0u) << report.first_rejected_why;
  EXPECT_EQ(v4(t, "1.0.0.77").origin_as, 13335u);
  EXPECT_EQ(v4(t, "1.0.5.1").origin_as, 38803u);
  EXPECT_EQ(v4(t, "1.0.100.1").origin_as, 18144u);
  EXPECT_EQ(v6(t, "2001:200:1::9").origin_as, 2500u);
  EXPECT_EQ(v6(t, "2001:200:1::9").length, 32);
}

TEST(PrefixTable, Ipv6NestedAndHostRoutes) {
  PrefixLoadReport report;
  const auto t = PrefixTable::parse(
      "2001:db8::/32 AS64496\n"
      "2001:db8:0:1::/64 64497 64511\n"
      "2001:db8:0:1::1/128 64498\n"
      "2001:db8:8000::/33 64499\n"
      "::/0 64500\n"
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128 64501\n",
      report);
  EXPECT_EQ(report.ipv6_prefixes, 6u);
  EXPECT_EQ(v6(t, "2001:db8:0:1::1").origin_as, 64498u);
  EXPECT_EQ(v6(t, "2001:db8:0:1::1").length, 128);
  EXPECT_EQ(v6(t, "2001:db8:0:1::2").origin_as, 64497u);
  EXPECT_EQ(v6(t, "2001:db8:0:1::2").peer_as, 64511u);
  EXPECT_EQ(v6(t, "2001:db8:0:2::").origin_as, 64496u);
  EXPECT_EQ(v6(t, "2001:db8:8000::1").origin_as, 64499u);
  EXPECT_EQ(v6(t, "2001:db9::").origin_as, 64500u);
  EXPECT_EQ(v6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe").origin_as, 64500u);
  EXPECT_EQ(v6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").origin_as, 64501u);
}

TEST(PrefixTable, HostBitsIgnoredLaterDuplicatesWinBadLinesCounted) {
  PrefixLoadReport report;
  const auto t = PrefixTable::parse(
      "10.1.2.3/8 100\n"
      "10.0.0.0/8 101\n"
      "10.0.0.0/33 1\n"
      "10.0.0.0/x 1\n"
      "banana/8 1\n"
      "10.0.0.0/8\n"
      "10.0.0.0/8 12x\n"
      "10.0.0.0/8 1 2 3\n",
      report);
  EXPECT_EQ(v4(t, "10.200.0.1").origin_as, 101u);
  EXPECT_EQ(report.lines, 8u);
  EXPECT_EQ(report.rejected, 6u);
  EXPECT_EQ(report.first_rejected_line, 3u);
  EXPECT_NE(report.first_rejected_why.find("over 32"), std::string::npos) << report.first_rejected_why;
}

// Against a brute-force longest match on random nested prefixes.
TEST(PrefixTable, AgreesWithABruteForceLongestMatch) {
  std::mt19937 random(11);
  struct P {
    std::uint32_t net;
    int length;
    std::uint32_t as;
  };
  std::vector<P> prefixes;
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    const int length = static_cast<int>(random() % 25) + 8;
    // Few top-level /8s so that prefixes nest often.
    std::uint32_t a = ((random() % 4) << 24) | (random() & 0x00ffffffu);
    a &= length == 32 ? ~0u : ~(~0u >> length);
    prefixes.push_back({a, length, static_cast<std::uint32_t>(i + 1)});
    text += fmt::format("{}.{}.{}.{}/{} {}\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, length, i + 1);
  }
  PrefixLoadReport report;
  const auto t = PrefixTable::parse(text, report);
  for (int i = 0; i < 20000; ++i) {
    std::uint32_t address = ((random() % 4) << 24) | (random() & 0x00ffffffu);
    if (i % 3 == 0) address = prefixes[random() % prefixes.size()].net + (random() % 4);
    int best = -1;
    std::uint32_t want = 0;
    for (const auto& p : prefixes) {
      const std::uint32_t mask = p.length == 0 ? 0 : ~0u << (32 - p.length);
      // The later of two equal prefixes wins, as in the table.
      if ((address & mask) == p.net && p.length >= best) {
        best = p.length;
        want = p.as;
      }
    }
    const std::uint8_t bytes[4] = {static_cast<std::uint8_t>(address >> 24), static_cast<std::uint8_t>(address >> 16),
                                   static_cast<std::uint8_t>(address >> 8), static_cast<std::uint8_t>(address)};
    const auto got = t.lookup_ipv4(bytes);
    ASSERT_EQ(got.found, best >= 0) << address;
    ASSERT_EQ(got.origin_as, want) << address;
    if (best >= 0) {
      ASSERT_EQ(got.length, best) << address;
    }
  }
}

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + name + std::to_string(getpid());
  std::ofstream(path) << content;
  return path;
}

TEST(PrefixSource, RefusesAFileWithoutPrefixesAndReloadsWhenTheFileChanges) {
  EXPECT_THROW(PrefixSource("/nonexistent/pfx", false), std::runtime_error);
  try {
    PrefixSource(write_file("empty", "# nothing\n\n"), false);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("holds no prefix"), std::string::npos) << e.what();
  }
  const std::string path = write_file("pfx", "192.0.2.0/24 64500 64510\n");
  PrefixSource source(path, true);
  EXPECT_NE(source.initial_report().find("1 IPv4 and 0 IPv6 prefixes"), std::string::npos) << source.initial_report();
  EXPECT_FALSE(source.reload());  // unchanged
  std::ofstream(path) << "192.0.2.0/24 64501\n198.51.100.0/24 64502\n";
  const auto event = source.reload();
  ASSERT_TRUE(event);
  EXPECT_NE(event->message.find("2 IPv4"), std::string::npos) << event->message;
  std::uint8_t a[4] = {198, 51, 100, 1};
  EXPECT_EQ(source.table().lookup_ipv4(a).origin_as, 64502u);
  std::ofstream(path) << "garbage\n";
  const auto failed = source.reload();
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->severity, TransportEvent::Severity::kWarning);
  EXPECT_NE(failed->message.find("the previous table stays"), std::string::npos) << failed->message;
  EXPECT_EQ(source.table().lookup_ipv4(a).origin_as, 64502u);
}

TEST(PrefixSource, PeerAsWhereTheFileGivesOne) {
  PrefixLoadReport report;
  const auto t = PrefixTable::parse("192.0.2.0/24 64500 64510\n198.51.100.0/24 64501\n", report);
  cache::FlowRecord r;
  r.key.ip_version = 4;
  r.key.source_address = {192, 0, 2, 1};
  r.key.destination_address = {198, 51, 100, 1};
  apply_prefixes(t, false, r);
  EXPECT_EQ(r.source_as, 64500u);
  EXPECT_EQ(r.destination_as, 64501u);
  EXPECT_EQ(r.source_prefix_length, 24);
  apply_prefixes(t, true, r);
  EXPECT_EQ(r.source_as, 64510u);
  EXPECT_EQ(r.destination_as, 0u);  // no peer column
}

}  // namespace
}  // namespace tapflow::exporter
