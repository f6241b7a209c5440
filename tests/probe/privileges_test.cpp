// --user's preparations: user lookup, the directory a path's file goes in, and whether a user may
// write a directory (as root only: the check takes the user's ids in a child process).
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "probe/privileges.h"

namespace tapflow::probe {
namespace {

TEST(Privileges, LooksUpUsersAndNamesAMissingOne) {
  EXPECT_EQ(lookup_user("root").uid, 0u);
  try {
    lookup_user("no-such-user-tapflow");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "--user: no such user 'no-such-user-tapflow'");
  }
}

TEST(Privileges, FindsTheDeepestExistingDirectoryOfAPath) {
  EXPECT_EQ(existing_directory_of("/tmp/no/such/dir/file"), "/tmp");
  EXPECT_EQ(existing_directory_of("/tmp/file"), "/tmp");
  EXPECT_EQ(existing_directory_of("file"), ".");
  EXPECT_EQ(existing_directory_of("/file"), "/");
}

TEST(Privileges, AsksTheKernelWhetherAUserMayWriteADirectory) {
  if (geteuid() != 0 || getpwnam("nobody") == nullptr) GTEST_SKIP() << "needs root and a user nobody";
  const RunAsUser nobody = lookup_user("nobody");
  const auto root_only = std::filesystem::temp_directory_path() / ("tapflow_priv." + std::to_string(getpid()));
  std::filesystem::create_directory(root_only);
  chmod(root_only.c_str(), 0755);
  const auto answers = writable_by(nobody, {"/tmp", root_only.string(), "/no/such/directory"});
  EXPECT_EQ(answers, (std::vector<bool>{true, false, false}));
  // A missing runtime directory is made for the user; a directory of root's is refused.
  const auto run = root_only / "run";
  prepare_runtime_directory(nobody, (run / "tapflow.ctl").string(), "the control socket");
  struct stat st {};
  ASSERT_EQ(stat(run.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody.uid);
  EXPECT_THROW(prepare_runtime_directory(nobody, (root_only / "tapflow.pid").string(), "the pid file"),
               std::invalid_argument);
  std::filesystem::remove_all(root_only);
}

}  // namespace
}  // namespace tapflow::probe
