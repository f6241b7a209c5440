// Big-endian (network order) loads and stores on raw byte pointers, shared by the encoders and the
// decoder. Callers check bounds first: these helpers never do.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tapflow::exporter {

inline void put_u8(std::uint8_t* out, std::uint8_t value) { out[0] = value; }

inline void put_u16(std::uint8_t* out, std::uint16_t value) {
  out[0] = static_cast<std::uint8_t>(value >> 8);
  out[1] = static_cast<std::uint8_t>(value);
}

inline void put_u32(std::uint8_t* out, std::uint32_t value) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(value);
    value >>= 8;
  }
}

inline void put_u64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<std::uint8_t>(value);
    value >>= 8;
  }
}

inline std::uint16_t get_u16(const std::uint8_t* in) {
  return static_cast<std::uint16_t>((in[0] << 8) | in[1]);
}

inline std::uint32_t get_u32(const std::uint8_t* in) {
  return (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) | (std::uint32_t{in[2]} << 8) |
         std::uint32_t{in[3]};
}

// An unsigned integer of 1 to 8 octets: RFC 7011 §6.2 reduced-size encoding lets an exporter send
// a shorter field than the IE's abstract type, so the decoder reads whatever length it is given.
inline std::uint64_t get_unsigned(const std::uint8_t* in, std::size_t length) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < length; ++i) value = (value << 8) | in[i];
  return value;
}

}  // namespace tapflow::exporter
