#include "drivers/pcapng_reader.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace tapflow::drivers {
namespace {

// The block types of the pcapng specification (draft-ietf-opsawg-pcapng §4).
constexpr std::uint32_t kSectionHeader = 0x0A0D0D0Au;  // the same in both byte orders
constexpr std::uint32_t kInterfaceDescription = 1;
constexpr std::uint32_t kObsoletePacket = 2;  // §A.1: the Packet Block, before EPB
constexpr std::uint32_t kSimplePacket = 3;
constexpr std::uint32_t kEnhancedPacket = 6;
constexpr std::uint32_t kByteOrderMagic = 0x1A2B3C4Du;
constexpr std::size_t kBlockOverhead = 12;  // type, total length, trailing total length
constexpr std::uint64_t kNanosecond = 1'000'000'000;

}  // namespace

PcapngReader::PcapngReader(int fd, std::size_t buffer_size, std::uint64_t file_size)
    : fd_(fd), file_size_(file_size) {
  // No more than the file needs; the buffer grows where a block needs more.
  capacity_ = static_cast<std::size_t>(
      std::max<std::uint64_t>(std::min<std::uint64_t>(buffer_size, file_size), 64));
  buffer_ = std::make_unique_for_overwrite<std::uint8_t[]>(capacity_);
  interfaces_.reserve(8);
  // The first section header is checked now, as libpcap checks it when it opens the file.
  Frame unused;
  if (next(unused, true) != Step::kBlock && !error_.empty()) throw std::runtime_error(error_);
}

std::uint16_t PcapngReader::u16(const std::uint8_t* p) const {
  std::uint16_t v = 0;
  std::memcpy(&v, p, 2);
  return swapped_ ? __builtin_bswap16(v) : v;
}

std::uint32_t PcapngReader::u32(const std::uint8_t* p) const {
  std::uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return swapped_ ? __builtin_bswap32(v) : v;
}

PcapngReader::Step PcapngReader::fail(std::string message) {
  error_ = std::move(message);
  return Step::kEnd;
}

bool PcapngReader::ensure(std::size_t need, bool may_move, bool* paused) {
  if (end_ - begin_ >= need) return true;
  // A refill moves the unread bytes to the front: not while frames of this batch point here.
  if (!may_move) {
    *paused = true;
    return false;
  }
  const std::size_t kept = end_ - begin_;
  if (need > capacity_) {  // a block larger than any before (at most kMaxBlockLength)
    const std::size_t grown = std::max(need, std::min<std::size_t>(capacity_ * 2, kMaxBlockLength));
    auto bigger = std::make_unique_for_overwrite<std::uint8_t[]>(grown);
    std::memcpy(bigger.get(), buffer_.get() + begin_, kept);
    buffer_ = std::move(bigger);
    capacity_ = grown;
  } else {
    std::memmove(buffer_.get(), buffer_.get() + begin_, kept);
  }
  begin_ = 0;
  end_ = kept;
  while (end_ < capacity_) {
    const ssize_t got =
        pread(fd_, buffer_.get() + end_, capacity_ - end_, static_cast<off_t>(file_offset_ + end_));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      error_ =
          fmt::format("cannot read at offset {}: {}", file_offset_ + end_, std::strerror(errno));
      return false;
    }
    if (got == 0) break;
    end_ += static_cast<std::size_t>(got);
  }
  return end_ - begin_ >= need;
}

std::size_t PcapngReader::read_frames(std::span<Frame> frames) {
  std::size_t n = 0;
  while (n < frames.size() && error_.empty()) {
    const Step step = next(frames[n], n == 0);
    if (step == Step::kBlock) continue;
    if (step != Step::kFrame) break;
    ++n;
  }
  return n;
}

