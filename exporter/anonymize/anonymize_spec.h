// Address anonymisation, a record stage in front of one destination's encoder (--anonymize, or
// ?anonymize= on a URL for that destination alone). mask:N zeroes the low N bits of every IPv4
// address (the Internet2 archive's mask:11), v6:M the low M bits of every IPv6 one; multicast
// and broadcast addresses are kept, as they name no host. cryptopan:KEYFILE maps every other
// address prefix-preservingly (crypto_pan.h) under a 32-byte key. The cache and the other
// destinations see the real addresses.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cache/flow_record.h"
#include "exporter/anonymize/crypto_pan.h"

namespace tapflow::exporter {

struct AnonymizeSpec {
  int ipv4_bits = 0;  // low bits zeroed, 0..32
  int ipv6_bits = 0;  // 0..128
  bool cryptopan = false;   // prefix-preserving, under crypto_pan_key (read from key_path)
  CryptoPanKey crypto_pan_key{};
  std::string key_path;
  bool active() const { return ipv4_bits != 0 || ipv6_bits != 0 || cryptopan; }
  std::string to_string() const;
};

// "mask:N", "mask:N,v6:M" (or "mask:N+v6:M", for URLs), "v6:M", "cryptopan:KEYFILE" (the key is
// read here), "none". nullopt with `error` set otherwise.
std::optional<AnonymizeSpec> parse_anonymize(std::string_view text, std::string& error);

}  // namespace tapflow::exporter
