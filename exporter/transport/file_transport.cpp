#include "exporter/transport/file_transport.h"


#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "exporter/transport/file_rotation.h"

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

int give_output_file(int fd, int uid, int gid) {
  struct stat st {};
  if (uid < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return ::fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) == 0 ? 0 : errno;
}

std::string output_open_error(const std::string& what, const std::string& path, int error) {
  const std::string head = "cannot open " + what + " '" + path + "' for writing: ";
  if (error == ELOOP) return head + "a symbolic link owned by another user (not followed)";
  if (error != EACCES || ::geteuid() == 0) return head + std::strerror(error);
  // As --user: say whose permission is missing where, the usual cause being a directory or a
  // file root made (tapflow(8), --user).
  std::string user = std::to_string(::geteuid());
  passwd pw{};
  passwd* found = nullptr;
  char buffer[1024];
  if (::getpwuid_r(::geteuid(), &pw, buffer, sizeof buffer, &found) == 0 && found != nullptr) user = pw.pw_name;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    return "cannot open " + what + " '" + path + "' as user " + user + ": the file is not writable by " + user;
  }
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  if (directory.empty()) directory = ".";
  std::error_code ec;
  while (!std::filesystem::exists(directory, ec) && directory.has_parent_path() && directory != directory.parent_path()) {
    directory = directory.parent_path();
  }
  return "cannot create " + what + " '" + path + "' as user " + user + ": directory '" + directory.string() +
         "' is not writable by " + user;
}

FileTransport::FileTransport(const std::string& path, FileOptions options)
    : path_(path), options_(std::move(options)), description_("file:" + path) {
  if (options_.rotate_interval_s != 0) {
    path_ = rotation_pattern(path, options_.rotate_interval_s);
    return;  // each interval's file is opened when its first message comes
  }
  fd_ = open_output_file(path, O_WRONLY | O_CREAT | O_TRUNC);
  if (fd_ < 0) throw std::runtime_error(output_open_error(options_.what, path, errno));
  if (const int error = give_output_file(fd_, options_.owner_uid, options_.owner_gid); error != 0) {
    ::close(fd_);
    throw std::runtime_error("cannot give " + options_.what + " '" + path + "' to user id " +
                             std::to_string(options_.owner_uid) + " (--user): " + std::strerror(error));
  }
}

FileTransport::~FileTransport() { close_file(); }

void FileTransport::close_file() {
  if (fd_ >= 0 && ::close(fd_) != 0) report_error_once(errno);
  fd_ = -1;
}

void FileTransport::open_interval_file() {
  std::uint64_t now_ns = options_.clock ? options_.clock() : 0;
  if (now_ns == 0) {
    // No packet was ever seen (an empty capture still gets its statistics): the wall clock.
    now_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  }
  const std::string path = expand_rotation_pattern(path_, rotation_interval_start(now_ns, options_.rotate_interval_s));
  const int flags = O_WRONLY | O_CREAT | (path == open_path_ ? O_APPEND : O_TRUNC);
  fd_ = open_output_file(path, flags);
  if (fd_ < 0 && errno == ENOENT) {
    // /archive/%Y/%m/%d/...: the interval's directories, made as needed.
    std::error_code ec;
    const auto directory = std::filesystem::path(path).parent_path();
    if (!directory.empty()) std::filesystem::create_directories(directory, ec);
    fd_ = open_output_file(path, flags);
  }
  if (fd_ < 0) {
    const int error = errno;
    if (!error_reported_) {
      error_reported_ = true;
      events_.error("{} (further errors only counted)", output_open_error(options_.what, path, error));
    }
    return;
  }
  open_path_ = path;
  error_reported_ = false;  // each file's first failure is reported
}

SendResult FileTransport::send(std::span<const std::uint8_t> message) {
  if (fd_ < 0 && options_.rotate_interval_s != 0) open_interval_file();
  if (fd_ < 0) return SendResult::kFailed;  // the open failed (reported then)
  if (const int error = write_all(fd_, message); error != 0) {
    report_error_once(error);
    return SendResult::kFailed;
  }
  return SendResult::kSent;
}

void FileTransport::flush() {}

bool FileTransport::reopen() {
  if (!options_.reopenable) return false;
  close_file();
  if (options_.rotate_interval_s != 0) return true;  // the next send opens the interval's file
  fd_ = open_output_file(path_, O_WRONLY | O_CREAT | O_APPEND);
  if (fd_ < 0) {
    const int error = errno;
    if (!error_reported_) {
      error_reported_ = true;
      events_.error("{} (further errors only counted)", output_open_error(options_.what, path_, error));
    }
  }
  return true;
}

void FileTransport::report_error_once(int error) {
  if (error_reported_) return;
  error_reported_ = true;
  events_.error("cannot write {} '{}': {} (further errors only counted)", options_.what,
                options_.rotate_interval_s != 0 ? open_path_ : path_, std::strerror(error));
}

}  // namespace tapflow::exporter
