// Reads pcap files through libpcap, and pcapng files with PcapngReader (which libpcap cannot
// stand in for: see pcapng_reader.h), a batch of frames at a time.
// Opening errors throw with a message naming the file; read errors (a truncated file, a bad
// record) end the file and are reported by error(), never by an exception mid-read.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <memory>
#include <string>

#include "drivers/frame.h"
#include "drivers/pcapng_reader.h"

struct pcap;

namespace tapflow::drivers {

class PcapFileReader {
 public:
  // The direct path's read size: 1 MiB reads as fast as 4 (farm-bench -n 21 on the flood:
  // wall 0.98x) and leaves 3 MiB out of the peak RSS.
  static constexpr std::size_t kDirectBufferSize = 1 << 20;

  // Throws std::runtime_error("cannot read 'PATH': reason") if the file cannot be opened.
  // direct = false reads every record through libpcap, pcapng too (where libpcap can), and
  // direct_buffer_size sets the direct path's read size (at least one record of the largest
  // snapshot): the tests compare the paths. A pcapng file from a pipe goes to libpcap.
  explicit PcapFileReader(const std::string& path, bool direct = true,
                          std::size_t direct_buffer_size = kDirectBufferSize);
  ~PcapFileReader();
  PcapFileReader(const PcapFileReader&) = delete;
  PcapFileReader& operator=(const PcapFileReader&) = delete;

  // Fills `frames` from the front with the next frames of the file; returns how many (0: the
  // end of the file or an error, see error()). Every frame's bytes stay valid until the next
  // call: a batch ends early rather than move bytes a frame of it points to.
  std::size_t read_frames(std::span<Frame> frames);

  // Calls on_frame(const Frame&) for up to max_frames frames (read_frames in steps); returns how
  // many were read. 0 means the end of the file or an error.
  template <class OnFrame>
  std::size_t read_batch(std::size_t max_frames, OnFrame&& on_frame) {
    Frame frames[64];
    std::size_t n = 0;
    while (n < max_frames) {
      const std::size_t got = read_frames(std::span(frames, std::min<std::size_t>(64, max_frames - n)));
      if (got == 0) break;
      for (std::size_t i = 0; i < got; ++i) on_frame(static_cast<const Frame&>(frames[i]));
      n += got;
    }
    return n;
  }

  const std::string& path() const { return path_; }
  bool reads_pcapng() const { return pcapng_ != nullptr; }
  // The file's link type (pcapng: its first interface's, 0 before one is read); each frame
  // carries its own.
  int link_type() const { return pcapng_ ? pcapng_->first_link_type() : link_type_; }
  // Empty after a clean end of file; otherwise what went wrong ("truncated dump file; ...").
  const std::string& error() const { return pcapng_ ? pcapng_->error() : error_; }
  std::uint64_t frames_read() const { return pcapng_ ? pcapng_->frames_read() : frames_read_; }
  // Of those, the frames the direct path or PcapngReader parsed (the rest came through libpcap).
  std::uint64_t frames_read_directly() const { return pcapng_ ? pcapng_->frames_read() : direct_frames_; }
  // Bytes of the file consumed so far and its total size, for a progress bar.
  std::uint64_t position() const;
  std::uint64_t file_size() const { return file_size_; }

 private:
  enum class Step : std::uint8_t {
    kFrame,  // a frame was read
    kPause,  // the batch must end here (its frames would move); the next call goes on
    kEnd,    // the end of the file or an error
  };
  // first: no frame of the current batch exists yet, so buffers may move.
  Step next(Frame& frame, bool first);

  // header: the file's first 24 bytes; magic: as in the host's byte order (swapped if it was not).
  void start_direct(int fd, const std::uint8_t* header, std::uint32_t magic, bool swapped, std::size_t buffer_size);
  bool refill();
  Step next_direct(Frame& frame, bool may_move);
  void resume_direct();

  static constexpr std::size_t kStreamBufferSize = 1 << 20;
  static constexpr std::size_t kFileHeaderSize = 24;
  static constexpr std::size_t kRecordHeaderSize = 16;
  static constexpr int kMaxSnapshot = 262144;
  static constexpr std::size_t kArenaSize = 1 << 20;  // libpcap's records, copied for a batch
  std::unique_ptr<char[]> stream_buffer_;  // outlives the FILE that pcap_close closes
  // The direct path (see start_direct): active until libpcap takes over; `resume` once libpcap
  // has read the record handed to it, where that record will not end the file.
  struct Direct {
    std::unique_ptr<std::uint8_t[]> buffer;
    std::size_t capacity = 0;
    std::size_t begin = 0, end = 0;  // unread bytes in buffer
    std::uint64_t file_offset = 0;   // of buffer[begin]
    std::uint32_t snapshot = 0;
    int fd = -1;
    bool swapped = false;
    bool nanosecond = false;
    bool active = false;
    bool resume = false;
  } direct_;
  std::unique_ptr<std::uint8_t[]> retired_buffer_;  // the direct buffer, freed at the next batch
  std::unique_ptr<std::uint8_t[]> arena_;
  std::size_t arena_capacity_ = 0;
  std::size_t arena_used_ = 0;
  bool classic_ = false;  // a classic pcap file (not pcapng), as far as its magic tells
  std::string path_;
  std::string error_;
  pcap* handle_ = nullptr;
  std::unique_ptr<PcapngReader> pcapng_;  // a pcapng file, read from fd_
  int fd_ = -1;
  int link_type_ = 0;
  bool nanosecond_ = false;
  std::uint64_t frames_read_ = 0;
  std::uint64_t direct_frames_ = 0;
  std::uint64_t file_size_ = 0;
};

}  // namespace tapflow::drivers
