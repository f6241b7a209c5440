#include "drivers/pcap_file_reader.h"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tapflow::drivers {

PcapFileReader::PcapFileReader(const std::string& path) : path_(path) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // We open the stream ourselves to give it a 1 MiB buffer: libpcap reads each record with two
  // fread() calls, and with stdio's default 4 KiB buffer that is a read() syscall per ~40 small
  // packets.
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw std::runtime_error("cannot read '" + path + "': " + std::strerror(errno));
  }
  stream_buffer_ = std::make_unique<char[]>(kStreamBufferSize);
  std::setvbuf(file, stream_buffer_.get(), _IOFBF, kStreamBufferSize);
  // Ask libpcap for nanoseconds whatever the file holds: it scales microsecond files up.
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
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) file_size_ = static_cast<std::uint64_t>(st.st_size);
}

PcapFileReader::~PcapFileReader() {
  if (handle_ != nullptr) pcap_close(handle_);
}

bool PcapFileReader::next(Frame& frame) {
  if (handle_ == nullptr) return false;
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(handle_, &header, &data);
  if (rc == 1) {
    frame.data = {data, header->caplen};
    frame.wire_length = header->len;
    const std::uint64_t sub = static_cast<std::uint64_t>(header->ts.tv_usec);
    // A pcapng time offset can put seconds past what 64 bits of nanoseconds hold (year 2554):
    // such times pin to the last second rather than wrapping to 1970.
    constexpr std::uint64_t kMaxSeconds = 18'446'744'072ull;
    const auto sec = std::min(static_cast<std::uint64_t>(header->ts.tv_sec), kMaxSeconds);
    frame.timestamp_ns = sec * 1'000'000'000ull + (nanosecond_ ? sub : sub * 1000);
    ++frames_read_;
    return true;
  }
  if (rc == PCAP_ERROR) error_ = pcap_geterr(handle_);
  return false;
}

std::uint64_t PcapFileReader::position() const {
  if (handle_ == nullptr) return 0;
  FILE* f = pcap_file(handle_);
  if (f == nullptr) return 0;
  const long pos = std::ftell(f);
  return pos < 0 ? 0 : static_cast<std::uint64_t>(pos);
}

}  // namespace tapflow::drivers
