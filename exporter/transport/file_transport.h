// Export into a file: IPFIX messages written back to back, the RFC 5655 file format, with the
// templates at the start and again after each reopen (SIGHUP rotation: the path is reopened in
// append mode, so a SIGHUP without rotation loses nothing). With --rotate (file_rotation.h) the
// path is a pattern and each interval of the probe's clock gets a file of its own, opened when
// its first message comes. Each message is one write(2) of at most 64 KiB, so a failure is known
// per message; it is counted, reported once per file on stderr, and never throws once the
// transport is constructed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "exporter/transport/transport.h"

namespace tapflow::exporter {

// Opens an output file the probe writes as whatever user it runs as (root, often): open(2) with
// `flags`, but a symbolic link as the last component is followed only when the link belongs to
// this user (or root), so another user cannot point root's output at a file of their choosing
// where fs.protected_symlinks is off (/dev/stdout, root's own link, still works). Returns the
// descriptor, or -1 with errno set (ELOOP for a refused link).
int open_output_file(const std::string& path, int flags, unsigned mode = 0644);
// Writes all of `bytes` to `fd`, retrying short writes and EINTR. Returns 0, or the errno of the
// failure (ENOSPC for a write that made no progress).
int write_all(int fd, std::span<const std::uint8_t> bytes);
// Gives the regular file open on `fd` to uid:gid (--user: what root created before the drop
// stays the user's to reopen); anything else (a FIFO, a terminal, /dev/null) is left alone.
// Returns 0 or the errno of fchown(2).
int give_output_file(int fd, int uid, int gid);
// The line for a failed open(2) of an output (`what` names it: "IPFIX file"): strerror, or, for
// EACCES as a user other than root, which user cannot write which file or directory.
std::string output_open_error(const std::string& what, const std::string& path, int error);

struct FileOptions {
  // --rotate: the length of an interval (0: one file, no rotation) and the probe's clock (ns
  // since the epoch) that decides which interval a message belongs to when a file is opened.
  std::uint32_t rotate_interval_s = 0;
  std::function<std::uint64_t()> clock;
  // --user: the files opened at construction (as root, before the drop) are given to this user
  // and group (-1: left as they are).
  int owner_uid = -1, owner_gid = -1;
  // False for the standard output (json:-): not a file of ours to reopen on SIGHUP.
  bool reopenable = true;
  std::string what = "IPFIX file";  // in messages
};

class FileTransport final : public Transport {
 public:
  // Without rotation, creates or truncates `path`; throws std::runtime_error with the path and
  // strerror on failure. With rotation `path` is a pattern (file_rotation.h) and nothing is
  // opened yet.
  explicit FileTransport(const std::string& path, FileOptions options = {});
  ~FileTransport() override;
  FileTransport(const FileTransport&) = delete;
  FileTransport& operator=(const FileTransport&) = delete;

  SendResult send(std::span<const std::uint8_t> message) override;
  void flush() override;  // nothing buffered in user space
  // Closes the file. Without rotation, opens `path` again, created if missing, appending; with
  // rotation the next send opens the file of the clock's interval then (appending if it is the
  // file just closed: a SIGHUP within an interval, or a pattern coarser than the interval,
  // truncating otherwise). On failure the error is reported once and later sends fail (counted).
  // False, and nothing done, for the standard output.
  bool reopen() override;
  // Files have no MTU: messages use the full 16-bit IPFIX length, fewer headers per record.
  std::size_t max_message_size(std::size_t) const override { return 65535; }
  bool periodic_templates() const override { return false; }
  const std::string& description() const override { return description_; }

 private:
  void open_interval_file();
  void close_file();
  void report_error_once(int error);

  int fd_ = -1;
  std::string path_;       // the file, or the pattern with --rotate
  std::string open_path_;  // with --rotate: the file opened last
  FileOptions options_;
  std::string description_;
  bool error_reported_ = false;
};

}  // namespace tapflow::exporter
