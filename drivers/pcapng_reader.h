// Reads pcapng files block by block, by hand: libpcap 1.10 refuses a file whose interfaces differ
// in link type or snapshot length ("an interface has a type ... different from the type of the
// first interface"), and its API has no way to hand over a frame's own link type or interface,
// so there is nothing of libpcap's to build on. Each frame carries its interface's link type and,
// as ingress_interface, the interface id of its block (per section, as tshark's
// frame.interface_id shows it).
// Every length in the file is checked before it is used: a bad block ends the file with a
// one-line error(), never a crash, an exception or an unbounded read. Reads go into one reused
// buffer (pread of large chunks); nothing is allocated per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "drivers/frame.h"

namespace tapflow::drivers {

class PcapngReader {
 public:
  // Blocks whose contents are needed (section headers, interfaces, packets) may be this long;
  // libpcap's limit too. Other blocks are skipped whatever their length.
  static constexpr std::uint32_t kMaxBlockLength = 16u << 20;
  // What a Simple Packet Block of an interface with snapshot length 0 may hold (libpcap's
  // largest snapshot for the usual link types).
  static constexpr std::uint32_t kMaxSnapshot = 262144;

  // Throws std::runtime_error(reason) if the first section header block is bad.
  // fd: a regular file, read with pread from offset 0 (the caller keeps it open). buffer_size:
  // the read size (at least one block of the largest kind it meets: it grows, up to
  // kMaxBlockLength, where a block needs it); file_size bounds every block.
  PcapngReader(int fd, std::size_t buffer_size, std::uint64_t file_size);

  // Fills `frames` from the front; returns how many (0: the end of the file or an error, see
  // error()). The frames' bytes stay valid until the next call.
  std::size_t read_frames(std::span<Frame> frames);

  // Empty after a clean end; otherwise one line on what is wrong and where.
  const std::string& error() const { return error_; }
  std::uint64_t frames_read() const { return frames_read_; }
  // The first interface's link type (0 until one is read).
  int first_link_type() const { return first_link_type_; }
  std::uint64_t position() const { return file_offset_; }

 private:
  struct Interface {
    int link_type = 0;
    std::uint32_t snaplen = 0;                   // as the IDB says (0 = no limit)
    std::uint64_t units_per_second = 1'000'000;  // if_tsresol: 10^N or 2^N
    bool binary = false;                         // units_per_second is a power of 2
    std::int64_t offset_seconds = 0;             // if_tsoffset
  };
  enum class Step : std::uint8_t {
    kFrame,  // a frame was read
    kBlock,  // the first section header was read (the constructor's check)
    kPause,  // the batch must end here (a refill would move its frames' bytes)
    kEnd,    // the end of the file or an error
  };

  Step next(Frame& frame, bool may_move);
  // Makes `need` bytes from begin_ available; false at the end of the file (or a read error,
  // then error_ is set) or when it would move bytes and !may_move (then *paused is set).
  bool ensure(std::size_t need, bool may_move, bool* paused);
  Step fail(std::string message);
  bool section_header(const std::uint8_t* block, std::uint32_t length);
  bool interface_description(const std::uint8_t* body, std::uint32_t body_length);
  // The time of a packet block, in ns since the epoch, as libpcap converts it.
  std::uint64_t timestamp_ns(const Interface& itf, std::uint64_t units) const;
  std::uint16_t u16(const std::uint8_t* p) const;
  std::uint32_t u32(const std::uint8_t* p) const;

  int fd_;
  std::uint64_t file_size_;
  std::unique_ptr<std::uint8_t[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes in buffer_
  std::uint64_t file_offset_ = 0;    // of buffer_[begin_]
  bool swapped_ = false;             // this section's byte order is not the host's
  bool in_section_ = false;
  std::vector<Interface> interfaces_;  // this section's, by interface id
  int first_link_type_ = 0;
  std::uint64_t frames_read_ = 0;
  std::string error_;
};

}  // namespace tapflow::drivers
