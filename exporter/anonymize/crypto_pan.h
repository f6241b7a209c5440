// Prefix-preserving address anonymisation: Crypto-PAn (Xu, Fan, Ammar, Moon, "Prefix-Preserving IP
// Address Anonymization", ICNP 2002), the scheme of the original reference code: bit i of the
// one-time pad is the first bit of AES-128(key[0..15]) over the address's first i bits followed by
// the pad bits AES-128(key[16..31]) from i on. Two addresses that share a k-bit prefix map to two
// that share exactly k bits. IPv6 uses the same construction over 128 bits, so an IPv4 address in
// the top 32 bits of an IPv6 one maps to the IPv4 result in those bits (as yacryptopan and
// Yawning's cryptopan do).
//
// AES comes from OpenSSL (libcrypto): hand-written AES would be slower (no AES-NI) and unreviewed.
// The 32 (IPv4) or 128 (IPv6) blocks of one address go through one ECB call, which AES-NI
// pipelines; a direct-mapped cache of recent addresses makes a repeated address a lookup (flow
// records repeat addresses heavily: bench/anonymize_benchmark.cpp measures both).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tapflow::exporter {

using CryptoPanKey = std::array<std::uint8_t, 32>;

// Reads a key file: the 32 bytes raw, or 64 hex digits on one line (surrounding whitespace
// allowed). nullopt with `error` set otherwise.
std::optional<CryptoPanKey> load_crypto_pan_key(const std::string& path, std::string& error);

class CryptoPan {
 public:
  explicit CryptoPan(const CryptoPanKey& key);
  ~CryptoPan();
  CryptoPan(const CryptoPan&) = delete;
  CryptoPan& operator=(const CryptoPan&) = delete;

  // Replace the address in place (network byte order).
  void anonymize_ipv4(std::uint8_t* address);   // 4 octets
  void anonymize_ipv6(std::uint8_t* address);   // 16 octets

  std::uint64_t cache_hits() const { return hits_; }
  std::uint64_t cache_misses() const { return misses_; }

 private:
  // The address's first `bits` bits (of 128, big-endian in `in`) mapped into `out`.
  void map(const std::uint8_t* in, int bits, std::uint8_t* out);
  template <std::size_t N>
  void anonymize(std::uint8_t* address, std::uint8_t family, int bits);

  struct CacheEntry {
    std::array<std::uint8_t, 16> address{};
    std::array<std::uint8_t, 16> mapped{};
    std::uint8_t family = 0;  // 0 empty, 4 or 6
  };
  static constexpr std::size_t kCacheEntries = 1 << 16;

  struct Cipher;
  std::unique_ptr<Cipher> cipher_;
  std::array<std::uint8_t, 16> pad_{};
  std::vector<std::uint8_t> blocks_in_, blocks_out_;  // 128 blocks each, reused
  std::vector<CacheEntry> cache_;
  std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace tapflow::exporter
