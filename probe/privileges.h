// --user: what root prepares before it drops to another user, so that the run after the drop
// can still write, reopen and remove what tapflow made (tapflow(8), --user). The files it opens as
// root are given to the user; the pid file and the control socket are removed at exit, which
// takes write permission on their directory, so that directory must be the user's to write (one
// that is missing is made for it, as systemd's RuntimeDirectory=). Only start-up code: nothing
// here runs on the data path.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tapflow::probe {

struct RunAsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // its primary group; no supplementary groups are kept
};

// Throws std::invalid_argument ("--user: no such user 'x'").
RunAsUser lookup_user(const std::string& name);

// For each directory: may `user` create and remove entries in it? Decided by the kernel (ACLs,
// the parents' search permission and all): a child process takes the user's ids and asks
// access(2) for write and search permission. Needs root; false for a directory that is missing.
std::vector<bool> writable_by(const RunAsUser& user, const std::vector<std::string>& directories);

// The directory of `path`, or of the deepest part of it that exists ("." for a bare name).
std::string existing_directory_of(const std::string& path);

// The directory of a file the probe removes at exit as `user` (`what`: "the control socket"):
// made for the user when missing (mode 0755, its parent must exist), else it must be writable
// by the user. Throws std::invalid_argument saying which file, directory and user.
void prepare_runtime_directory(const RunAsUser& user, const std::string& path, const std::string& what);

// Gives `path` (a file or socket root just made; a symbolic link itself, never what it points
// to) to the user. Throws std::runtime_error.
void give_to(const RunAsUser& user, const std::string& path);

// Drops root to `user`: its primary group, no supplementary groups. Throws std::runtime_error:
// running on as root when the user asked otherwise would be worse than stopping.
void drop_privileges(const RunAsUser& user);

}  // namespace tapflow::probe
