#include "exporter/anonymize/crypto_pan.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <openssl/evp.h>

namespace tapflow::exporter {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::size_t kBlock = 16;

}  // namespace

std::optional<CryptoPanKey> load_crypto_pan_key(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read the Crypto-PAn key file '" + path + "': " + std::strerror(errno);
    return std::nullopt;
  }
  std::string text;
  text.resize(256);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  CryptoPanKey key{};
  if (text.size() == key.size()) {  // raw
    std::memcpy(key.data(), text.data(), key.size());
    return key;
  }
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  const std::string hex = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
  bool ok = hex.size() == 2 * key.size();
  for (std::size_t i = 0; ok && i < key.size(); ++i) {
    const int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
    ok = high >= 0 && low >= 0;
    key[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  if (!ok) {
    error = "Crypto-PAn key file '" + path + "' holds " + std::to_string(text.size()) +
            " bytes: expected the 32-byte key raw, or as 64 hex digits on one line";
    return std::nullopt;
  }
  return key;
}

struct CryptoPan::Cipher {
  EVP_CIPHER_CTX* ctx = nullptr;
  ~Cipher() { EVP_CIPHER_CTX_free(ctx); }
  // ECB over whole blocks: each block encrypted alone, as the scheme wants.
  void encrypt(const std::uint8_t* in, std::size_t length, std::uint8_t* out) {
    int written = 0;
    if (EVP_EncryptUpdate(ctx, out, &written, in, static_cast<int>(length)) != 1 ||
        static_cast<std::size_t>(written) != length) {
      throw std::runtime_error("Crypto-PAn: AES encryption failed");
    }
  }
};

CryptoPan::CryptoPan(const CryptoPanKey& key)
    : cipher_(std::make_unique<Cipher>()),
      blocks_in_(128 * kBlock),
      blocks_out_(128 * kBlock),
      cache_(kCacheEntries) {
  cipher_->ctx = EVP_CIPHER_CTX_new();
  if (cipher_->ctx == nullptr ||
      EVP_EncryptInit_ex(cipher_->ctx, EVP_aes_128_ecb(), nullptr, key.data(), nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(cipher_->ctx, 0) != 1) {
    throw std::runtime_error("Crypto-PAn: cannot set up AES-128 (OpenSSL)");
  }
  cipher_->encrypt(key.data() + 16, kBlock, pad_.data());
}

CryptoPan::~CryptoPan() = default;

void CryptoPan::map(const std::uint8_t* in, int bits, std::uint8_t* out) {
  // Block `pos`: the address's first pos bits, then the pad's bits from pos on.
  for (int pos = 0; pos < bits; ++pos) {
    std::uint8_t* block = blocks_in_.data() + static_cast<std::size_t>(pos) * kBlock;
    std::memcpy(block, pad_.data(), kBlock);
    const int whole = pos / 8, rest = pos % 8;
    std::memcpy(block, in, static_cast<std::size_t>(whole));
    if (rest != 0) {
      const auto keep = static_cast<std::uint8_t>(0xff00u >> rest);
      block[whole] = static_cast<std::uint8_t>((in[whole] & keep) | (pad_[static_cast<std::size_t>(whole)] & ~keep));
    }
  }
  cipher_->encrypt(blocks_in_.data(), static_cast<std::size_t>(bits) * kBlock, blocks_out_.data());
  const int octets = bits / 8;
  std::memcpy(out, in, static_cast<std::size_t>(octets));
  for (int pos = 0; pos < bits; ++pos) {
    const std::uint8_t otp = blocks_out_[static_cast<std::size_t>(pos) * kBlock] >> 7;
    out[pos / 8] = static_cast<std::uint8_t>(out[pos / 8] ^ (otp << (7 - pos % 8)));
  }
}

namespace {
template <std::size_t N>
std::size_t cache_slot(const std::uint8_t* address, std::size_t entries) {
  std::uint64_t a = 0, b = 0;
  std::memcpy(&a, address, N < 8 ? N : 8);
  if constexpr (N > 8) std::memcpy(&b, address + 8, N - 8);
  const std::uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
  return static_cast<std::size_t>((h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull >> 40) & (entries - 1);
}
}  // namespace

// Two-way sets, the most recent first: two hot addresses that hash alike do not evict each other.
template <std::size_t N>
void CryptoPan::anonymize(std::uint8_t* address, std::uint8_t family, int bits) {
  CacheEntry* set = &cache_[cache_slot<N>(address, kCacheEntries / 2) * 2];
  for (int way = 0; way < 2; ++way) {
    if (set[way].family == family && std::memcmp(set[way].address.data(), address, N) == 0) {
      ++hits_;
      std::memcpy(address, set[way].mapped.data(), N);
      if (way == 1) std::swap(set[0], set[1]);
      return;
    }
  }
  ++misses_;
  set[1] = set[0];
  set[0].family = family;
  std::memcpy(set[0].address.data(), address, N);
  map(address, bits, set[0].mapped.data());
  std::memcpy(address, set[0].mapped.data(), N);
}

void CryptoPan::anonymize_ipv4(std::uint8_t* address) { anonymize<4>(address, 4, 32); }
void CryptoPan::anonymize_ipv6(std::uint8_t* address) { anonymize<16>(address, 6, 128); }

}  // namespace tapflow::exporter
