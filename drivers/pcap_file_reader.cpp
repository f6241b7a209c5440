#include "drivers/pcap_file_reader.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio_ext.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tapflow::drivers {

namespace {

// pcap version 2.5 (written by a few old tools): the layout of 2.4 (no writer or reader gave
// 2.5 another), which tshark reads as 2.4 and libpcap refuses. libpcap reads it through this
// stream, which shows it the header with minor version 4 and the file's bytes otherwise.
struct VersionPatch {
  int fd = -1;
  off64_t position = 0;
  std::uint8_t header[24] = {};
};

ssize_t patched_read(void* cookie, char* buffer, std::size_t size) {
  auto& v = *static_cast<VersionPatch*>(cookie);
  ssize_t got = 0;
  do {
    got = pread(v.fd, buffer, size, v.position);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) return got;
  for (off64_t at = v.position; at < v.position + got && at < off64_t{sizeof v.header}; ++at) {
    buffer[at - v.position] = static_cast<char>(v.header[at]);
  }
  v.position += got;
  return got;
}

int patched_seek(void* cookie, off64_t* offset, int whence) {
  auto& v = *static_cast<VersionPatch*>(cookie);
  off64_t base = 0;
  if (whence == SEEK_CUR) base = v.position;
  if (whence == SEEK_END) {
    struct stat st {};
    if (fstat(v.fd, &st) != 0) return -1;
    base = st.st_size;
  }
  if (base + *offset < 0) return -1;
  v.position = base + *offset;
  *offset = v.position;
  return 0;
}

int patched_close(void* cookie) {
  auto* v = static_cast<VersionPatch*>(cookie);
  const int rc = close(v->fd);
  delete v;
  return rc;
}

constexpr std::uint32_t kPcapngMagic = 0x0A0D0D0Au;

}  // namespace

PcapFileReader::PcapFileReader(const std::string& path, bool direct, std::size_t direct_buffer_size)
    : path_(path) {
  // "-" is standard input, as for tcpdump -r - (a pipe: libpcap reads it alone).
  const int fd = path == "-" ? dup(STDIN_FILENO) : open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot read '" + path + "': " + std::strerror(errno));
  struct stat st {};
  const bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular) file_size_ = static_cast<std::uint64_t>(st.st_size);
  std::uint8_t header[kFileHeaderSize] = {};
  // A pipe's magic is not seen here (libpcap reads it, and it is gone).
  const ssize_t header_size = regular ? pread(fd, header, sizeof header, 0) : -1;
  std::uint32_t magic = 0;
  std::memcpy(&magic, header, 4);
  std::uint32_t byte_order = 0;
  std::memcpy(&byte_order, header + 8, 4);
  if (direct && header_size >= 12 && magic == kPcapngMagic &&
      (byte_order == 0x1A2B3C4Du || byte_order == 0x4D3C2B1Au)) {
    fd_ = fd;
    try {
      pcapng_ = std::make_unique<PcapngReader>(fd, direct_buffer_size, file_size_);
    } catch (const std::exception& e) {
      close(fd);
      throw std::runtime_error("cannot read '" + path + "': " + e.what());
    }
    return;
  }
  const bool swapped = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u || magic == 0x34cdb2a1u;
  if (swapped) magic = __builtin_bswap32(magic);
  // Microsecond or nanosecond pcap, or the modified (Kuznetzov) format; anything else is pcapng.
  classic_ = magic == 0xa1b2c3d4u || magic == 0xa1b23c4du || magic == 0xa1b2cd34u;
  const auto header_u16 = [&](std::size_t at) {
    std::uint16_t v = 0;
    std::memcpy(&v, header + at, 2);
    return swapped ? __builtin_bswap16(v) : v;
  };
  const bool version_2_5 = classic_ && header_size == static_cast<ssize_t>(sizeof header) && header_u16(4) == 2 &&
                           header_u16(6) == 5;
  std::FILE* file = nullptr;
  if (version_2_5) {
    auto* patch = new VersionPatch{fd, 0, {}};
    std::memcpy(patch->header, header, sizeof header);
    const std::uint16_t four = swapped ? __builtin_bswap16(std::uint16_t{4}) : std::uint16_t{4};
    std::memcpy(patch->header + 6, &four, 2);
    file = fopencookie(patch, "rb", {patched_read, nullptr, patched_seek, patched_close});
    if (file == nullptr) delete patch;
  } else {
    file = fdopen(fd, "rb");
  }
  if (file == nullptr) {
    const int error = errno;
    close(fd);
    throw std::runtime_error("cannot read '" + path + "': " + std::strerror(error));
  }
  // We give the stream a 1 MiB buffer: libpcap reads each record with two fread() calls, and
  // with stdio's default 4 KiB buffer that is a read() syscall per ~40 small packets.
  stream_buffer_ = std::make_unique<char[]>(kStreamBufferSize);
  std::setvbuf(file, stream_buffer_.get(), _IOFBF, kStreamBufferSize);
  // Only the reading thread touches the stream: no lock around each of those fread() calls.
  __fsetlocking(file, FSETLOCKING_BYCALLER);
  // Ask libpcap for nanoseconds whatever the file holds: it scales microsecond files up.
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  handle_ = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (handle_ == nullptr) {
    std::fclose(file);
    throw std::runtime_error("cannot read '" + path + "': " + errbuf);
  }
  nanosecond_ = pcap_get_tstamp_precision(handle_) == PCAP_TSTAMP_PRECISION_NANO;
  // pcap_datalink already maps the file's LINKTYPE_ to a DLT_; convert back to the LINKTYPE_
  // numbering the decoder uses (they differ only for a few historical values).
  link_type_ = pcap_datalink(handle_);
  if (link_type_ == DLT_RAW) link_type_ = 101;  // DLT_RAW is 12 or 14 on some platforms
  if (!regular || header_size != static_cast<ssize_t>(sizeof header)) return;  // a pipe: libpcap alone
  if (direct) start_direct(fd, header, magic, swapped, direct_buffer_size);
}

