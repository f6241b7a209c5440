// Reads pcap and pcapng files through libpcap, a batch of frames at a time.
// Opening errors throw with a message naming the file; read errors (a truncated file, a bad
// record) end the file and are reported by error(), never by an exception mid-read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "drivers/frame.h"

struct pcap;

namespace tapflow::drivers {

class PcapFileReader {
 public:
  static constexpr std::size_t kDirectBufferSize = 4 << 20;

  // Throws std::runtime_error("cannot read 'PATH': reason") if the file cannot be opened.
  // direct = false reads every record through libpcap, and direct_buffer_size sets the direct
  // path's read size (at least one record of the largest snapshot): the tests compare the paths.
  explicit PcapFileReader(const std::string& path, bool direct = true,
                          std::size_t direct_buffer_size = kDirectBufferSize);
  ~PcapFileReader();
  PcapFileReader(const PcapFileReader&) = delete;
  PcapFileReader& operator=(const PcapFileReader&) = delete;

  // Calls on_frame(const Frame&) for up to max_frames frames; returns how many were read.
  // 0 means the end of the file or an error (see error()). Frame bytes are valid only during
  // the call. Templated so the per-frame call inlines (no virtual or std::function per packet).
  template <class OnFrame>
  std::size_t read_batch(std::size_t max_frames, OnFrame&& on_frame) {
    std::size_t n = 0;
    Frame frame;
    frame.link_type = link_type_;
    while (n < max_frames && next(frame)) {
      on_frame(static_cast<const Frame&>(frame));
      ++n;
    }
    return n;
  }

  const std::string& path() const { return path_; }
  int link_type() const { return link_type_; }
  // Empty after a clean end of file; otherwise what went wrong ("truncated dump file; ...").
  const std::string& error() const { return error_; }
  std::uint64_t frames_read() const { return frames_read_; }
  // Of those, the frames the direct path parsed (the rest came through libpcap).
  std::uint64_t frames_read_directly() const { return direct_frames_; }
  // Bytes of the file consumed so far and its total size, for a progress bar.
  std::uint64_t position() const;
  std::uint64_t file_size() const { return file_size_; }

 private:
  bool next(Frame& frame);

  // header: the file's first 24 bytes; magic: as in the host's byte order (swapped if it was not).
  void start_direct(int fd, const std::uint8_t* header, std::uint32_t magic, bool swapped, std::size_t buffer_size);
  bool refill();
  bool next_direct(Frame& frame);
  void resume_direct();

  static constexpr std::size_t kStreamBufferSize = 1 << 20;
  static constexpr std::size_t kFileHeaderSize = 24;
  static constexpr std::size_t kRecordHeaderSize = 16;
  static constexpr int kMaxSnapshot = 262144;
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
  bool classic_ = false;  // a classic pcap file (not pcapng), as far as its magic tells
  std::string path_;
  std::string error_;
  pcap* handle_ = nullptr;
  int link_type_ = 0;
  bool nanosecond_ = false;
  std::uint64_t frames_read_ = 0;
  std::uint64_t direct_frames_ = 0;
  std::uint64_t file_size_ = 0;
};

}  // namespace tapflow::drivers
