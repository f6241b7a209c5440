// Hashing of flow keys: a seeded 64-bit hash for table lookups, and a symmetric hash so both
// directions of a connection land on the same shard. Seeds come from the caller (random at
// start-up) so an attacker cannot aim packets at one bucket.
#pragma once

#include <cstdint>
#include <cstring>

#include "cache/flow_key.h"

namespace tapflow::cache {

namespace detail {
inline std::uint64_t load_u64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// 128-bit multiply folded to 64 bits (the wyhash/mum mixer): fast and well distributed.
inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  __extension__ using U128 = unsigned __int128;  // GCC/Clang extension, silences -Wpedantic
  const U128 r = static_cast<U128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}
}  // namespace detail

// Hash of the key's 48 bytes, as six 8-byte words (as many multiplies as the 44-byte key took
// before the tunnel fields). Never used alone to identify a flow: a hash match is always
// confirmed by comparing the key.
inline std::uint64_t hash_key(const FlowKey& key, std::uint64_t seed) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&key);
  constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                          k2 = 0x8ebc6af09c88c6e3ull;
  std::uint64_t h = detail::mix(detail::load_u64(p) ^ seed ^ k0, detail::load_u64(p + 8) ^ k1);
  h = detail::mix(detail::load_u64(p + 16) ^ h, detail::load_u64(p + 24) ^ k2);
  static_assert(sizeof(FlowKey) == 48);
  h = detail::mix(detail::load_u64(p + 32) ^ h, detail::load_u64(p + 40) ^ k0);
  return detail::mix(h ^ k1, seed ^ k2);
}

// Direction-independent hash: swapping source and destination (addresses and ports) gives the
// same value, so a connection's two unidirectional flows share a shard. The ingress interface is
// left out: a --biflow's two directions may arrive on two interfaces (an optical tap's two ports).
inline std::uint64_t symmetric_hash(const FlowKey& key, std::uint64_t seed) {
  std::uint64_t a = 0, b = 0;
  const std::uint8_t* s = key.source_address.data();
  const std::uint8_t* d = key.destination_address.data();
  const std::uint64_t s0 = detail::load_u64(s), s1 = detail::load_u64(s + 8);
  const std::uint64_t d0 = detail::load_u64(d), d1 = detail::load_u64(d + 8);
  // Addition and XOR are commutative: (s + d) and (s ^ d) do not depend on the direction.
  a = (s0 + d0) ^ (s1 + d1) * 0x9e3779b97f4a7c15ull;
  b = (s0 ^ d0) ^ ((s1 ^ d1) << 1);
  const std::uint64_t ports = (static_cast<std::uint64_t>(key.source_port) + key.destination_port) |
                              (static_cast<std::uint64_t>(key.source_port ^ key.destination_port) << 20);
  const std::uint64_t rest = ports | (static_cast<std::uint64_t>(key.protocol) << 40);
  return detail::mix(a ^ seed ^ 0xa0761d6478bd642full, b ^ rest ^ 0xe7037ed1a0b428dbull);
}

}  // namespace tapflow::cache