// The common case, a classic pcap file (version 2.4) of Ethernet or raw IP frames, is parsed here
// from large pread() chunks: no stdio layer and no two fread() calls per record. libpcap has
// already validated the file header. Anything this path does not take exactly as libpcap would
// (the end of the file, a truncated record, one longer than the snapshot length, a read error)
// hands over to libpcap at that record, so odd files read, and fail, word for word the same.
void PcapFileReader::start_direct(int fd, const std::uint8_t* header, std::uint32_t magic, bool swapped,
                                  std::size_t buffer_size) {
  if (magic != 0xa1b2c3d4u && magic != 0xa1b23c4du) return;  // pcapng, modified pcap...
  const auto u16 = [&](std::size_t at) {
    std::uint16_t v = 0;
    std::memcpy(&v, header + at, 2);
    return swapped ? __builtin_bswap16(v) : v;
  };
  // Older versions have length quirks libpcap fixes up; 2.5 is 2.4 (see VersionPatch).
  if (u16(4) != 2 || (u16(6) != 4 && u16(6) != 5)) return;
  // Link types whose frames libpcap hands over untouched (it rewrites some other pseudo-headers,
  // USB, NFLOG, Linux cooked CAN, in place) and whose largest snapshot is 256 KiB.
  if (link_type_ != 1 && link_type_ != 101 && link_type_ != 228 && link_type_ != 229) return;
  // libpcap keeps a header's snapshot length past 256 KiB but refuses any record longer than
  // 256 KiB for these link types: records up to the smaller of the two read the same here.
  const int snapshot = std::min(pcap_snapshot(handle_), kMaxSnapshot);
  if (snapshot <= 0) return;
  direct_.fd = fd;
  // No more than the file needs, and a whole record of the snapshot length always fits after a
  // refill.
  direct_.capacity = std::max(std::min<std::uint64_t>(buffer_size, file_size_),
                              static_cast<std::uint64_t>(snapshot) + kRecordHeaderSize);
  direct_.buffer = std::make_unique_for_overwrite<std::uint8_t[]>(direct_.capacity);
  direct_.begin = direct_.end = 0;
  direct_.file_offset = kFileHeaderSize;
  direct_.snapshot = static_cast<std::uint32_t>(snapshot);
  direct_.swapped = swapped;
  direct_.nanosecond = magic == 0xa1b23c4du;
  direct_.active = true;
}

// Keeps the unread bytes and appends as much of the file as fits; false at the end or on an error.
bool PcapFileReader::refill() {
  Direct& d = direct_;
  const std::size_t kept = d.end - d.begin;
  std::memmove(d.buffer.get(), d.buffer.get() + d.begin, kept);
  d.begin = 0;
  d.end = kept;
  bool grew = false;
  while (d.end < d.capacity) {
    const ssize_t got = pread(d.fd, d.buffer.get() + d.end, d.capacity - d.end,
                              static_cast<off_t>(d.file_offset + d.end - d.begin));
    if (got <= 0) break;  // the end, or an error libpcap will meet and report
    d.end += static_cast<std::size_t>(got);
    grew = true;
  }
  return grew;
}

PcapFileReader::Step PcapFileReader::next_direct(Frame& frame, bool may_move) {
  Direct& d = direct_;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (d.end - d.begin >= kRecordHeaderSize) {
      std::uint32_t h[4];  // seconds, micro- or nanoseconds, captured length, wire length
      std::memcpy(h, d.buffer.get() + d.begin, sizeof h);
      if (d.swapped) {
        for (auto& v : h) v = __builtin_bswap32(v);
      }
      if (h[2] > d.snapshot) {  // libpcap cuts such a record to the snapshot length
        d.resume = true;
        break;
      }
      if (d.end - d.begin - kRecordHeaderSize >= h[2]) {
        frame.data = {d.buffer.get() + d.begin + kRecordHeaderSize, h[2]};
        frame.wire_length = h[3];
        // libpcap reads the fraction signed from a file in the host's byte order and unsigned
        // from a swapped one: a bogus fraction of 2^31 or more gives the same time both ways.
        const std::int64_t fraction = d.swapped ? std::int64_t{h[1]} : std::int64_t{static_cast<std::int32_t>(h[1])};
        frame.timestamp_ns = std::uint64_t{h[0]} * 1'000'000'000ull +
                             static_cast<std::uint64_t>(d.nanosecond ? fraction : fraction * 1000);
        d.begin += kRecordHeaderSize + h[2];
        d.file_offset += kRecordHeaderSize + h[2];
        ++frames_read_;
        ++direct_frames_;
        return Step::kFrame;
      }
    }
    // A refill moves the unread bytes to the front: not while frames of this batch point here.
    if (!may_move) return Step::kPause;
    if (attempt == 0 && !refill()) break;
  }
  // libpcap goes on from the record not taken (its stream was left at the file header). After
  // an over-long record the direct path takes up again behind it; at the end libpcap finishes.
  // The buffer outlives this batch's frames, which may point into it.
  d.active = false;
  if (!d.resume) retired_buffer_ = std::move(d.buffer);
  if (std::fseek(pcap_file(handle_), static_cast<long>(d.file_offset), SEEK_SET) != 0) {
    error_ = std::string("cannot seek: ") + std::strerror(errno);
  }
  return Step::kEnd;
}

