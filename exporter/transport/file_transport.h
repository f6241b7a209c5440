// Export into a file: IPFIX messages written back to back, the RFC 5655 file format, with the
// templates at the start and again after each reopen (SIGHUP rotation: the path is reopened in
// append mode, so a SIGHUP without rotation loses nothing). Each message is one write(2) of at most 64 KiB, so a failure is
// known per message; it is counted, reported once on stderr, and never throws once the file is
// open.
#pragma once

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

class FileTransport final : public Transport {
 public:
  // Creates or truncates `path`; throws std::runtime_error with the path and strerror on failure.
  explicit FileTransport(const std::string& path);
  ~FileTransport() override;
  FileTransport(const FileTransport&) = delete;
  FileTransport& operator=(const FileTransport&) = delete;

  SendResult send(std::span<const std::uint8_t> message) override;
  void flush() override;  // nothing buffered in user space
  // Closes the file and opens `path` again, created if missing, appending; on failure the error
  // is reported once and later sends fail (counted).
  bool reopen() override;
  // Files have no MTU: messages use the full 16-bit IPFIX length, fewer headers per record.
  std::size_t max_message_size(std::size_t) const override { return 65535; }
  bool periodic_templates() const override { return false; }
  const std::string& description() const override { return description_; }

 private:
  void report_error_once(int error);

  int fd_ = -1;
  std::string path_;
  std::string description_;
  bool error_reported_ = false;
};

}  // namespace tapflow::exporter
