#include "exporter/transport/file_transport.h"


#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tapflow::exporter {

int open_output_file(const std::string& path, int flags, unsigned mode) {
  const int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd >= 0 || errno != ELOOP) return fd;
  // A link: followed only when its owner is us or root, who alone could have made it point
  // elsewhere (in a sticky directory nobody else can replace it).
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode) || (st.st_uid != ::geteuid() && st.st_uid != 0)) {
    errno = ELOOP;
    return -1;
  }
  return ::open(path.c_str(), flags | O_CLOEXEC, mode);
}

int write_all(int fd, std::span<const std::uint8_t> bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : ENOSPC;
    written += static_cast<std::size_t>(n);
  }
  return 0;
}

FileTransport::FileTransport(const std::string& path) : path_(path), description_("file:" + path) {
  fd_ = open_output_file(path, O_WRONLY | O_CREAT | O_TRUNC);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open IPFIX file '" + path + "' for writing: " +
                             (errno == ELOOP ? std::string("a symbolic link owned by another user (not followed)")
                                             : std::string(std::strerror(errno))));
  }
}

FileTransport::~FileTransport() {
  if (fd_ >= 0 && ::close(fd_) != 0) report_error_once(errno);
}

SendResult FileTransport::send(std::span<const std::uint8_t> message) {
  if (fd_ < 0) return SendResult::kFailed;  // a reopen failed (reported then)
  if (const int error = write_all(fd_, message); error != 0) {
    report_error_once(error);
    return SendResult::kFailed;
  }
  return SendResult::kSent;
}

void FileTransport::flush() {}

bool FileTransport::reopen() {
  if (fd_ >= 0 && ::close(fd_) != 0) report_error_once(errno);
  fd_ = open_output_file(path_, O_WRONLY | O_CREAT | O_APPEND);
  if (fd_ < 0) report_error_once(errno);
  return true;
}

void FileTransport::report_error_once(int error) {
  if (error_reported_) return;
  error_reported_ = true;
  events_.error("cannot write IPFIX file '{}': {} (further errors only counted)", path_, std::strerror(error));
}

}  // namespace tapflow::exporter
