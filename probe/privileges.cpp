#include "probe/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tapflow::probe {

RunAsUser lookup_user(const std::string& name) {
  const passwd* pw = getpwnam(name.c_str());
  if (pw == nullptr) throw std::invalid_argument("--user: no such user '" + name + "'");
  return {name, pw->pw_uid, pw->pw_gid};
}

std::vector<bool> writable_by(const RunAsUser& user, const std::vector<std::string>& directories) {
  std::vector<bool> writable(directories.size(), false);
  if (directories.empty()) return writable;
  int results[2];
  if (pipe(results) != 0) return writable;
  const pid_t child = fork();
  if (child == 0) {
    // Only system calls between fork and _exit: the parent may have threads (DPDK's lcores).
    close(results[0]);
    const bool dropped = setgroups(0, nullptr) == 0 && setgid(user.gid) == 0 && setuid(user.uid) == 0;
    for (const auto& d : directories) {
      const char answer = dropped && access(d.c_str(), W_OK | X_OK) == 0 ? '1' : '0';
      if (write(results[1], &answer, 1) != 1) break;
    }
    _exit(0);
  }
  close(results[1]);
  if (child > 0) {
    for (std::size_t i = 0; i < directories.size(); ++i) {
      char answer = '0';
      if (read(results[0], &answer, 1) != 1) break;
      writable[i] = answer == '1';
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  close(results[0]);
  return writable;
}

std::string existing_directory_of(const std::string& path) {
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  std::error_code ec;
  while (!directory.empty() && !std::filesystem::is_directory(directory, ec) && directory != directory.parent_path()) {
    directory = directory.parent_path();
  }
  return directory.empty() ? "." : directory.string();
}

void prepare_runtime_directory(const RunAsUser& user, const std::string& path, const std::string& what) {
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  if (directory.empty()) directory = ".";
  struct stat st {};
  if (stat(directory.c_str(), &st) != 0 && errno == ENOENT) {
    // As systemd's RuntimeDirectory=: the user's own directory, which it may write and others
    // only read.
    if (mkdir(directory.c_str(), 0755) != 0 || chown(directory.c_str(), user.uid, user.gid) != 0) {
      throw std::invalid_argument("--user " + user.name + ": cannot create directory '" + directory.string() +
                                  "' for " + what + " '" + path + "': " + std::strerror(errno));
    }
    return;
  }
  if (!writable_by(user, {directory.string()})[0]) {
    throw std::invalid_argument("--user " + user.name + ": " + what + " '" + path + "' could not be removed at exit: "
                                "directory '" + directory.string() + "' is not writable by " + user.name +
                                " (put it in a directory of its own, e.g. /run/tapflow/, which tapflow creates "
                                "for " + user.name + " when missing)");
  }
}

void give_to(const RunAsUser& user, const std::string& path) {
  if (lchown(path.c_str(), user.uid, user.gid) != 0) {
    throw std::runtime_error("--user " + user.name + ": cannot give '" + path + "' to " + user.name + ": " +
                             std::strerror(errno));
  }
}

void drop_privileges(const RunAsUser& user) {
  if (setgroups(0, nullptr) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0) {
    throw std::runtime_error("--user " + user.name + ": cannot drop privileges: " + std::strerror(errno));
  }
}

}  // namespace tapflow::probe
