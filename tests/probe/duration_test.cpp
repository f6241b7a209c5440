#include "probe/duration.h"

#include <gtest/gtest.h>

namespace tapflow::probe {
namespace {

TEST(ParseDuration, AcceptsSecondsAndUnitsLargestFirst) {
  EXPECT_EQ(parse_duration("90"), 90u);
  EXPECT_EQ(parse_duration("0"), 0u);
  EXPECT_EQ(parse_duration("90s"), 90u);
  EXPECT_EQ(parse_duration("1m"), 60u);
  EXPECT_EQ(parse_duration("15m"), 900u);
  EXPECT_EQ(parse_duration("1h30m"), 5400u);
  EXPECT_EQ(parse_duration("1h30m15s"), 5415u);
  EXPECT_EQ(parse_duration("2d"), 172800u);
  EXPECT_EQ(parse_duration("1d1s"), 86401u);
  EXPECT_EQ(parse_duration("90m"), 5400u);  // a part may exceed the next unit up
  EXPECT_EQ(parse_duration("4294967295"), 4294967295u);
}

TEST(ParseDuration, RefusesMalformedText) {
  for (const char* bad : {"", "m", "1x", "1.5m", "-1", "+1", "1m30", "30m1h", "1m1m", "1 m", " 1", "1m ",
                          "1M", "1h-30m", "4294967296", "49711d", "99999999999999999999s", "1ms"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

}  // namespace
}  // namespace tapflow::probe