void PcapFileReader::resume_direct() {
  Direct& d = direct_;
  d.resume = false;
  const long at = std::ftell(pcap_file(handle_));
  if (at < 0) return;  // libpcap keeps reading
  d.file_offset = static_cast<std::uint64_t>(at);
  d.begin = d.end = 0;
  d.active = true;
}

PcapFileReader::~PcapFileReader() {
  if (handle_ != nullptr) pcap_close(handle_);
  if (fd_ >= 0) close(fd_);  // a pcapng file's (libpcap's stream closes its own)
}

std::size_t PcapFileReader::read_frames(std::span<Frame> frames) {
  if (pcapng_) return pcapng_->read_frames(frames);
  retired_buffer_.reset();  // the previous batch's frames are no longer used
  arena_used_ = 0;
  std::size_t n = 0;
  while (n < frames.size()) {
    frames[n].link_type = link_type_;
    frames[n].ingress_interface = 0;
    if (next(frames[n], n == 0) != Step::kFrame) break;
    ++n;
  }
  return n;
}

PcapFileReader::Step PcapFileReader::next(Frame& frame, bool first) {
  if (handle_ == nullptr || !error_.empty()) return Step::kEnd;  // an error ends the file for good
  if (direct_.active) {
    const Step step = next_direct(frame, first);
    if (step != Step::kEnd) return step;
    if (!error_.empty()) return Step::kEnd;
  }
  // libpcap's record is valid only until its next read: copied, so the batch's frames all stay
  // valid. The batch ends before a record might not fit.
  const auto largest = static_cast<std::size_t>(std::max(pcap_snapshot(handle_), kMaxSnapshot));
  if (arena_ && arena_capacity_ - arena_used_ < largest) return Step::kPause;
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == 1) {
    if (!arena_) {  // at the first record libpcap gives, not at an end it only reports
      arena_capacity_ = kArenaSize + largest;
      arena_ = std::make_unique_for_overwrite<std::uint8_t[]>(arena_capacity_);
    }
    const std::size_t caplen = std::min<std::size_t>(header->caplen, arena_capacity_ - arena_used_);
    std::memcpy(arena_.get() + arena_used_, data, caplen);
    frame.data = {arena_.get() + arena_used_, caplen};
    arena_used_ += caplen;
    frame.wire_length = header->len;
    const std::uint64_t sub = static_cast<std::uint64_t>(header->ts.tv_usec);
    // Classic pcap seconds are unsigned 32-bit (good to 2106), but libpcap reads them signed:
    // take back the file's bits, as the direct path does. A pcapng time offset can put seconds
    // before 1970 (pinned to 0) or past what 64 bits of nanoseconds hold (year 2554: pinned to
    // the last second rather than wrapping). A classic file read from a pipe, whose magic we do
    // not see, is taken as pcapng here.
    constexpr std::int64_t kMaxSeconds = 18'446'744'072ll;
    const std::int64_t signed_sec = header->ts.tv_sec;
    std::uint64_t sec = 0;
    if (signed_sec >= 0) {
      sec = static_cast<std::uint64_t>(std::min(signed_sec, kMaxSeconds));
    } else if (classic_ && signed_sec >= INT32_MIN) {
      sec = static_cast<std::uint32_t>(signed_sec);
    }
    frame.timestamp_ns = sec * 1'000'000'000ull + (nanosecond_ ? sub : sub * 1000);
    ++frames_read_;
    if (direct_.resume) resume_direct();
    return Step::kFrame;
  }
  if (rc == PCAP_ERROR) error_ = pcap_geterr(handle_);
  return Step::kEnd;
}

std::uint64_t PcapFileReader::position() const {
  if (pcapng_) return pcapng_->position();
  if (handle_ == nullptr) return 0;
  if (direct_.active) return direct_.file_offset;
  FILE* f = pcap_file(handle_);
  if (f == nullptr) return 0;
  const long pos = std::ftell(f);
  return pos < 0 ? 0 : static_cast<std::uint64_t>(pos);
}

}  // namespace tapflow::drivers
