// --anonymize cryptopan:KEYFILE: the reference distribution's vectors, IPv6, prefix preservation on
// random pairs, the key file's two forms and the cache.
#include "exporter/anonymize/crypto_pan.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "exporter/anonymize/anonymizer.h"

namespace tapflow::exporter {
namespace {

constexpr CryptoPanKey kReferenceKey = {21,  34,  23,  141, 51,  164, 207, 128, 19,  10, 91,
                                        22,  73,  144, 125, 16,  216, 152, 143, 131, 121, 121,
                                        101, 39,  98,  87,  76,  45,  42,  132, 34,  2};

struct Vector {
  std::string original, anonymised;
};

std::vector<Vector> reference_vectors() {
  std::ifstream in(std::string(TAPFLOW_TEST_DATA_DIR) + "/cryptopan/vectors.tsv");
  std::vector<Vector> out;
  std::string a, b;
  while (in >> a >> b) out.push_back({a, b});
  return out;
}

std::string mapped(CryptoPan& cp, const std::string& text) {
  std::array<std::uint8_t, 16> a{};
  char buffer[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), a.data()) == 1) {
    cp.anonymize_ipv4(a.data());
    return inet_ntop(AF_INET, a.data(), buffer, sizeof buffer);
  }
  EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), a.data()), 1) << text;
  cp.anonymize_ipv6(a.data());
  return inet_ntop(AF_INET6, a.data(), buffer, sizeof buffer);
}

TEST(CryptoPan, ReferenceVectors) {
  const auto vectors = reference_vectors();
  ASSERT_EQ(vectors.size(), 76u);
  CryptoPan cp(kReferenceKey);
  for (const auto& v : vectors) EXPECT_EQ(mapped(cp, v.original), v.anonymised) << v.original;
  // Again, from the cache this time: the same answers.
  for (const auto& v : vectors) EXPECT_EQ(mapped(cp, v.original), v.anonymised) << v.original;
  EXPECT_EQ(cp.cache_hits(), vectors.size());
  EXPECT_EQ(cp.cache_misses(), vectors.size());
}

TEST(CryptoPan, AnIpv4AddressAtTheTopOfAnIpv6OneMapsAsIpv4) {
  CryptoPan cp(kReferenceKey);
  std::array<std::uint8_t, 16> v6{128, 11, 68, 132};
  std::array<std::uint8_t, 4> v4{128, 11, 68, 132};
  cp.anonymize_ipv6(v6.data());
  cp.anonymize_ipv4(v4.data());
  EXPECT_TRUE(std::equal(v4.begin(), v4.end(), v6.begin()));
}

int common_prefix(const std::uint8_t* a, const std::uint8_t* b, int bits) {
  for (int i = 0; i < bits; ++i) {
    const int mask = 0x80 >> (i % 8);
    if ((a[i / 8] & mask) != (b[i / 8] & mask)) return i;
  }
  return bits;
}

TEST(CryptoPan, PreservesExactlyTheCommonPrefixOfRandomPairs) {
  std::mt19937_64 random(7);
  CryptoPanKey key;
  for (auto& k : key) k = static_cast<std::uint8_t>(random());
  CryptoPan cp(key);
  for (const int bits : {32, 128}) {
    for (int trial = 0; trial < 2000; ++trial) {
      std::array<std::uint8_t, 16> a{}, b{};
      for (int i = 0; i < bits / 8; ++i) a[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(random());
      b = a;
      // b shares a random-length prefix with a, then differs at that bit.
      const int shared = static_cast<int>(random() % static_cast<std::uint64_t>(bits));
      b[static_cast<std::size_t>(shared / 8)] ^= static_cast<std::uint8_t>(0x80 >> (shared % 8));
      for (int i = shared + 1; i < bits; ++i) {
        if (random() & 1) b[static_cast<std::size_t>(i / 8)] ^= static_cast<std::uint8_t>(0x80 >> (i % 8));
      }
      auto ma = a, mb = b;
      if (bits == 32) {
        cp.anonymize_ipv4(ma.data());
        cp.anonymize_ipv4(mb.data());
      } else {
        cp.anonymize_ipv6(ma.data());
        cp.anonymize_ipv6(mb.data());
      }
      ASSERT_EQ(common_prefix(ma.data(), mb.data(), bits), shared) << bits << " bits, trial " << trial;
    }
  }
}

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + name + std::to_string(getpid());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(CryptoPan, KeyFilesRawOrHex) {
  std::string error;
  const std::string raw(reinterpret_cast<const char*>(kReferenceKey.data()), kReferenceKey.size());
  auto key = load_crypto_pan_key(write_file("raw", raw), error);
  ASSERT_TRUE(key) << error;
  EXPECT_EQ(*key, kReferenceKey);
  key = load_crypto_pan_key(
      write_file("hex", "  1522178d33a4cf80130a5b1649907d10D8988F83797965276257 4c2d2a842202\n"), error);
  EXPECT_FALSE(key);  // a space inside
  key = load_crypto_pan_key(
      write_file("hex", "  1522178d33a4cf80130a5b1649907d10D8988F837979652762574c2d2a842202\n"), error);
  ASSERT_TRUE(key) << error;
  EXPECT_EQ(*key, kReferenceKey);
  EXPECT_FALSE(load_crypto_pan_key(write_file("short", "0123456789abcdef"), error));
  EXPECT_NE(error.find("expected the 32-byte key raw, or as 64 hex digits"), std::string::npos) << error;
  EXPECT_FALSE(load_crypto_pan_key("/nonexistent/key", error));
  EXPECT_NE(error.find("/nonexistent/key"), std::string::npos) << error;
}

TEST(CryptoPan, TheAnonymizeSpecKeepsMulticastAndBroadcast) {
  const std::string raw(reinterpret_cast<const char*>(kReferenceKey.data()), kReferenceKey.size());
  const std::string path = write_file("spec", raw);
  std::string error;
  auto spec = parse_anonymize("cryptopan:" + path, error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->to_string(), "cryptopan:" + path);
  EXPECT_FALSE(parse_anonymize("mask:11,cryptopan:" + path, error));
  EXPECT_FALSE(parse_anonymize("cryptopan:", error));
  Anonymizer anonymizer(*spec);
  cache::FlowRecord r;
  r.key.ip_version = 4;
  r.key.source_address = {128, 11, 68, 132};
  r.key.destination_address = {239, 1, 2, 3};
  anonymizer.apply(r);
  EXPECT_EQ(r.key.source_address[0], 135);
  EXPECT_EQ(r.key.source_address[3], 132);
  EXPECT_EQ(r.key.destination_address[3], 3);
  r.key.destination_address = {255, 255, 255, 255};
  anonymizer.apply(r);
  EXPECT_EQ(r.key.destination_address[0], 255);
}

}  // namespace
}  // namespace tapflow::exporter
