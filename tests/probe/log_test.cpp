// Logging: levels filter, the line format on a terminal or file, and journald priority prefixes
// when JOURNAL_STREAM names stderr (as systemd sets it).
#include "probe/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace tapflow::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override {
    set_threshold(Level::kInfo);
    unsetenv("JOURNAL_STREAM");
    detect_journal();
  }
};

TEST_F(LogTest, ParsesLevelNames) {
  Level l{};
  ASSERT_TRUE(parse_level("warning", l));
  EXPECT_EQ(l, Level::kWarning);
  ASSERT_TRUE(parse_level("debug", l));
  EXPECT_EQ(l, Level::kDebug);
  EXPECT_FALSE(parse_level("loud", l));
}

TEST_F(LogTest, ThresholdFiltersAndLinesCarryTheLevel) {
  set_threshold(Level::kWarning);
  testing::internal::CaptureStderr();
  info("not shown {}", 1);
  warning("cache {} full", "is");
  error("cannot open '{}'", "x.pcap");
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "tapflow: warning: cache is full\ntapflow: error: cannot open 'x.pcap'\n");
}

// Issue 16: a line logged while the progress bar is drawn clears the bar first, once.
TEST_F(LogTest, ALineClearsTheStatusLineFirst) {
  testing::internal::CaptureStderr();
  set_status_line(true);
  warning("cannot send to {}", "udp://h:1");
  warning("again");
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "\r\033[Ktapflow: warning: cannot send to udp://h:1\ntapflow: warning: again\n");
}

TEST_F(LogTest, JournalGetsPriorityPrefixes) {
  testing::internal::CaptureStderr();
  struct stat st {};
  ASSERT_EQ(fstat(STDERR_FILENO, &st), 0);
  const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  setenv("JOURNAL_STREAM", stream.c_str(), 1);
  detect_journal();
  warning("w");
  info("i");
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "<4>tapflow: warning: w\n<6>tapflow: i\n");
}

}  // namespace
}  // namespace tapflow::log