PcapngReader::Step PcapngReader::next(Frame& frame, bool may_move) {
  for (;;) {
    bool paused = false;
    const std::uint64_t at = file_offset_;
    if (!ensure(8, may_move, &paused)) {
      if (paused) return Step::kPause;
      if (!error_.empty() || end_ == begin_) return Step::kEnd;  // a read error, or a clean end
      return fail(
          fmt::format("truncated block header at offset {}: {} of 8 bytes", at, end_ - begin_));
    }
    const std::uint8_t* p = buffer_.get() + begin_;
    std::uint32_t raw_type = 0;
    std::memcpy(&raw_type, p, 4);
    if (raw_type == kSectionHeader) {
      // The byte-order magic after the length says how to read the length (and the section).
      if (!ensure(12, may_move, &paused)) {
        if (paused) return Step::kPause;
        if (!error_.empty()) return Step::kEnd;
        return fail(fmt::format("truncated section header block at offset {}", at));
      }
      p = buffer_.get() + begin_;
      std::uint32_t magic = 0;
      std::memcpy(&magic, p + 8, 4);
      if (magic != kByteOrderMagic && magic != __builtin_bswap32(kByteOrderMagic)) {
        return fail(fmt::format(
            "section header block at offset {} has a bad byte-order magic 0x{:08x}", at, magic));
      }
      swapped_ = magic != kByteOrderMagic;
    } else if (!in_section_) {
      return fail(fmt::format("block at offset {} before any section header block", at));
    }
    const std::uint32_t type = u32(p);
    const std::uint32_t length = u32(p + 4);
    const auto where = [&] { return fmt::format("block of type 0x{:x} at offset {}", type, at); };
    if (length < kBlockOverhead)
      return fail(fmt::format("{} has a length of {} (< 12)", where(), length));
    if (length % 4 != 0)
      return fail(fmt::format("{} has a length of {}, not a multiple of 4", where(), length));
    if (length > file_size_ - at) {
      return fail(fmt::format("truncated file: {} has a length of {}, {} bytes are left", where(),
                              length, file_size_ - at));
    }
    const bool wanted = type == kSectionHeader || type == kInterfaceDescription ||
                        type == kEnhancedPacket || type == kSimplePacket || type == kObsoletePacket;
    if (!wanted && length > capacity_) {
      // Skipped (name resolution, statistics, decryption secrets, custom, unknown): a block
      // larger than the buffer is not read, only its trailing length. The buffered bytes stay
      // where they are until the next refill, which waits for the next batch.
      std::uint8_t trailer[4];
      ssize_t got = 0;
      do {
        got = pread(fd_, trailer, sizeof trailer, static_cast<off_t>(at + length - 4));
      } while (got < 0 && errno == EINTR);
      if (got != static_cast<ssize_t>(sizeof trailer)) {
        return fail(
            fmt::format("cannot read the end of the {}: {}", where(),
                        got < 0 ? std::strerror(errno) : "the file is shorter than it was"));
      }
      if (u32(trailer) != length) {
        return fail(fmt::format("{} has a length of {} at its start and {} at its end", where(),
                                length, u32(trailer)));
      }
      begin_ = end_ = 0;
      file_offset_ = at + length;
      continue;
    }
    if (length > kMaxBlockLength) {
      return fail(fmt::format("{} has a length of {}, more than the {} read", where(), length,
                              kMaxBlockLength));
    }
    if (!ensure(length, may_move, &paused)) {
      if (paused) return Step::kPause;
      if (!error_.empty()) return Step::kEnd;
      return fail(
          fmt::format("truncated file: {} of {} bytes of the {}", end_ - begin_, length, where()));
    }
    p = buffer_.get() + begin_;
    if (u32(p + length - 4) != length) {
      return fail(fmt::format("{} has a length of {} at its start and {} at its end", where(),
                              length, u32(p + length - 4)));
    }
    // The block is whole: consumed here, its bytes stay in place for the frame that points at them.
    begin_ += length;
    file_offset_ += length;
    const std::uint8_t* body = p + 8;
    const std::uint32_t body_length = length - static_cast<std::uint32_t>(kBlockOverhead);
    switch (type) {
      case kSectionHeader:
        if (!section_header(body, body_length)) return fail(fmt::format("{}: {}", where(), error_));
        if (at == 0) return Step::kBlock;  // the constructor's check of the first section
        continue;
      case kInterfaceDescription:
        if (!interface_description(body, body_length))
          return fail(fmt::format("{}: {}", where(), error_));
        continue;
      case kEnhancedPacket:
      case kObsoletePacket: {
        // EPB: interface id (32 bits); Packet Block: interface id and drops count (16 bits each).
        // Then both: timestamp high and low, captured length, original length, data.
        if (body_length < 20)
          return fail(fmt::format("{} is too short for a packet block", where()));
        const std::uint32_t interface_id = type == kEnhancedPacket ? u32(body) : u16(body);
        const std::uint32_t captured = u32(body + 12);
        if (interface_id >= interfaces_.size()) {
          return fail(fmt::format("{}: a packet on interface {}, but the section describes {}",
                                  where(), interface_id, interfaces_.size()));
        }
        if (captured > body_length - 20) {
          return fail(fmt::format("{}: {} captured bytes in a block with room for {}", where(),
                                  captured, body_length - 20));
        }
        const Interface& itf = interfaces_[interface_id];
        frame.data = {body + 20, captured};
        frame.wire_length = u32(body + 16);
        frame.timestamp_ns =
            timestamp_ns(itf, (std::uint64_t{u32(body + 4)} << 32) | u32(body + 8));
        frame.link_type = itf.link_type;
        frame.ingress_interface = interface_id;
        ++frames_read_;
        return Step::kFrame;
      }
      case kSimplePacket: {
        // §4.4: interface 0, no time stamp, the captured length is the original length cut to
        // the interface's snapshot length.
        if (body_length < 4)
          return fail(fmt::format("{} is too short for a simple packet block", where()));
        if (interfaces_.empty())
          return fail(
              fmt::format("{}: a packet on interface 0, but the section describes none", where()));
        const Interface& itf = interfaces_[0];
        const std::uint32_t wire = u32(body);
        const std::uint32_t snapshot =
            itf.snaplen == 0 || itf.snaplen > kMaxSnapshot ? kMaxSnapshot : itf.snaplen;
        const std::uint32_t captured = std::min(wire, snapshot);
        if (captured > body_length - 4) {
          return fail(fmt::format("{}: {} captured bytes in a block with room for {}", where(),
                                  captured, body_length - 4));
        }
        frame.data = {body + 4, captured};
        frame.wire_length = wire;
        frame.timestamp_ns = timestamp_ns(itf, 0);
        frame.link_type = itf.link_type;
        frame.ingress_interface = 0;
        ++frames_read_;
        return Step::kFrame;
      }
      default:
        continue;  // skipped, its trailer checked
    }
  }
}

