#include "exporter/transport/file_transport.h"


#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tapflow::exporter {

FileTransport::FileTransport(const std::string& path) : path_(path), description_("file:" + path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open IPFIX file '" + path + "' for writing: " +
                             std::strerror(errno));
  }
}

FileTransport::~FileTransport() {
  if (fd_ >= 0 && ::close(fd_) != 0) report_error_once(errno);
}

SendResult FileTransport::send(std::span<const std::uint8_t> message) {
  if (fd_ < 0) return SendResult::kFailed;  // a reopen failed (reported then)
  std::size_t written = 0;
  while (written < message.size()) {
    const ssize_t n = ::write(fd_, message.data() + written, message.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      report_error_once(n < 0 ? errno : ENOSPC);
      return SendResult::kFailed;
    }
    written += static_cast<std::size_t>(n);
  }
  return SendResult::kSent;
}

void FileTransport::flush() {}

bool FileTransport::reopen() {
  if (fd_ >= 0 && ::close(fd_) != 0) report_error_once(errno);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) report_error_once(errno);
  return true;
}

void FileTransport::report_error_once(int error) {
  if (error_reported_) return;
  error_reported_ = true;
  events_.error("cannot write IPFIX file '{}': {} (further errors only counted)", path_, std::strerror(error));
}

}  // namespace tapflow::exporter