bool PcapngReader::section_header(const std::uint8_t* body, std::uint32_t body_length) {
  // Byte-order magic, major and minor version, section length (64 bits), options.
  if (body_length < 16) {
    error_ = fmt::format("a section header block needs 28 bytes, it has {}",
                         body_length + kBlockOverhead);
    return false;
  }
  const std::uint16_t major = u16(body + 4);
  if (major != 1) {  // §4.1: a reader must not read a section of another major version
    error_ = fmt::format("unsupported pcapng version {}.{}", major, u16(body + 6));
    return false;
  }
  in_section_ = true;
  interfaces_.clear();  // §4.2: interface ids count from 0 in each section
  return true;
}

bool PcapngReader::interface_description(const std::uint8_t* body, std::uint32_t body_length) {
  // Link type (16 bits), reserved (16), snapshot length (32), options.
  if (body_length < 8) {
    error_ = "too short for an interface description block";
    return false;
  }
  Interface itf;
  itf.link_type = u16(body);
  itf.snaplen = u32(body + 4);
  const std::uint8_t* option = body + 8;
  std::size_t left = body_length - 8;
  bool saw_resolution = false, saw_offset = false;
  // The options libpcap checks are checked alike, so a file libpcap reads reads the same here.
  while (left != 0) {
    if (left < 4) {
      error_ = "an option header is cut short";
      return false;
    }
    const std::uint16_t code = u16(option);
    const std::uint16_t length = u16(option + 2);
    const std::size_t padded = (std::size_t{length} + 3) & ~std::size_t{3};
    if (left - 4 < padded) {
      error_ = fmt::format("option {} of {} bytes runs past the block", code, length);
      return false;
    }
    const std::uint8_t* value = option + 4;
    if (code == 0) {  // opt_endofopt
      if (length != 0) {
        error_ = fmt::format("opt_endofopt has a length of {}", length);
        return false;
      }
      break;
    }
    if (code == 9) {  // if_tsresol: 10^-N, or 2^-N with the top bit set
      if (length != 1 || saw_resolution) {
        error_ = length != 1 ? fmt::format("if_tsresol has a length of {}", length)
                             : "two if_tsresol options";
        return false;
      }
      saw_resolution = true;
      const std::uint8_t exponent = value[0] & 0x7f;
      itf.binary = (value[0] & 0x80) != 0;
      if (exponent > (itf.binary ? 63 : 19)) {  // more than 64 bits of units per second
        error_ = fmt::format("if_tsresol {}^-{} is finer than 64 bits hold", itf.binary ? 2 : 10,
                             exponent);
        return false;
      }
      itf.units_per_second = 1;
      for (unsigned i = 0; i < exponent; ++i) itf.units_per_second *= itf.binary ? 2 : 10;
    } else if (code == 14) {  // if_tsoffset: seconds added to every time stamp
      if (length != 8 || saw_offset) {
        error_ = length != 8 ? fmt::format("if_tsoffset has a length of {}", length)
                             : "two if_tsoffset options";
        return false;
      }
      saw_offset = true;
      std::uint64_t offset = 0;
      std::memcpy(&offset, value, 8);
      if (swapped_) offset = __builtin_bswap64(offset);
      itf.offset_seconds = static_cast<std::int64_t>(offset);
    }
    option += 4 + padded;
    left -= 4 + padded;
  }
  if (first_link_type_ == 0) first_link_type_ = itf.link_type;
  interfaces_.push_back(itf);
  return true;
}

std::uint64_t PcapngReader::timestamp_ns(const Interface& itf, std::uint64_t units) const {
  // libpcap's arithmetic (sf-pcapng.c), wrap-arounds included, so files it reads give the same
  // times: whole seconds plus the offset, and the fraction scaled to nanoseconds.
  const std::uint64_t per_second = itf.units_per_second;
  const std::uint64_t seconds = units / per_second + static_cast<std::uint64_t>(itf.offset_seconds);
  std::uint64_t fraction = units % per_second;
  if (itf.binary) {
    fraction = fraction * kNanosecond / per_second;
  } else if (per_second > kNanosecond) {
    fraction /= per_second / kNanosecond;
  } else {
    fraction *= kNanosecond / per_second;
  }
  // Then as PcapFileReader takes libpcap's times: seconds before 1970 are 0, and past what 64
  // bits of nanoseconds hold (year 2554) the last second.
  constexpr std::int64_t kMaxSeconds = 18'446'744'072ll;
  const auto signed_seconds = static_cast<std::int64_t>(seconds);
  const std::uint64_t pinned =
      signed_seconds < 0 ? 0 : static_cast<std::uint64_t>(std::min(signed_seconds, kMaxSeconds));
  return pinned * kNanosecond + fraction;
}

}  // namespace tapflow::drivers
